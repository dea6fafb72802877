package decay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scorer"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/stream"
	"github.com/leadscore/leads/pkg/testutil"
	"github.com/leadscore/leads/pkg/transition"
)

// sink records what would be published.
type sink struct {
	mu   sync.Mutex
	recs []stream.Record
}

func (s *sink) Publish(_ context.Context, recs ...stream.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = append(s.recs, recs...)
	return nil
}

func (s *sink) transitions(t *testing.T) []transition.CloudEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []transition.CloudEvent
	for _, r := range s.recs {
		var ce transition.CloudEvent
		require.NoError(t, json.Unmarshal(r.Value, &ce))
		out = append(out, ce)
	}
	return out
}

type rig struct {
	ctx    context.Context
	st     *store.Store
	sink   *sink
	scorer *scorer.Scorer
	engine *scoring.Engine
	offset int64
}

func newRig(t *testing.T) *rig {
	t.Helper()
	rdb := testutil.RedisClient(t)
	st := store.New(rdb, testutil.Prefix(t))
	sk := &sink{}
	engine := scoring.New(model.Default())
	s, err := scorer.New(scorer.Config{EventsTopic: "e", TransitionsTopic: "t", DLQTopic: "d", BatchSize: 100}, testutil.Logger(t), nil, sk, st, engine, nil)
	require.NoError(t, err)
	return &rig{ctx: context.Background(), st: st, sink: sk, scorer: s, engine: engine}
}

// score applies events through the scorer's write path, as if consumed.
func (r *rig) score(t *testing.T, evs ...event.Event) {
	t.Helper()
	recs := make([]stream.Record, len(evs))
	for i := range evs {
		v, err := json.Marshal(&evs[i])
		require.NoError(t, err)
		r.offset++
		recs[i] = stream.Record{Topic: "e", Partition: 0, Offset: r.offset, Value: v}
	}
	require.NoError(t, r.scorer.Process(r.ctx, recs))
}

func (r *rig) decayer(t *testing.T, owner string) *Decayer {
	t.Helper()
	d, err := New(Config{Interval: time.Minute, BatchSize: 3, LeaseTTL: time.Minute, Owner: owner}, testutil.Logger(t), r.st, r.engine, r.sink, "t", nil)
	require.NoError(t, err)
	return d
}

func (r *rig) contact(t *testing.T, id string) *scoring.Contact {
	t.Helper()
	c, _, err := r.st.Contact(r.ctx, id)
	require.NoError(t, err)
	return c
}

var t0 = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

func day(n int) time.Time { return t0.Add(time.Duration(n) * 24 * time.Hour) }

func adjust(contact string, points float64) event.Event {
	return event.Event{ID: "adj-" + contact, Type: "score.adjusted", ContactID: contact, Time: t0, Properties: map[string]any{"points": points}}
}

func TestIdleContactsDecayWithFloor(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.score(t, adjust("c-1", 100), adjust("c-2", 100), adjust("c-3", 100), adjust("c-4", 8))
	d := r.decayer(t, "a")
	for _, tt := range []struct {
		day  int
		want map[string]int32
	}{
		{29, map[string]int32{"c-1": 100, "c-4": 8}},
		{31, map[string]int32{"c-1": 90, "c-4": 8}},
		{61, map[string]int32{"c-1": 80, "c-4": 8}},
		{400, map[string]int32{"c-1": 10, "c-2": 10, "c-3": 10, "c-4": 8}},
	} {
		_, err := d.Pass(r.ctx, day(tt.day))
		require.NoError(t, err)
		for id, want := range tt.want {
			assert.Equal(t, want, r.contact(t, id).Score(), "%s at day %d", id, tt.day)
		}
	}
	hist, err := r.st.History(r.ctx, "c-1", 100)
	require.NoError(t, err)
	var steps []int32
	for _, e := range hist {
		if e.Kind == scoring.KindDecay {
			steps = append(steps, e.Points)
		}
	}
	assert.Equal(t, []int32{-10, -10, -10, -10, -10, -10, -10, -10, -10}, steps, "nine steps of 10 to the floor of 10")
	// Nothing left due but dormancy, which the 400-day pass already marked.
	n, err := r.st.Backlog(r.ctx, day(10000))
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.True(t, r.contact(t, "c-1").Dormant)
}

