package scorer

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/embedded"
	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/stream"
	"github.com/leadscore/leads/pkg/testutil"
	"github.com/leadscore/leads/pkg/transition"
)

type rig struct {
	ctx      context.Context
	cfg      Config
	brokers  []string
	st       *store.Store
	w        *stream.Writer
	group    string
	consumer stream.Config
	redis    *embedded.Redis
}

func newRig(t *testing.T) *rig {
	t.Helper()
	p := testutil.Prefix(t)
	cfg := Config{EventsTopic: p + ".events", TransitionsTopic: p + ".transitions", DLQTopic: p + ".dlq", BatchSize: 500,
		Linger: 5 * time.Millisecond, MaxBackoff: time.Second}
	// First: the first test to ask may wait for an Apache Kafka to start.
	brokers := testutil.Kafka(t, 4, cfg.EventsTopic, cfg.TransitionsTopic, cfg.DLQTopic)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	addr, rs := testutil.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	sc := stream.Config{Brokers: brokers, SessionTimeout: time.Second}
	w := stream.NewWriter(sc, testutil.Logger(t))
	t.Cleanup(func() { w.Close() })
	return &rig{ctx: ctx, cfg: cfg, brokers: brokers, st: store.New(rdb, p), w: w, group: p + "-scorer", consumer: sc, redis: rs}
}

func (r *rig) publish(t *testing.T, evs ...event.Event) {
	t.Helper()
	recs := make([]stream.Record, len(evs))
	for i := range evs {
		b, err := json.Marshal(evs[i])
		require.NoError(t, err)
		recs[i] = stream.Record{Topic: r.cfg.EventsTopic, Key: []byte(evs[i].Key()), Value: b}
	}
	require.NoError(t, r.w.Publish(r.ctx, recs...))
}

// run starts a scorer until the returned stop is called; setup, when given,
// adjusts the scorer before it starts.
func (r *rig) run(t *testing.T, setup ...func(*Scorer)) (stop func()) {
	t.Helper()
	src := stream.NewConsumer(r.consumer, r.group, r.cfg.EventsTopic, testutil.Logger(t))
	s, err := New(r.cfg, testutil.Logger(t), src, r.w, r.st, scoring.New(model.Default()), nil)
	require.NoError(t, err)
	for _, f := range setup {
		f(s)
	}
	ctx, cancel := context.WithCancel(r.ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return func() {
		cancel()
		require.NoError(t, <-done)
		require.NoError(t, src.Close())
	}
}

// read consumes a topic from the start until n records or the deadline.
func (r *rig) read(t *testing.T, topic string, n int, wait time.Duration) []stream.Record {
	t.Helper()
	c := stream.NewConsumer(r.consumer, testutil.Prefix(t)+"-reader", topic, testutil.Logger(t))
	defer c.Close()
	ctx, cancel := context.WithTimeout(r.ctx, wait)
	defer cancel()
	var out []stream.Record
	for len(out) < n {
		batch, err := c.FetchBatch(ctx, n-len(out), 20*time.Millisecond)
		if err != nil {
			break
		}
		out = append(out, batch...)
	}
	return out
}

var base = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func history(prefix string) []event.Event {
	acct := prefix + "acme.io"
	c := prefix + "c-42"
	at := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }
	return []event.Event{
		{ID: prefix + "a1", Type: "account.updated", AccountID: acct, Time: at(0), Properties: map[string]any{
			"name": "Acme", "employees": 5000.0, "industry": "software", "country": "US", "revenue": 4e8}},
		{ID: prefix + "e1", Type: "contact.updated", ContactID: c, AccountID: acct, Time: at(1), Properties: map[string]any{
			"first_name": "Ada", "last_name": "Lovelace", "email": "ada@acme.io", "title": "VP Engineering", "company": "Acme"}},
		{ID: prefix + "e2", Type: "content.downloaded", ContactID: c, AccountID: acct, Time: at(2), Properties: map[string]any{"asset_type": "whitepaper"}},
		{ID: prefix + "e3", Type: "webinar.attended", ContactID: c, AccountID: acct, Time: at(3)},
		{ID: prefix + "e4", Type: "web.page_viewed", ContactID: c, AccountID: acct, Time: at(4), Properties: map[string]any{"url": "https://acme.io/pricing"}},
		{ID: prefix + "e5", Type: "web.page_viewed", ContactID: c, AccountID: acct, Time: at(5), Properties: map[string]any{"url": "https://acme.io/pricing"}},
	}
}

func ceTypes(t *testing.T, recs []stream.Record) (types, ids []string) {
	t.Helper()
	for _, r := range recs {
		var ce transition.CloudEvent
		require.NoError(t, json.Unmarshal(r.Value, &ce))
		types = append(types, ce.Type+"/"+ce.Subject+"/"+ce.Data.Cause)
		ids = append(ids, ce.ID)
	}
	sort.Strings(types)
	sort.Strings(ids)
	return types, ids
}

