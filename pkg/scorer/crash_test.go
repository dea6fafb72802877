package scorer

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/demo"
	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/stream"
	"github.com/leadscore/leads/pkg/testutil"
	"github.com/leadscore/leads/pkg/transition"
)

// flakySink fails the first publishes, as a crash between the Redis commit
// and the transition publish would.
type flakySink struct {
	mu    sync.Mutex
	fail  int
	recs  []stream.Record
	tries int
}

func (f *flakySink) Publish(_ context.Context, recs ...stream.Record) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tries++
	if f.fail > 0 {
		f.fail--
		return errors.New("broker unavailable")
	}
	f.recs = append(f.recs, recs...)
	return nil
}

func (f *flakySink) ids(t *testing.T) []string {
	var out []string
	for _, r := range f.recs {
		var ce transition.CloudEvent
		require.NoError(t, json.Unmarshal(r.Value, &ce))
		out = append(out, ce.Type+"/"+ce.ID)
	}
	sort.Strings(out)
	return out
}

func records(t *testing.T, p string) []stream.Record {
	var recs []stream.Record
	for i, ev := range history(p) {
		v, err := json.Marshal(&ev)
		require.NoError(t, err)
		recs = append(recs, stream.Record{Topic: "e", Partition: 1, Offset: int64(100 + i), Value: v})
	}
	return recs
}

// TestCrashBetweenCommitAndPublish: the Redis commit succeeds, the publish
// fails and the process dies; a new scorer gets the same records again. The
// scores count each event once and every crossing is published, with the
// ids a clean run gives.
func TestCrashBetweenCommitAndPublish(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newScorers(t)
	newScorer := func(ns string, sink Sink) (*Scorer, *store.Store) { return f.at(ns, nil, sink) }
	clean := &flakySink{}
	s, _ := newScorer("clean", clean)
	require.NoError(t, s.Process(ctx, records(t, "x-")))
	require.Len(t, clean.recs, 4)

	dying := &flakySink{fail: 1}
	s1, st := newScorer("crash", dying)
	err := s1.Process(ctx, records(t, "x-"))
	require.Error(t, err, "the publish failed after the commit")
	assert.Empty(t, dying.recs)
	c, _, err := st.Contact(ctx, "x-c-42")
	require.NoError(t, err)
	assert.Equal(t, int32(5), c.Events, "committed before the crash")

	// Restart: a new scorer, the same records redelivered (offsets not committed).
	after := &flakySink{}
	s2, _ := newScorer("crash", after)
	require.NoError(t, s2.Process(ctx, records(t, "x-")))
	assert.Equal(t, clean.ids(t), after.ids(t), "every crossing published once more, with the same ids")
	c, _, err = st.Contact(ctx, "x-c-42")
	require.NoError(t, err)
	assert.Equal(t, int32(5), c.Events, "no event applied twice")
	assert.Equal(t, int32(75), c.Behavior)

	// A third delivery finds the outbox cleared: nothing more is published.
	again := &flakySink{}
	s3, _ := newScorer("crash", again)
	require.NoError(t, s3.Process(ctx, records(t, "x-")))
	assert.Empty(t, again.recs)
}

// TestZombieIsFenced: a scorer that loaded a home before another committed
// it cannot overwrite the newer state; it reloads and skips what was applied.
func TestZombieIsFenced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newScorers(t)
	_, st := f.at("z", nil, &flakySink{})
	mk := func() *Scorer {
		s, _ := f.at("z", nil, &flakySink{})
		return s
	}
	recs := records(t, "z-")
	// The new owner applies everything first.
	require.NoError(t, mk().Process(ctx, recs))
	// The zombie, holding a stale load, is simulated by a commit at the old
	// version: the script refuses it.
	homes, metas, err := st.Load(ctx, map[string]*store.Request{"a:z-acme.io": {Contacts: []string{"z-c-42"}}})
	require.NoError(t, err)
	stale := *metas["a:z-acme.io"]
	stale.Version--
	homes["a:z-acme.io"].Contacts["z-c-42"].Behavior = 999
	_, errs, err := st.CommitAll(ctx, []store.Commit{{Home: homes["a:z-acme.io"], Meta: &stale}})
	require.NoError(t, err)
	assert.ErrorIs(t, errs[0], store.ErrConflict)
	// And a zombie consumer redelivered the same records changes nothing.
	require.NoError(t, mk().Process(ctx, recs))
	c, _, err := st.Contact(ctx, "z-c-42")
	require.NoError(t, err)
	assert.Equal(t, int32(75), c.Behavior)
	assert.Equal(t, int32(5), c.Events)
}

