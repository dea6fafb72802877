package scorer

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/stream"
	"github.com/leadscore/leads/pkg/testutil"
	"github.com/leadscore/leads/pkg/transition"
)

// recordsOf encodes events as records of partition 0 from offset first.
func recordsOf(t *testing.T, first int64, evs ...event.Event) []stream.Record {
	t.Helper()
	recs := make([]stream.Record, len(evs))
	for i := range evs {
		v, err := json.Marshal(&evs[i])
		require.NoError(t, err)
		recs[i] = stream.Record{Topic: "e", Partition: 0, Offset: first + int64(i), Value: v}
	}
	return recs
}

// TestAModelChangeRefreshesEveryMemberAsThePureEngineDoes: under a new
// model that changes account fit, an event of one member makes the engine
// refresh every member of the account. The batch loaded only that member:
// the first try is incomplete (Workspace.Missing), commits nothing, and the
// second loads the account whole. Every member ends as the pure engine
// has it.
func TestAModelChangeRefreshesEveryMemberAsThePureEngineDoes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	v1 := model.Default()
	f := v1.File
	f.Version = "more-fit"
	f.AccountFit = append([]model.FitRule{{ID: "any-employees", Field: "employees", Min: new(1.0), Points: 7}}, f.AccountFit...)
	data, err := yaml.Marshal(f)
	require.NoError(t, err)
	v2, err := model.Parse(data)
	require.NoError(t, err)

	at := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }
	first := []event.Event{
		{ID: "a1", Type: "account.updated", AccountID: "acme.io", Time: at(0), Properties: map[string]any{"employees": 5000.0, "industry": "software"}},
		{ID: "c1", Type: "webinar.attended", ContactID: "c-1", AccountID: "acme.io", Time: at(1)},
		{ID: "c2", Type: "webinar.attended", ContactID: "c-2", AccountID: "acme.io", Time: at(2)},
	}
	then := event.Event{ID: "c3", Type: "email.clicked", ContactID: "c-1", AccountID: "acme.io", Time: at(3)}

	st := store.New(testutil.RedisClient(t), testutil.Prefix(t))
	scorerOf := func(m *model.Model) *Scorer {
		s, err := New(Config{EventsTopic: "e", TransitionsTopic: "t", DLQTopic: "d", BatchSize: 100},
			testutil.Logger(t), nil, &flakySink{}, st, scoring.New(m), nil)
		require.NoError(t, err)
		return s
	}
	require.NoError(t, scorerOf(v1).Process(ctx, recordsOf(t, 0, first...)))
	s := scorerOf(v2)
	loads := 0
	s.proc.afterLoad = func() { loads++ }
	require.NoError(t, s.Process(ctx, recordsOf(t, int64(len(first)), then)))
	assert.Equal(t, 2, loads, "the first try lacked the account's other member")

	mem := scoring.NewMemory()
	for _, step := range []struct {
		m   *model.Model
		evs []event.Event
	}{{v1, first}, {v2, []event.Event{then}}} {
		ws := mem.Workspace(scoring.New(step.m))
		for i := range step.evs {
			require.NoError(t, ws.Apply(&step.evs[i]))
		}
		mem.Commit(ws)
	}
	for _, id := range []string{"c-1", "c-2"} {
		got, _, err := st.Contact(ctx, id)
		require.NoError(t, err)
		want := mem.Contact(id)
		assert.Equal(t, want.Fit, got.Fit, "%s: fit refreshed under the new model", id)
		assert.Equal(t, want.Score(), got.Score(), id)
		assert.Equal(t, v2.Version, got.Model, id)
	}
	c2, _, err := st.Contact(ctx, "c-2")
	require.NoError(t, err)
	ws := scoring.NewMemory().Workspace(scoring.New(v1))
	for i := range first {
		require.NoError(t, ws.Apply(&first[i]))
	}
	assert.Equal(t, ws.Contact("c-2").Fit+7, c2.Fit, "c-2, not in the batch, gained the new account rule's points")
}

// orderSink checks, at each publish, that the crossings it gets are
// committed in Redis (in their home's outbox), and fails the first
// failPublish calls.
type orderSink struct {
	t           *testing.T
	st          *store.Store
	home        string
	mu          sync.Mutex
	failPublish int
	published   map[string]int
}

func (o *orderSink) Publish(ctx context.Context, recs ...stream.Record) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, metas, err := o.st.Load(ctx, map[string]*store.Request{o.home: {}})
	require.NoError(o.t, err)
	inOutbox := map[string]bool{}
	for _, e := range metas[o.home].Outbox {
		inOutbox[e.ID()] = true
	}
	for _, r := range recs {
		var ce transition.CloudEvent
		require.NoError(o.t, json.Unmarshal(r.Value, &ce))
		assert.True(o.t, inOutbox[ce.ID], "%s is committed to Redis before it is published", ce.ID)
	}
	if o.failPublish > 0 {
		o.failPublish--
		return errors.New("broker unavailable")
	}
	if o.published == nil {
		o.published = map[string]int{}
	}
	for _, r := range recs {
		var ce transition.CloudEvent
		require.NoError(o.t, json.Unmarshal(r.Value, &ce))
		o.published[ce.ID]++
	}
	return nil
}