func TestScoresAndPublishesTransitions(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	stop := r.run(t)
	defer stop()
	p := "t1-"
	r.publish(t, history(p)...)
	// fit = VP 10 + employees 15 + software 10 + US 5 + revenue 10 = 50. Behavior: whitepaper 20
	// (total 70), webinar 25 (45: mid, AQL's behavior gate; total 95: MQL; account fit 40 is past
	// AQL's account gate: AQL), first pricing visit 0, second +30 (75: late). Account 40+75 = 115
	// stays under MQA's 120.
	want := []string{
		"lead.became_aql/" + p + "c-42/" + p + "e3",
		"lead.became_mql/" + p + "c-42/" + p + "e3",
		"lead.stage_changed/" + p + "c-42/" + p + "e3",
		"lead.stage_changed/" + p + "c-42/" + p + "e5",
	}
	got, _ := ceTypes(t, r.read(t, r.cfg.TransitionsTopic, len(want), 20*time.Second))
	assert.Equal(t, want, got)
	c, home, err := r.st.Contact(r.ctx, p+"c-42")
	require.NoError(t, err)
	assert.Equal(t, "a:"+p+"acme.io", home)
	assert.Equal(t, int32(75), c.Behavior)
	assert.Equal(t, int32(50), c.Fit)
	assert.Equal(t, "A", c.Grade)
	assert.Equal(t, model.Late, c.Stage)
	assert.True(t, c.MQL)
	assert.True(t, c.AQL)
}

func TestPoisonGoesToDLQAndThePartitionMovesOn(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	stop := r.run(t)
	defer stop()
	require.NoError(t, r.w.Publish(r.ctx,
		stream.Record{Topic: r.cfg.EventsTopic, Key: []byte("x"), Value: []byte(`{not json`)},
		stream.Record{Topic: r.cfg.EventsTopic, Key: []byte("x"), Value: []byte(`{"id":"p1","type":"BAD","contact_id":"x","time":"2026-11-02T09:00:00Z"}`)},
	))
	r.publish(t, event.Event{ID: "ok1", Type: "meeting.booked", ContactID: "x", Time: base})
	dlq := r.read(t, r.cfg.DLQTopic, 2, 20*time.Second)
	require.Len(t, dlq, 2)
	for _, d := range dlq {
		assert.Equal(t, r.cfg.EventsTopic, d.HeaderValue(stream.HeaderDLQTopic))
		assert.NotEmpty(t, d.HeaderValue(stream.HeaderDLQError))
		assert.NotEmpty(t, d.HeaderValue(stream.HeaderDLQOffset))
	}
	require.Eventually(t, func() bool {
		c, _, err := r.st.Contact(r.ctx, "x")
		return err == nil && c.Behavior == 40
	}, 20*time.Second, 20*time.Millisecond)
}

func TestRedeliveryAppliesOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	p := "t3-"
	h := history(p)
	r.publish(t, h...)
	// The same events again: a retried HTTP post (new offsets, same ids).
	r.publish(t, h...)
	stop := r.run(t)
	first, _ := ceTypes(t, r.read(t, r.cfg.TransitionsTopic, 4, 20*time.Second))
	require.Len(t, first, 4)
	require.Eventually(t, func() bool {
		c, _, err := r.st.Contact(r.ctx, p+"c-42")
		return err == nil && c.Events == 5
	}, 20*time.Second, 20*time.Millisecond)
	stop()
	// Redeliver everything: a new group reads the topic from the start.
	r.group += "-again"
	stop = r.run(t)
	defer stop()
	more := r.publishMarker(t, p)
	require.Eventually(t, func() bool {
		c, _, err := r.st.Contact(r.ctx, more)
		return err == nil && c.Events == 1
	}, 20*time.Second, 20*time.Millisecond)
	c, _, err := r.st.Contact(r.ctx, p+"c-42")
	require.NoError(t, err)
	assert.Equal(t, int32(5), c.Events, "each event applied once")
	assert.Equal(t, int32(75), c.Behavior)
	all, ids := ceTypes(t, r.read(t, r.cfg.TransitionsTopic, 100, 2*time.Second))
	assert.Equal(t, first, all, "no transition published twice")
	assert.Len(t, ids, 4)
}

func (r *rig) publishMarker(t *testing.T, p string) string {
	id := p + "marker"
	r.publish(t, event.Event{ID: fmt.Sprint(id, "-e"), Type: "email.opened", ContactID: id, Time: base})
	return id
}

