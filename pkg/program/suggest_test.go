package program

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	json "github.com/goccy/go-json"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/api"
	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/rescore"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/suggest"
	"github.com/leadscore/leads/pkg/testutil"
)

// TestASuggestionValidatesAndCompareShowsWhatItsBacktestPredicted: the
// way a person adopts a suggestion. `scorer model suggest` writes a model
// file from an archive; `scorer model validate` accepts it; the contacts
// the backtest held out, backfilled under the current model and under the
// suggestion into two namespaces, show in `scorer compare` the MQL
// precision and recall the backtest predicted, within its intervals.
func TestASuggestionValidatesAndCompareShowsWhatItsBacktestPredicted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	syn := suggest.NewSynthetic(8000, 5)
	var all []event.Event
	require.NoError(t, syn.Source()(ctx, func(ev *event.Event) error { all = append(all, *ev); return nil }))
	dir := t.TempDir()
	archive := testutil.WriteNDJSON(t, dir, all)
	out := filepath.Join(dir, "suggested.yaml")
	until := syn.TrainUntil()

	rdb := testutil.RedisClient(t)
	addr := rdb.Options().Addr
	ns := testutil.Prefix(t)
	var stdout bytes.Buffer
	require.NoError(t, Scorer(ctx, []string{"model", "suggest", "--file", archive, "--train-until", until.Format("2006-01-02T15:04:05Z07:00"),
		"--out", out, "--json", "--announce", "--redis-addr", addr, "--namespace", ns + "-live"},
		Options{Stdout: &stdout, Logger: testutil.Logger(t)}))
	var s suggest.Suggestion
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &s))

	// Announced: GET /v1/model shows it waiting to follow the model in
	// use, and not once another version scores.
	suggested, err := os.ReadFile(out)
	require.NoError(t, err)
	next, err := model.Parse(suggested)
	require.NoError(t, err)
	for _, tc := range []struct {
		m    *model.Model
		want string
	}{{model.Default(), s.Version}, {next, ""}} {
		rec := httptest.NewRecorder()
		api.New(store.New(rdb, ns+"-live"), scoring.New(tc.m), testutil.Logger(t)).Handler().
			ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/model", nil))
		var got api.Model
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
		if tc.want == "" {
			assert.Nil(t, got.Suggestion, "under %s", tc.m.Version)
			continue
		}
		require.NotNil(t, got.Suggestion)
		assert.Equal(t, tc.want, got.Suggestion.Version)
		assert.Equal(t, model.Default().Version, got.Suggestion.BasedOn)
		assert.Contains(t, got.Suggestion.Summary, "precision")
	}
	stdout.Reset()
	require.NoError(t, Scorer(ctx, []string{"model", "validate", out}, Options{Stdout: &stdout}))
	assert.Contains(t, stdout.String(), `valid, version "4"`)
	err = Scorer(ctx, []string{"model", "suggest", "--file", archive, "--train-until", until.Format("2006-01-02T15:04:05Z07:00"),
		"--out", out}, Options{Stdout: &stdout, Logger: testutil.Logger(t)})
	require.Error(t, err, "an existing --out is not overwritten")

	// The held-out contacts (first seen from the cutoff on) and every
	// account, as the backtest replayed them.
	first := map[string]int64{}
	for _, ev := range all {
		if ev.ContactID != "" {
			if f, ok := first[ev.ContactID]; !ok || ev.Time.Unix() < f {
				first[ev.ContactID] = ev.Time.Unix()
			}
		}
	}
	var held []event.Event
	for _, ev := range all {
		if ev.IsAccountEvent() || first[ev.ContactID] >= until.Unix() {
			held = append(held, ev)
		}
	}
	heldFile := testutil.WriteNDJSON(t, t.TempDir(), held)
	for name, modelFlag := range map[string]string{"cur": "", "new": "--model=" + out} {
		args := []string{"backfill", "--file", heldFile, "--namespace", ns + "-" + name, "--redis-addr", addr, "--live-namespace", ns + "-live"}
		if modelFlag != "" {
			args = append(args, modelFlag)
		}
		require.NoError(t, Scorer(ctx, args, Options{Logger: testutil.Logger(t)}), name)
	}
	stdout.Reset()
	require.NoError(t, Scorer(ctx, []string{"compare", "--json", "--redis-addr", addr, ns + "-cur", ns + "-new"}, Options{Stdout: &stdout}))
	var rep rescore.Report
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &rep))
	within := func(name string, got *float64, want suggest.Estimate) {
		require.NotNil(t, got, name)
		t.Logf("%s: compare %.4f, backtest %.4f [%.4f, %.4f]", name, *got, want.Value, want.Lo, want.Hi)
		assert.GreaterOrEqual(t, *got, want.Lo, name)
		assert.LessOrEqual(t, *got, want.Hi, name)
	}
	within("current precision", rep.A.MQLPrecision.Rate, s.Test.Current.Precision)
	within("current recall", rep.A.MQLRecall.Rate, s.Test.Current.Recall)
	within("suggested precision", rep.B.MQLPrecision.Rate, s.Test.Suggested.Precision)
	within("suggested recall", rep.B.MQLRecall.Rate, s.Test.Suggested.Recall)
	assert.Equal(t, s.Test.Contacts, rep.B.Contacts)
}
