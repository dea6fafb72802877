package scorer

import (
	"context"
	"testing"
	"time"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/testutil"
)

// TestTheNextBatchReadsWhatTheLastHasNotWrittenYet: a batch's derived
// keys and ids seen are written while the next batch is processed. Held
// unwritten until the next batch is committed, they are still what that
// batch reads: a contact the first batch created in its account's home,
// posted again without its account, is found there (not made a contact of
// its own), and an event posted again is recognised as a copy. The first
// batch's offsets wait for its keys.
func TestTheNextBatchReadsWhatTheLastHasNotWrittenYet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.New(testutil.RedisClient(t), testutil.Prefix(t))
	at := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }
	first := []event.Event{
		{ID: "x1", Type: "webinar.attended", ContactID: "x", AccountID: "acme.io", Time: at(1)},
		{ID: "y1", Type: "webinar.attended", ContactID: "y", AccountID: "acme.io", Time: at(1)},
	}
	second := []event.Event{
		{ID: "x2", Type: "webinar.attended", ContactID: "x", Time: at(2)},                       // without its account
		{ID: "y1", Type: "webinar.attended", ContactID: "y", AccountID: "acme.io", Time: at(1)}, // posted again
	}
	src := &chunkSource{recs: recordsOf(t, 0, append(first, second...)...), size: len(first)}
	metrics := NewMetrics(nil)
	s, err := New(Config{EventsTopic: "e", TransitionsTopic: "t", DLQTopic: "d", BatchSize: 100, MaxBackoff: 20 * time.Millisecond},
		testutil.Logger(t), src, &flakySink{}, st, scoring.New(model.Default()), metrics)
	require.NoError(t, err)
	var held, committedWhileHeld int
	s.proc.beforeFinish = func(u *unfinished) {
		if held++; held > 1 {
			return
		}
		// The first batch waits until the second is processed: the
		// scorer then fetches a third time.
		require.Eventually(t, func() bool { return src.fetched() >= 3 }, 10*time.Second, time.Millisecond)
		committedWhileHeld = src.done()
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	require.Eventually(t, func() bool { return src.done() == len(first)+len(second) }, 10*time.Second, time.Millisecond)
	cancel()
	require.NoError(t, <-done)

	assert.Zero(t, committedWhileHeld, "no offset is committed before the first batch is finished")
	x, home, err := st.Contact(ctx, "x")
	require.NoError(t, err)
	assert.Equal(t, scoring.HomeID("acme.io", ""), home)
	assert.Equal(t, int32(2), x.Events, "x's second event counted in its account's home")
	_, metas, err := st.Load(ctx, map[string]*store.Request{scoring.HomeID("", "x"): {All: true}})
	require.NoError(t, err)
	assert.Zero(t, metas[scoring.HomeID("", "x")].Version, "no home of its own was made for x")
	y, _, err := st.Contact(ctx, "y")
	require.NoError(t, err)
	assert.Equal(t, int32(1), y.Events, "y1 counted once")
	assert.Equal(t, 1.0, promtest.ToFloat64(metrics.Duplicates), "the copy of y1 was recognised")
}