// TestRedisOutageIsRetriedNotDropped: redis-server stops while events
// arrive; the scorer backs off, is not ready, and applies every event once
// Redis is back.
func TestRedisOutageIsRetriedNotDropped(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	if r.redis.Kind() != "redis-server" {
		t.Skip("needs redis-server to stop and restart it")
	}
	// A Redis with AOF, so that its data outlives the outage.
	aof, err := embedded.StartRedis(r.ctx, testutil.Logger(t), embedded.RedisOptions{AppendOnly: true})
	require.NoError(t, err)
	defer aof.Close()
	rdb := redis.NewClient(&redis.Options{Addr: aof.Addr()})
	defer rdb.Close()
	r.st, r.redis = store.New(rdb, "out"), aof
	src := stream.NewConsumer(r.consumer, r.group, r.cfg.EventsTopic, testutil.Logger(t))
	defer src.Close()
	s, err := New(r.cfg, testutil.Logger(t), src, r.w, r.st, scoring.New(model.Default()), nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(r.ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	p := "out-"
	r.publish(t, history(p)[:2]...)
	require.Eventually(t, func() bool {
		c, _, err := r.st.Contact(r.ctx, p+"c-42")
		return err == nil && c.Events == 1
	}, 20*time.Second, 20*time.Millisecond)

	require.NoError(t, r.redis.Stop())
	r.publish(t, history(p)[2:]...)
	require.Eventually(t, func() bool { return !s.Ready() }, 20*time.Second, 20*time.Millisecond, "not ready while Redis is down")
	require.NoError(t, r.redis.Start(r.ctx))
	require.Eventually(t, func() bool {
		c, _, err := r.st.Contact(r.ctx, p+"c-42")
		return err == nil && c.Events == 5
	}, 30*time.Second, 50*time.Millisecond, "every event applied after the outage")
	require.Eventually(t, s.Ready, 10*time.Second, 20*time.Millisecond)
	c, _, err := r.st.Contact(r.ctx, p+"c-42")
	require.NoError(t, err)
	assert.Equal(t, int32(75), c.Behavior, "each event once")
}

// TestEngineFailureIsRetriedThenDeadLettered: an event the engine panics
// on is retried a bounded number of times, then goes to the DLQ with
// headers naming the error, topic, partition, offset and time; the events
// around it are scored.
func TestEngineFailureIsRetriedThenDeadLettered(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.cfg.MaxAttempts = 2
	r.cfg.MaxBackoff = 100 * time.Millisecond
	var tries atomic.Int32
	boom := func(s *Scorer) {
		s.proc.applyEvent = func(ws *scoring.Workspace, ev *event.Event) error {
			if ev.ID == "boom" {
				tries.Add(1)
				panic("engine bug")
			}
			return ws.Apply(ev)
		}
	}
	r.publish(t,
		event.Event{ID: "ok1", Type: "meeting.booked", ContactID: "x", Time: base},
		event.Event{ID: "boom", Type: "webinar.attended", ContactID: "x", Time: base.Add(time.Minute)},
		event.Event{ID: "ok2", Type: "webinar.attended", ContactID: "x", Time: base.Add(2 * time.Minute)},
	)
	var orig stream.Record
	require.NoError(t, stream.Scan(r.ctx, r.consumer, r.cfg.EventsTopic, 0, func(rec stream.Record) error {
		if strings.Contains(string(rec.Value), `"boom"`) {
			orig = rec
		}
		return nil
	}))
	before := time.Now().UTC().Add(-time.Second)
	stop := r.run(t, boom)
	defer stop()

	dlq := r.read(t, r.cfg.DLQTopic, 1, 20*time.Second)
	require.Len(t, dlq, 1)
	d := dlq[0]
	assert.JSONEq(t, string(orig.Value), string(d.Value), "the event as it was")
	assert.Equal(t, orig.Key, d.Key)
	assert.Contains(t, d.HeaderValue(stream.HeaderDLQError), "engine failed 2 times")
	assert.Contains(t, d.HeaderValue(stream.HeaderDLQError), "engine bug")
	assert.Contains(t, d.HeaderValue(stream.HeaderDLQStack), "TestEngineFailureIsRetriedThenDeadLettered",
		"the panic's stack names where it panicked")
	assert.Equal(t, r.cfg.EventsTopic, d.HeaderValue(stream.HeaderDLQTopic))
	assert.Equal(t, strconv.Itoa(orig.Partition), d.HeaderValue(stream.HeaderDLQPartition))
	assert.Equal(t, strconv.FormatInt(orig.Offset, 10), d.HeaderValue(stream.HeaderDLQOffset))
	at, err := time.Parse(time.RFC3339Nano, d.HeaderValue(stream.HeaderDLQTime))
	require.NoError(t, err)
	assert.WithinRange(t, at, before, time.Now().UTC().Add(time.Second))
	require.Eventually(t, func() bool {
		c, _, err := r.st.Contact(r.ctx, "x")
		return err == nil && c.Events == 2
	}, 20*time.Second, 20*time.Millisecond, "the events around it are scored")
	assert.Equal(t, int32(2), tries.Load(), "tried MaxAttempts times, then set aside unapplied")
}