func TestOnceTwiceAtTheSameInstantChangesNothing(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.score(t, adjust("c-1", 90))
	d := r.decayer(t, "a")
	n, err := d.Pass(r.ctx, day(65))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	before, sent := r.contact(t, "c-1"), len(r.sink.transitions(t))
	n, err = d.Pass(r.ctx, day(65))
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Equal(t, before, r.contact(t, "c-1"))
	assert.Len(t, r.sink.transitions(t), sent)
}

func TestEventDuringAPassLosesNothing(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.score(t, adjust("c-1", 100))
	d := r.decayer(t, "a")
	once := sync.Once{}
	d.beforeCommit = func() {
		// The scorer commits an engagement between the decayer's load and commit.
		once.Do(func() {
			r.score(t, event.Event{ID: "late-click", Type: "email.clicked", ContactID: "c-1", Time: day(20)})
		})
	}
	_, err := d.Pass(r.ctx, day(45))
	require.NoError(t, err)
	c := r.contact(t, "c-1")
	// The click at day 20 re-anchored decay at 110; at day 45 nothing is due yet.
	assert.Equal(t, int32(110), c.Behavior)
	assert.Equal(t, int32(2), c.Events)
	_, err = d.Pass(r.ctx, day(51))
	require.NoError(t, err)
	assert.Equal(t, int32(100), r.contact(t, "c-1").Behavior)
}

func TestTwoDecayersDoTheWorkOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	var evs []event.Event
	for i := range 40 {
		evs = append(evs, adjust(fmt.Sprint("c-", i), 85))
	}
	r.score(t, evs...)
	a, b := r.decayer(t, "a"), r.decayer(t, "b")
	var wg sync.WaitGroup
	for _, d := range []*Decayer{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := d.Pass(r.ctx, day(100))
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	for i := range 40 {
		c := r.contact(t, fmt.Sprint("c-", i))
		assert.Equal(t, int32(55), c.Behavior, "85 - 3 steps")
	}
	ids := map[string]int{}
	for _, ce := range r.sink.transitions(t) {
		if ce.Source == transition.SourceDecayer {
			ids[ce.ID]++
		}
	}
	// Each contact: left MQL and stage late→mid at day 30..., dormant, and
	// so into the reactivation nurture program.
	assert.Len(t, ids, 40*4, "left_mql, stage_changed, went_dormant and nurture_changed per contact")
	for id, n := range ids {
		assert.Equal(t, 1, n, "transition %s published %d times", id, n)
	}
}

// TestLiveDecayEqualsScoringLater: contacts decayed by passes along the way
// end in the same state as contacts the scorer decays only when their next
// event arrives.
func TestLiveDecayEqualsScoringLater(t *testing.T) {
	t.Parallel()
	live, later := newRig(t), newRig(t)
	history := []event.Event{
		{ID: "e1", Type: "contact.updated", ContactID: "c-1", AccountID: "acme.io", Time: day(0), Properties: map[string]any{"title": "VP Sales"}},
		{ID: "e2", Type: "meeting.booked", ContactID: "c-1", AccountID: "acme.io", Time: day(1)},
		{ID: "e3", Type: "webinar.attended", ContactID: "c-1", AccountID: "acme.io", Time: day(2)},
		{ID: "e4", Type: "web.page_viewed", ContactID: "c-1", AccountID: "acme.io", Time: day(3), Properties: map[string]any{"url": "https://x.io/products/analytics"}},
	}
	next := event.Event{ID: "e5", Type: "email.opened", ContactID: "c-1", AccountID: "acme.io", Time: day(200)}
	live.score(t, history...)
	later.score(t, history...)
	d := live.decayer(t, "a")
	for dd := 4; dd < 200; dd += 7 {
		_, err := d.Pass(live.ctx, day(dd))
		require.NoError(t, err)
	}
	live.score(t, next)
	later.score(t, next)
	assert.Equal(t, later.contact(t, "c-1"), live.contact(t, "c-1"))
	a1, err := live.st.Account(live.ctx, "acme.io")
	require.NoError(t, err)
	a2, err := later.st.Account(later.ctx, "acme.io")
	require.NoError(t, err)
	assert.Equal(t, a2, a1)
	ids := func(r *rig) []string {
		var out []string
		for _, ce := range r.sink.transitions(t) {
			out = append(out, ce.ID)
		}
		sort.Strings(out)
		return out
	}
	assert.Equal(t, ids(later), ids(live), "the same crossings, with the same ids")
}