// TestPipelinedBatchesPublishOnce: while batch 1's transitions are not yet
// published, batch 2 commits the same home. Each transition is published
// once; and if the process dies before batch 1's post, a restart publishes
// both batches' transitions from the outbox.
func TestPipelinedBatchesPublishOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newScorers(t)
	mk := func(ns string, sink Sink) (*Scorer, *store.Store) { return f.at(ns, nil, sink) }
	recs := records(t, "p-")
	first, second := recs[:4], recs[4:] // e3 crosses in the first batch, e5 in the second

	clean := &flakySink{}
	s, _ := mk("clean", clean)
	require.NoError(t, s.Process(ctx, recs))

	sink := &flakySink{}
	s, st := mk("pipe", sink)
	p1, err := s.proc.Process(ctx, first)
	require.NoError(t, err)
	p2, err := s.proc.Process(ctx, second)
	require.NoError(t, err)
	require.NoError(t, s.proc.Deliver(ctx, p1))
	require.NoError(t, s.proc.Deliver(ctx, p2))
	assert.Equal(t, clean.ids(t), sink.ids(t), "each transition once, none lost")
	_, metas, err := st.Load(ctx, map[string]*store.Request{"a:p-acme.io": {}})
	require.NoError(t, err)
	assert.Empty(t, metas["a:p-acme.io"].Outbox, "the last post cleared the outbox")

	// The previous post completes right after the next batch loaded the
	// outbox it was publishing: still published once.
	race := &flakySink{}
	s, _ = mk("race", race)
	p1, err = s.proc.Process(ctx, first)
	require.NoError(t, err)
	var once sync.Once
	s.proc.afterLoad = func() { once.Do(func() { require.NoError(t, s.proc.Deliver(ctx, p1)) }) }
	p2, err = s.proc.Process(ctx, second)
	require.NoError(t, err)
	require.NoError(t, s.proc.Deliver(ctx, p2))
	assert.Equal(t, clean.ids(t), race.ids(t), "each transition once when a post ends mid-load")
	s.proc.afterLoad = nil

	// The same, but the process dies before posting either batch.
	dead := &flakySink{}
	s, _ = mk("dead", dead)
	_, err = s.proc.Process(ctx, first)
	require.NoError(t, err)
	_, err = s.proc.Process(ctx, second)
	require.NoError(t, err)
	restarted := &flakySink{}
	s, _ = mk("dead", restarted)
	require.NoError(t, s.Process(ctx, recs))
	assert.Empty(t, dead.recs)
	assert.Equal(t, clean.ids(t), restarted.ids(t), "the restart publishes what the dead process committed")
}

// chunkSource hands out records in fixed-size batches, then blocks; it
// counts fetches and the records whose offsets were committed.
type chunkSource struct {
	mu        sync.Mutex
	recs      []stream.Record
	size      int
	fetches   int
	committed int
}

func (c *chunkSource) FetchBatch(ctx context.Context, _ int, _ time.Duration) ([]stream.Record, error) {
	c.mu.Lock()
	c.fetches++
	if len(c.recs) > 0 {
		n := min(c.size, len(c.recs))
		out := c.recs[:n]
		c.recs = c.recs[n:]
		c.mu.Unlock()
		return out, nil
	}
	c.mu.Unlock()
	<-ctx.Done()
	return nil, ctx.Err()
}

func (c *chunkSource) Commit(_ context.Context, recs []stream.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.committed += len(recs)
	return nil
}

func (c *chunkSource) done() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.committed
}

func (c *chunkSource) fetched() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fetches
}

// slowSink publishes after a delay, so that posts overlap the next batches.
type slowSink struct {
	flakySink
	delay time.Duration
}

func (s *slowSink) Publish(ctx context.Context, recs ...stream.Record) error {
	time.Sleep(s.delay)
	return s.flakySink.Publish(ctx, recs...)
}

