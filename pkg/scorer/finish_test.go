package scorer

import (
	"context"
	"sync"
	"testing"
	"time"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/stream"
	"github.com/leadscore/leads/pkg/testutil"
)

// batchSource hands out its batches one a fetch, then waits for the end;
// it counts fetches and the records whose offsets were committed.
type batchSource struct {
	mu        sync.Mutex
	batches   [][]stream.Record
	fetches   int
	committed int
}

func (b *batchSource) FetchBatch(ctx context.Context, _ int, _ time.Duration) ([]stream.Record, error) {
	b.mu.Lock()
	b.fetches++
	if len(b.batches) > 0 {
		next := b.batches[0]
		b.batches = b.batches[1:]
		b.mu.Unlock()
		return next, nil
	}
	b.mu.Unlock()
	<-ctx.Done()
	return nil, ctx.Err()
}

func (b *batchSource) Commit(_ context.Context, recs []stream.Record) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.committed += len(recs)
	return nil
}

func (b *batchSource) state() (fetches, committed int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.fetches, b.committed
}

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
	src := &batchSource{batches: [][]stream.Record{recordsOf(t, 0, first...), recordsOf(t, 2, second...)}}
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
		require.Eventually(t, func() bool { f, _ := src.state(); return f >= 3 }, 10*time.Second, time.Millisecond)
		_, committedWhileHeld = src.state()
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	require.Eventually(t, func() bool { _, c := src.state(); return c == len(first)+len(second) }, 10*time.Second, time.Millisecond)
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