// failingSink refuses every publish, as a decayer that dies between its
// Redis commit and its publish.
type failingSink struct{}

func (failingSink) Publish(context.Context, ...stream.Record) error {
	return fmt.Errorf("broker gone")
}

// TestCrossingsOfADecayerThatDiedBeforePublishingAreDrained: a pass that
// commits and never publishes leaves its crossings in outboxes of contacts
// no longer due; another decayer leaves them to their owner while its leases
// last, and the owner's next pass publishes them, with the ids an
// uninterrupted pass publishes, and the outbox index ends empty.
func TestCrossingsOfADecayerThatDiedBeforePublishingAreDrained(t *testing.T) {
	t.Parallel()
	crashed, clean := newRig(t), newRig(t)
	var evs []event.Event
	for i := range 10 {
		evs = append(evs, adjust(fmt.Sprint("c-", i), 85))
	}
	crashed.score(t, evs...)
	clean.score(t, evs...)
	sent := len(crashed.sink.transitions(t))

	_, err := clean.decayer(t, "a").Pass(clean.ctx, day(100))
	require.NoError(t, err)
	want := map[string]bool{}
	for _, ce := range clean.sink.transitions(t)[sent:] {
		want[ce.ID] = true
	}
	require.Len(t, want, 10*4)

	dying, err := New(Config{Interval: time.Minute, BatchSize: 3, LeaseTTL: time.Minute, Owner: "a"}, testutil.Logger(t),
		crashed.st, crashed.engine, failingSink{}, "t", nil)
	require.NoError(t, err)
	_, err = dying.Pass(crashed.ctx, day(100))
	require.ErrorContains(t, err, "broker gone")
	tracked, err := crashed.st.TrackedOutboxes(crashed.ctx, 100)
	require.NoError(t, err)
	require.NotEmpty(t, tracked, "the dead pass left outboxes")
	backlog, err := crashed.st.Backlog(crashed.ctx, day(100))
	require.NoError(t, err)
	require.Less(t, backlog, int64(10), "the committed contacts are no longer due")

	// Another decayer leaves them alone while "a" holds its leases: "a" may
	// still be publishing them.
	before := len(crashed.sink.transitions(t))
	_, err = crashed.decayer(t, "b").Pass(crashed.ctx, day(100))
	require.NoError(t, err)
	for _, ce := range crashed.sink.transitions(t)[before:] {
		assert.NotContains(t, tracked, "c:"+ce.Subject, "b publishes none of a's outboxes")
	}
	left, err := crashed.st.TrackedOutboxes(crashed.ctx, 100)
	require.NoError(t, err)
	for home := range tracked {
		assert.Contains(t, left, home, "still left to a")
	}
	// "a" restarted under its own name publishes them at once.
	_, err = crashed.decayer(t, "a").Pass(crashed.ctx, day(100))
	require.NoError(t, err)
	got := map[string]bool{}
	for _, ce := range crashed.sink.transitions(t)[sent:] {
		got[ce.ID] = true
	}
	assert.Equal(t, want, got)
	tracked, err = crashed.st.TrackedOutboxes(crashed.ctx, 100)
	require.NoError(t, err)
	assert.Empty(t, tracked)
	for i := range 10 {
		assert.Equal(t, clean.contact(t, fmt.Sprint("c-", i)), crashed.contact(t, fmt.Sprint("c-", i)))
	}
}

// dueEntry is a contact's time in the due index (0: none).
func (r *rig) dueEntry(t *testing.T, id string) int64 {
	t.Helper()
	at, err := r.st.Client().ZScore(r.ctx, r.st.DueKey(store.DueShard(id)), id).Result()
	if errors.Is(err, redis.Nil) {
		return 0
	}
	require.NoError(t, err)
	return int64(at)
}

