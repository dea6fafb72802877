package scorer

import (
	"context"
	"encoding/json"
	"fmt"
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
	"github.com/leadscore/leads/pkg/transition"
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

// slowSource is a chunkSource whose fetches take delay, and say they
// waited that long for their first record unless queued says otherwise.
type slowSource struct {
	*chunkSource
	delay  time.Duration
	queued bool
}

func (s *slowSource) Waited() time.Duration {
	if s.queued {
		return 0
	}
	return s.delay
}

func (s *slowSource) FetchBatch(ctx context.Context, n int, linger time.Duration) ([]stream.Record, error) {
	time.Sleep(s.delay)
	return s.chunkSource.FetchBatch(ctx, n, linger)
}

// TestABatchIsFinishedAfterTheNextBatchsReads: when the scorer is behind
// (its batches are full, or their first records were queued), a batch's
// derived keys and ids seen are written once the next batch has read its
// homes and ids, so that those reads, which the next batch waits for, do
// not wait behind the writes in Redis; the last batch, with no batch
// after it, is finished once the scorer has waited for events a while
// (finishWhenIdle), and every offset is committed. A scorer that has caught up (a batch smaller than its batch
// size, its first event waited for) finishes each batch at once, so that
// readers see its keys as soon as they can.
func TestABatchIsFinishedAfterTheNextBatchsReads(t *testing.T) {
	t.Parallel()
	behind := []string{"load 1", "load 2", "finish 1", "load 3", "finish 2", "finish 3"}
	for _, tc := range []struct {
		name      string
		batchSize int
		queued    bool
		want      []string
	}{
		{"full batches", 1, false, behind},
		{"records queued", 100, true, behind},
		{"caught up", 100, false, []string{"load 1", "finish 1", "load 2", "finish 2", "load 3", "finish 3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := store.New(testutil.RedisClient(t), testutil.Prefix(t))
			var evs []event.Event
			for i := range 3 {
				evs = append(evs, event.Event{ID: fmt.Sprint("e", i), Type: "webinar.attended", ContactID: fmt.Sprint("c", i),
					Time: base.Add(time.Hour)})
			}
			// Each fetch takes 50 ms, well under finishWhenIdle: a batch
			// finished without waiting is finished during the next
			// fetch, before the next batch's load.
			src := &slowSource{chunkSource: &chunkSource{recs: recordsOf(t, 0, evs...), size: 1}, delay: 50 * time.Millisecond,
				queued: tc.queued}
			s, err := New(Config{EventsTopic: "e", TransitionsTopic: "t", DLQTopic: "d", BatchSize: tc.batchSize,
				MaxBackoff: 20 * time.Millisecond}, testutil.Logger(t), src, &flakySink{}, st, scoring.New(model.Default()), NewMetrics(nil))
			require.NoError(t, err)
			var mu sync.Mutex
			var steps []string
			note := func(step string) {
				mu.Lock()
				defer mu.Unlock()
				steps = append(steps, step)
			}
			loads := 0
			s.proc.afterLoad = func() { loads++; note(fmt.Sprint("load ", loads)) }
			s.proc.beforeFinish = func(u *unfinished) { note(fmt.Sprint("finish ", u.batch)) }
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			require.Eventually(t, func() bool { return src.done() == len(evs) }, 10*time.Second, time.Millisecond,
				"every offset committed")
			cancel()
			require.NoError(t, <-done)
			mu.Lock()
			defer mu.Unlock()
			assert.Equal(t, tc.want, steps)
		})
	}
}

// checkingSink runs check on each record it is given, then keeps it.
type checkingSink struct {
	flakySink
	check func(stream.Record)
}

func (s *checkingSink) Publish(ctx context.Context, recs ...stream.Record) error {
	for _, r := range recs {
		s.check(r)
	}
	return s.flakySink.Publish(ctx, recs...)
}

// TestATransitionsContactIsFoundWhenItIsPublished: a batch's crossings
// are published while its derived keys are written, or before, when those
// wait for the next batch's reads. The contacts they name, new ones
// included, are found by id by then: held unwritten, the derived keys do
// not hold their index entries.
func TestATransitionsContactIsFoundWhenItIsPublished(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.New(testutil.RedisClient(t), testutil.Prefix(t))
	evs := history("found-")
	src := &chunkSource{recs: recordsOf(t, 0, evs...), size: len(evs)}
	var mu sync.Mutex
	lookups := map[string]error{}
	sink := &checkingSink{check: func(r stream.Record) {
		var ce transition.CloudEvent
		require.NoError(t, json.Unmarshal(r.Value, &ce))
		_, _, err := st.Contact(ctx, ce.Data.ContactID)
		mu.Lock()
		defer mu.Unlock()
		lookups[ce.ID] = err
	}}
	s, err := New(Config{EventsTopic: "e", TransitionsTopic: "t", DLQTopic: "d", BatchSize: 100, MaxBackoff: 20 * time.Millisecond},
		testutil.Logger(t), src, sink, st, scoring.New(model.Default()), nil)
	require.NoError(t, err)
	release := make(chan struct{})
	s.proc.beforeFinish = func(*unfinished) { <-release } // the derived keys wait for the check
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(lookups) == 4 // history's four transitions
	}, 10*time.Second, time.Millisecond)
	close(release)
	require.Eventually(t, func() bool { return src.done() == len(evs) }, 10*time.Second, time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	mu.Lock()
	defer mu.Unlock()
	for id, err := range lookups {
		assert.NoError(t, err, id)
	}
}
