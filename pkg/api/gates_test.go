package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
)

// memReader reads the states of a scoring.Memory.
type memReader struct{ mem *scoring.Memory }

func (r memReader) Contact(_ context.Context, id string) (*scoring.Contact, string, error) {
	c := r.mem.Contact(id)
	if c == nil {
		return nil, "", store.ErrNotFound
	}
	return c, r.mem.Where[id], nil
}

func (r memReader) ContactByEmail(context.Context, string) (string, error) {
	return "", fmt.Errorf("email: %w", store.ErrNotFound)
}

func (r memReader) Account(_ context.Context, id string) (*scoring.Account, error) {
	h, ok := r.mem.Homes[scoring.HomeID(id, "")]
	if !ok {
		return nil, store.ErrNotFound
	}
	return h.Account, nil
}

func (memReader) History(context.Context, string, int) ([]scoring.Entry, error)    { return nil, nil }
func (memReader) Leaderboard(context.Context, string, int) ([]store.Ranked, error) { return nil, nil }
func (memReader) Filtered(context.Context, []store.Filter, int, *store.Ranked, int) (*store.Matching, error) {
	return &store.Matching{Complete: true}, nil
}
func (memReader) Report(context.Context, string) (map[string]string, error) { return nil, nil }

// TestContactGatesShowTheAccountsFit: the contact resource's account gate
// is the account's fit against thresholds.aql.account. A complete VP at a
// 4-employee non-ICP retail shop who booked four meetings and attended two
// webinars (account score far above the gate) shows it shut; the same VP
// at a named 5,000-person US software account with two webinars shows all
// three open.
func TestContactGatesShowTheAccountsFit(t *testing.T) {
	t.Parallel()
	e := scoring.New(model.Default())
	mem := scoring.NewMemory()
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	apply := func(x event.Event) {
		t.Helper()
		w := mem.Workspace(e)
		require.NoError(t, w.Apply(&x))
		mem.Commit(w)
	}
	for _, tc := range []struct {
		contact, account string
		firmographics    map[string]any
		doing            []string
	}{
		{"shop-vp", "shop.example", map[string]any{"employees": 4.0, "industry": "retail", "tier": "non_icp"},
			[]string{"meeting.booked", "meeting.booked", "meeting.booked", "meeting.booked", "webinar.attended", "webinar.attended"}},
		{"named-vp", "named.example", map[string]any{"employees": 5000.0, "industry": "software", "country": "US", "tier": "named"},
			[]string{"webinar.attended", "webinar.attended"}},
	} {
		apply(event.Event{ID: tc.account, Type: "account.updated", AccountID: tc.account, Time: t0, Properties: tc.firmographics})
		apply(event.Event{ID: tc.contact, Type: "contact.updated", ContactID: tc.contact, AccountID: tc.account, Time: t0,
			Properties: map[string]any{"first_name": "Vic", "last_name": "Park", "email": "vic@" + tc.account, "company": "X",
				"title": "VP Operations"}})
		for i, typ := range tc.doing {
			apply(event.Event{ID: fmt.Sprint(tc.contact, i), Type: typ, ContactID: tc.contact, AccountID: tc.account,
				Time: t0.Add(time.Duration(i+1) * time.Hour)})
		}
	}
	mux := http.NewServeMux()
	New(memReader{mem}, e, zaptest.NewLogger(t)).Register(mux)
	get := func(id string) Contact {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/contacts/"+id, nil))
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		var c Contact
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &c))
		return c
	}

	shop := get("shop-vp")
	require.Equal(t, int32(210), shop.Behavior)
	require.Greater(t, mem.Homes["a:shop.example"].Account.Score(), int32(60), "the shop's account score is high")
	assert.Equal(t, Gates{TargetContact: true, Behavior: true, Account: false}, shop.AQLGates, "fit -20")
	assert.False(t, shop.AQL)
	assert.True(t, shop.MQL)

	named := get("named-vp")
	require.Equal(t, int32(50), named.Behavior)
	assert.Equal(t, Gates{TargetContact: true, Behavior: true, Account: true}, named.AQLGates, "fit 40")
	assert.True(t, named.AQL)
}
