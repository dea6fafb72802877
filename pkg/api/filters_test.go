package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
)

// filtersRead records the filtered reads asked of it and answers one
// page that a scan limit cut short.
type filtersRead struct {
	memReader
	filters []store.Filter
	after   *store.Ranked
}

func (r *filtersRead) Filtered(_ context.Context, fs []store.Filter, limit int, after *store.Ranked, scan int) (*store.Matching, error) {
	r.filters, r.after = fs, after
	return &store.Matching{Items: []store.Ranked{{ID: "c:1", Score: 9}}, Scanned: scan, Next: &store.Ranked{ID: "c:7", Score: 4}}, nil
}

// TestLeaderboardFiltersCombineAndRefuseWhatTheyCannotRead: filters of
// different fields go to one read, in a fixed order, with the cursor of an
// earlier answer; the answer says it is not complete and where to go on.
// A misspelt filter, a field given twice, a value no contact can have, a
// filter of accounts and a cursor that is none are refused with the
// parameter at fault, before the store is asked.
func TestLeaderboardFiltersCombineAndRefuseWhatTheyCannotRead(t *testing.T) {
	t.Parallel()
	serve := func(r Reader, path string) *httptest.ResponseRecorder {
		a := New(r, scoring.New(model.Default()), zaptest.NewLogger(t))
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec
	}
	r := &filtersRead{}
	rec := serve(r, "/v1/leaderboard?product=analytics&mql=true&grade=A&after=12:c:9%3Ax&limit=5")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, []store.Filter{{Field: "grade", Value: "A"}, {Field: "product", Value: "analytics"}, {Field: "mql", Value: "true"}}, r.filters)
	assert.Equal(t, &store.Ranked{ID: "c:9:x", Score: 12}, r.after)
	var got map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	assert.Equal(t, false, got["complete"])
	assert.Equal(t, "4:c:7", got["next"])
	assert.InDelta(t, FilterScan, got["scanned"], 0)
	assert.NotContains(t, got, "filter", "one filter only")

	for _, tt := range []struct{ path, field, reason string }{
		{"/v1/leaderboard?grdae=A", "grdae", "unknown parameter"},
		{"/v1/leaderboard?grade=A&grade=B", "grade", "give one grade"},
		{"/v1/leaderboard?stage=hot", "stage", "must be one of early, mid, late"},
		{"/v1/leaderboard?nurture=vip", "nurture", "must be one of reactivation"},
		{"/v1/leaderboard?mql=yes", "mql", "must be true"},
		{"/v1/leaderboard?product=", "product", "1 to 128 characters"},
		{"/v1/leaderboard?by=account&grade=A", "grade", "only the contact leaderboard"},
		{"/v1/leaderboard?after=3:c-1", "after", "give its filters too"},
		{"/v1/leaderboard?grade=A&after=c-1", "after", "score:id"},
	} {
		r := &filtersRead{}
		rec := serve(r, tt.path)
		assert.Equal(t, http.StatusBadRequest, rec.Code, tt.path)
		var body struct {
			Errors []struct{ Field, Message string } `json:"errors"`
		}
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), tt.path)
		require.Len(t, body.Errors, 1, tt.path)
		assert.Equal(t, tt.field, body.Errors[0].Field, tt.path)
		assert.Contains(t, body.Errors[0].Message, tt.reason, tt.path)
		assert.Nil(t, r.filters, "%s: the store is not asked", tt.path)
	}
}