// TestAnEarlierDueEntryBringsTheDecayerToNothing: an event that moves a
// contact's next due time later leaves its due index entry as it was; the
// decayer, brought to the contact at that time, finds nothing due, changes
// nothing and writes the later time, at which the contact decays.
func TestAnEarlierDueEntryBringsTheDecayerToNothing(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.score(t, event.Event{ID: "click-1", Type: "email.clicked", ContactID: "c-1", Time: day(0)},
		event.Event{ID: "click-2", Type: "email.clicked", ContactID: "c-1", Time: day(1)})
	first := r.engine.NextDue(r.contact(t, "c-1"))
	require.NotZero(t, first)
	require.Equal(t, first, r.dueEntry(t, "c-1"))

	r.score(t, event.Event{ID: "click-3", Type: "email.clicked", ContactID: "c-1", Time: day(5)})
	before := r.contact(t, "c-1")
	due := r.engine.NextDue(before)
	require.Greater(t, due, first)
	assert.Equal(t, first, r.dueEntry(t, "c-1"), "the earlier entry kept")
	sent := len(r.sink.recs)

	d := r.decayer(t, "a")
	n, err := d.Pass(r.ctx, time.Unix(first, 0))
	require.NoError(t, err)
	assert.Zero(t, n, "nothing decayed")
	assert.Equal(t, *before, *r.contact(t, "c-1"), "the contact as it was")
	assert.Len(t, r.sink.recs, sent, "nothing published")
	assert.Equal(t, due, r.dueEntry(t, "c-1"), "the entry moved to the contact's due time")
	backlog, err := r.st.Backlog(r.ctx, time.Unix(due-1, 0))
	require.NoError(t, err)
	assert.Zero(t, backlog)

	n, err = d.Pass(r.ctx, time.Unix(due, 0))
	require.NoError(t, err)
	assert.Equal(t, 1, n, "due then")
	assert.NotEqual(t, *before, *r.contact(t, "c-1"))
}

// TestARedeliveredEventWritesItsDueEntryAgain: a scorer that died after a
// commit and before writing its derived keys left no due entry; the event,
// redelivered, is not applied again but writes it.
func TestARedeliveredEventWritesItsDueEntryAgain(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	click := event.Event{ID: "click-1", Type: "email.clicked", ContactID: "c-1", Time: day(0)}
	r.score(t, click)
	c := r.contact(t, "c-1")
	due := r.engine.NextDue(c)
	require.Equal(t, due, r.dueEntry(t, "c-1"))
	// What that scorer never wrote: the entry, and the id as seen.
	require.NoError(t, r.st.Client().ZRem(r.ctx, r.st.DueKey(store.DueShard("c-1")), "c-1").Err())
	require.NoError(t, r.st.ForgetDeliveries(r.ctx, 0, store.DedupeBucket(time.Unix(0, 0), scorer.DefaultDedupeWindow)))

	v, err := json.Marshal(&click)
	require.NoError(t, err)
	require.NoError(t, r.scorer.Process(r.ctx, []stream.Record{{Topic: "e", Partition: 0, Offset: r.offset, Value: v}}))
	assert.Equal(t, *c, *r.contact(t, "c-1"), "not applied again")
	assert.Equal(t, due, r.dueEntry(t, "c-1"))
}

// TestAnEventUnderANewModelWritesItsDueEntry: a model whose decay comes
// sooner makes the contact's next due time earlier than its entry, though
// later than the time the new model gives the contact as it was: the entry
// is written.
func TestAnEventUnderANewModelWritesItsDueEntry(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.score(t, event.Event{ID: "click-1", Type: "email.clicked", ContactID: "c-1", Time: day(0)},
		event.Event{ID: "click-2", Type: "email.clicked", ContactID: "c-1", Time: day(1)})
	first := r.dueEntry(t, "c-1")
	require.NotZero(t, first)

	m := *model.Default()
	m.Version += "-sooner"
	m.Decay.IdleAfter /= 4
	sooner := scoring.New(&m)
	s, err := scorer.New(scorer.Config{EventsTopic: "e", TransitionsTopic: "t", DLQTopic: "d", BatchSize: 100}, testutil.Logger(t), nil, r.sink, r.st, sooner, nil)
	require.NoError(t, err)
	click := event.Event{ID: "click-3", Type: "email.clicked", ContactID: "c-1", Time: day(2)}
	v, err := json.Marshal(&click)
	require.NoError(t, err)
	require.NoError(t, s.Process(r.ctx, []stream.Record{{Topic: "e", Partition: 0, Offset: r.offset + 1, Value: v}}))
	due := sooner.NextDue(r.contact(t, "c-1"))
	require.Less(t, due, first)
	assert.Equal(t, due, r.dueEntry(t, "c-1"))
}