func (o *orderSink) count() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[string]int{}
	for id, n := range o.published {
		out[id] = n
	}
	return out
}

// orderSource hands out one batch, then checks at each offset commit that
// the batch's crossings are published and its outbox cleared; it fails
// the first failCommit commits.
type orderSource struct {
	t          *testing.T
	st         *store.Store
	sink       *orderSink
	home       string
	recs       []stream.Record
	mu         sync.Mutex
	fetched    bool
	failCommit int
	committed  int
}

func (o *orderSource) FetchBatch(ctx context.Context, _ int, _ time.Duration) ([]stream.Record, error) {
	o.mu.Lock()
	if !o.fetched {
		o.fetched = true
		o.mu.Unlock()
		return o.recs, nil
	}
	o.mu.Unlock()
	<-ctx.Done()
	return nil, ctx.Err()
}

func (o *orderSource) Commit(ctx context.Context, recs []stream.Record) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	assert.NotEmpty(o.t, o.sink.count(), "transitions are published before offsets are committed")
	_, metas, err := o.st.Load(ctx, map[string]*store.Request{o.home: {}})
	require.NoError(o.t, err)
	assert.Empty(o.t, metas[o.home].Outbox, "the outbox is cleared before offsets are committed")
	if o.failCommit > 0 {
		o.failCommit--
		return errors.New("group coordinator unavailable")
	}
	o.committed += len(recs)
	return nil
}

func (o *orderSource) done() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.committed
}

// TestTheCycleCommitsPublishesClearsThenCommitsOffsets: a batch is
// committed to Redis (its crossings in the outbox), then published, then
// its outbox cleared, then its offsets committed; a publish or an offset
// commit that fails is retried without going back a step, and each
// crossing is published once.
func TestTheCycleCommitsPublishesClearsThenCommitsOffsets(t *testing.T) {
	t.Parallel()
	r := runOrdered(t, "o-", 2, 2, nil)
	assert.Zero(t, r.sink.failPublish, "both failed publishes were retried")
	assert.Zero(t, r.src.failCommit, "both failed offset commits were retried")
	c, _, err := r.st.Contact(context.Background(), r.evs[1].ContactID)
	require.NoError(t, err)
	assert.Equal(t, int32(len(r.evs)-1), c.Events, "every contact event applied once")
}

// TestTransitionsArePublishedWhileTheBatchFinishes: a batch's transitions
// are published as soon as its homes are committed, not after its derived
// keys and dedupe ids are written, and still once each, with the offsets
// committed after both.
func TestTransitionsArePublishedWhileTheBatchFinishes(t *testing.T) {
	t.Parallel()
	var sink *orderSink
	var seenBefore map[string]int
	r := runOrdered(t, "w-", 0, 0, func(s *Scorer, k *orderSink) {
		sink = k
		s.proc.beforeMarkSeen = func() {
			// The batch waits here for its own transitions: published
			// only once the batch is done, they would never come.
			deadline := time.Now().Add(5 * time.Second)
			for len(sink.count()) == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			seenBefore = sink.count()
		}
	})
	assert.Equal(t, r.sink.count(), seenBefore, "every transition was published before the batch marked its ids seen")
}

// orderedRun is a scorer's run over one history with an orderSink and
// an orderSource.
type orderedRun struct {
	st   *store.Store
	evs  []event.Event
	sink *orderSink
	src  *orderSource
}

// runOrdered runs a scorer over a history (ids prefixed) until its
// offsets are committed, its sink and source failing their first
// failPublish publishes and failCommit commits, with setup given the
// scorer before it runs; it checks that the history crossed thresholds
// and that each crossing was published once.
func runOrdered(t *testing.T, prefix string, failPublish, failCommit int, setup func(*Scorer, *orderSink)) orderedRun {
	t.Helper()
	st := store.New(testutil.RedisClient(t), testutil.Prefix(t))
	evs := history(prefix)
	home := scoring.HomeID(evs[0].AccountID, "")
	sink := &orderSink{t: t, st: st, home: home, failPublish: failPublish}
	src := &orderSource{t: t, st: st, sink: sink, home: home, recs: recordsOf(t, 0, evs...), failCommit: failCommit}
	s, err := New(Config{EventsTopic: "e", TransitionsTopic: "t", DLQTopic: "d", BatchSize: 100, MaxBackoff: 20 * time.Millisecond},
		testutil.Logger(t), src, sink, st, scoring.New(model.Default()), nil)
	require.NoError(t, err)
	if setup != nil {
		setup(s, sink)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	require.Eventually(t, func() bool { return src.done() == len(evs) }, 20*time.Second, 5*time.Millisecond)
	cancel()
	require.NoError(t, <-done)

	published := sink.count()
	require.NotEmpty(t, published, "the history crosses thresholds")
	for id, n := range published {
		assert.Equal(t, 1, n, "%s published once", id)
	}
	return orderedRun{st: st, evs: evs, sink: sink, src: src}
}