// TestRunOverlapsPostsWithoutDuplicates: many small batches on a few
// homes, with slow publishing so posts overlap the next batches' commits.
// Every transition of a synchronous run is published exactly once.
func TestRunOverlapsPostsWithoutDuplicates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newScorers(t)
	gen := demo.New(3, 40, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), "")
	evs := append(gen.Accounts(), gen.Next(600, 6*time.Hour)...)
	var recs []stream.Record
	for i := range evs {
		v, err := json.Marshal(&evs[i])
		require.NoError(t, err)
		recs = append(recs, stream.Record{Topic: "e", Partition: 0, Offset: int64(i), Value: v})
	}
	mk := func(ns string, src Source, sink Sink) *Scorer {
		s, _ := f.at(ns, src, sink)
		return s
	}
	want := &flakySink{}
	require.NoError(t, mk("sync", nil, want).Process(ctx, recs))
	require.NotEmpty(t, want.recs)

	src := &chunkSource{recs: recs, size: 7}
	got := &slowSink{delay: 3 * time.Millisecond}
	s := mk("pipe", src, got)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	require.Eventually(t, func() bool { return src.done() == len(recs) }, 30*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	assert.Equal(t, want.ids(t), got.ids(t), "each transition exactly once")
}

// TestMoveWaitsForTheNewHome: when the home a contact moves into changes
// under the scorer, the home it leaves is not committed either, so the
// contact is never in neither; the redo moves it once.
func TestMoveWaitsForTheNewHome(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, st := newScorers(t).at("mv", nil, &flakySink{})
	rec := func(off int64, ev event.Event) stream.Record {
		v, err := json.Marshal(&ev)
		require.NoError(t, err)
		return stream.Record{Topic: "e", Partition: 0, Offset: off, Value: v}
	}
	require.NoError(t, s.Process(ctx, []stream.Record{rec(1, event.Event{ID: "e1", Type: "meeting.booked", ContactID: "c-1",
		AccountID: "old.io", Time: base})}))

	var once sync.Once
	s.proc.afterLoad = func() {
		once.Do(func() {
			// Another writer commits the new home between load and commit.
			homes, metas, err := st.Load(ctx, map[string]*store.Request{"a:new.io": {}})
			require.NoError(t, err)
			_, errs, err := st.CommitAll(ctx, []store.Commit{{Home: homes["a:new.io"], Meta: metas["a:new.io"]}})
			require.NoError(t, err)
			require.NoError(t, errs[0])
		})
	}
	move := event.Event{ID: "e2", Type: "contact.updated", ContactID: "c-1", AccountID: "new.io", Time: base.Add(time.Hour)}
	require.NoError(t, s.Process(ctx, []stream.Record{rec(2, move)}))

	c, home, err := st.Contact(ctx, "c-1")
	require.NoError(t, err)
	assert.Equal(t, "a:new.io", home)
	assert.Equal(t, int32(2), c.Events)
	assert.Equal(t, int32(40), c.Behavior)
	old, err := st.Account(ctx, "old.io")
	require.NoError(t, err)
	assert.Empty(t, old.Members, "the old account no longer counts the contact")
	assert.Equal(t, int32(0), old.Engagement)
	homes, _, err := st.Load(ctx, map[string]*store.Request{"a:old.io": {All: true}})
	require.NoError(t, err)
	assert.Empty(t, homes["a:old.io"].Contacts)
}

// scorers builds scorers over one redis-server, each on a namespace.
type scorers struct {
	t   *testing.T
	rdb *redis.Client
}

func newScorers(t *testing.T) *scorers {
	t.Helper()
	rdb := testutil.RedisClient(t)
	return &scorers{t: t, rdb: rdb}
}

// at returns a scorer of namespace ns reading src (nil: Process only) and
// publishing to sink, and its store.
func (f *scorers) at(ns string, src Source, sink Sink) (*Scorer, *store.Store) {
	f.t.Helper()
	st := store.New(f.rdb, ns)
	s, err := New(Config{EventsTopic: "e", TransitionsTopic: "t", DLQTopic: "d", BatchSize: 100, MaxBackoff: time.Second},
		testutil.Logger(f.t), src, sink, st, scoring.New(model.Default()), nil)
	require.NoError(f.t, err)
	return s, st
}
