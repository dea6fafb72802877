package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
)

// TestLedgersAppendedToReadAsWrittenWithoutSlack: a ledger short enough
// to be read into the commit script and set whole, and one long enough to
// be appended to and copied (commit.lua's long), each appended to by three
// commits: each reads back as every line scored, newest first; takes as
// much memory as the same bytes set at once; and leaves no key behind. A
// ledger that is not as long as the contact's state says is refused, with
// nothing of its home written.
func TestLedgersAppendedToReadAsWrittenWithoutSlack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	rdb := s.Client()
	engine := scoring.New(model.Default())
	at := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		events int
		long   bool
	}{{"short", 2, false}, {"long", 40, true}} {
		id := "c-" + tc.name
		home := scoring.HomeID("", id)
		var want []scoring.Entry
		// score commits n events of the contact, a day apart, to the home
		// as loaded.
		score := func(n int) []error {
			t.Helper()
			homes, metas, err := s.Load(ctx, map[string]*Request{home: {All: true}})
			require.NoError(t, err)
			h, m := homes[home], metas[home]
			if h == nil {
				h = scoring.NewHome(home)
			}
			c := h.Contacts[id]
			if c == nil {
				c = &scoring.Contact{ID: id}
				h.Contacts[id] = c
			}
			var added []scoring.Entry
			for range n {
				at = at.Add(24 * time.Hour)
				var res scoring.Result
				ev := event.Event{ID: fmt.Sprint("e-", at.Unix()), Type: "email.clicked", ContactID: id, Time: at}
				require.NoError(t, engine.Apply(h.Account, c, &ev, &res))
				added = append(added, res.Ledger...)
			}
			h.Ledger = added
			_, errs, err := s.CommitAll(ctx, []Commit{{Home: h, Meta: m}})
			require.NoError(t, err)
			if errs[0] == nil {
				want = append(want, added...)
			}
			return errs
		}
		key := s.ledgerKey(home, id)
		require.Equal(t, []error{nil}, score(tc.events))
		require.NoError(t, s.WriteDerived(ctx, Derived{Where: map[string]string{id: home}}))
		size := rdb.StrLen(ctx, key).Val()
		assert.Equal(t, tc.long, size >= longLedger, "%s: %d bytes", tc.name, size)
		for range 3 {
			require.Equal(t, []error{nil}, score(1))
		}

		got, err := s.History(ctx, id, 1000)
		require.NoError(t, err)
		for i := range got {
			got[i].ContactID = ""
		}
		for i := range want {
			want[i].ContactID = ""
		}
		slices.Reverse(want)
		assert.Equal(t, want, got, tc.name)

		raw, err := rdb.Get(ctx, key).Bytes()
		require.NoError(t, err)
		require.NoError(t, rdb.Set(ctx, key+"-set", raw, 0).Err())
		assert.Equal(t, rdb.MemoryUsage(ctx, key+"-set").Val(), rdb.MemoryUsage(ctx, key).Val(), tc.name)
		assert.Zero(t, rdb.Exists(ctx, key+":new").Val(), tc.name)

		// A ledger one byte longer than its contact's state says.
		require.NoError(t, rdb.Append(ctx, key, "x").Err())
		version := rdb.HGet(ctx, s.HomeKey(home), fieldVersion).Val()
		errs := score(1)
		assert.True(t, errors.Is(errs[0], errLedgerAstray), "%s: %v", tc.name, errs[0])
		assert.Equal(t, version, rdb.HGet(ctx, s.HomeKey(home), fieldVersion).Val(), "%s: the home as it was", tc.name)
		assert.Equal(t, string(raw)+"x", rdb.Get(ctx, key).Val(), "%s: the ledger as it was", tc.name)
	}
}
