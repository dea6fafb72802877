package scorer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/leadscore/leads/pkg/decay"
	"github.com/leadscore/leads/pkg/demo"
	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/stream"
	"github.com/leadscore/leads/pkg/testutil"
)

// log is a partition of the events topic for tests that call Process: it
// hands out offsets in order, as Kafka would to each post of a client, and
// stamps records with the time at (now unless set), as the ingestor's
// producer would.
type log struct {
	t         *testing.T
	partition int
	next      int64
	at        time.Time
}

func (l *log) records(evs ...event.Event) []stream.Record {
	l.t.Helper()
	recs := make([]stream.Record, len(evs))
	for i := range evs {
		v, err := json.Marshal(&evs[i])
		require.NoError(l.t, err)
		if l.at.IsZero() {
			l.at = time.Now()
		}
		recs[i] = stream.Record{Topic: "e", Partition: l.partition, Offset: l.next, Value: v, Key: []byte(evs[i].Key()), Time: l.at}
		l.next++
	}
	return recs
}

// opened is an email open of contact in account (none when "").
func opened(id, contact, account string, at time.Time) event.Event {
	return event.Event{ID: id, Type: "email.opened", ContactID: contact, AccountID: account, Time: at}
}

func historyOf(t *testing.T, st *store.Store, contact string) []string {
	t.Helper()
	entries, err := st.History(context.Background(), contact, 1000)
	require.NoError(t, err)
	var causes []string
	for _, e := range entries {
		causes = append(causes, e.Cause)
	}
	return causes
}

// TestIDsShapedLikeKeysReachNothingElse: ids holding the characters keys
// are built with ('{', '}', ':') neither break a commit nor share a key with
// another subject: the ledger of contact "k}" in account "evil" and the home
// of account "evil}:l:k" were one key, so every later batch failed with
// WRONGTYPE (in one order) or a commit stopped half way (in the other), and
// contacts "y}:l:z" in "acme" and "z" in "acme}:l:y" shared one history.
func TestIDsShapedLikeKeysReachNothingElse(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	for _, tc := range []struct {
		name  string
		first event.Event
		then  event.Event
	}{
		{"ledger first", opened("h1", "k}", "evil", at), opened("h2", "k2", "evil}:l:k", at)},
		{"home first", opened("h1", "k2", "evil}:l:k", at), opened("h2", "k}", "evil", at)},
		{"shared ledger", opened("h1", "y}:l:z", "acme", at), opened("h2", "z", "acme}:l:y", at)},
		{"contact home", opened("h1", "q}:l:q", "", at), opened("h2", "q", "q}", at)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newScorers(t)
			s, st := f.at("ns", nil, &flakySink{})
			part := &log{t: t}
			require.NoError(t, s.Process(ctx, part.records(tc.first)))
			require.NoError(t, s.Process(ctx, part.records(tc.then)))
			require.NoError(t, s.Process(ctx, part.records(opened("o1", "c-1", "acme.io", at))), "an ordinary contact is scored after them")
			for _, ev := range []event.Event{tc.first, tc.then} {
				c, _, err := st.Contact(ctx, ev.ContactID)
				require.NoError(t, err)
				assert.Equal(t, int32(1), c.Events, "contact %q", ev.ContactID)
				assert.Equal(t, []string{ev.ID}, historyOf(t, st, ev.ContactID), "the history of %q is its own", ev.ContactID)
			}
			c, _, err := st.Contact(ctx, "c-1")
			require.NoError(t, err)
			assert.Equal(t, int32(5), c.Behavior)
		})
	}
}

// TestHostilePairsLeaveOthersUntouched: two subjects with ids drawn to look
// like key syntax, scored before and between an ordinary contact's events,
// change nothing of the ordinary contact: its state and history are those
// of a namespace that never saw them, and each hostile contact's history is
// its own.
func TestHostilePairsLeaveOthersUntouched(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := newScorers(t)
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	n := 0
	rapid.Check(t, func(rt *rapid.T) {
		n++
		ns := "p" + strconv.Itoa(n)
		hostile, _ := f.at(ns+"h", nil, &flakySink{})
		clean, cleanStore := f.at(ns+"c", nil, &flakySink{})
		_, st := f.at(ns+"h", nil, &flakySink{})
		var evs []event.Event
		contacts := map[string]string{}
		for i, sub := range testutil.HostilePair().Draw(rt, "pair") {
			c, a := sub.Contact, sub.Account
			if _, ok := contacts[c]; ok || c == "c-1" {
				continue
			}
			if rapid.IntRange(0, 3).Draw(rt, "without an account") == 0 {
				a = ""
			}
			id := "h" + strconv.Itoa(i)
			contacts[c] = id
			evs = append(evs, opened(id, c, a, at))
		}
		ordinary := []event.Event{opened("o1", "c-1", "acme.io", at), opened("o2", "c-1", "acme.io", at.Add(time.Minute))}
		hp, cp := &log{t: t}, &log{t: t}
		require.NoError(t, hostile.Process(ctx, hp.records(append(evs, ordinary[0])...)))
		require.NoError(t, hostile.Process(ctx, hp.records(ordinary[1])))
		require.NoError(t, clean.Process(ctx, cp.records(ordinary...)))
		want, _, err := cleanStore.Contact(ctx, "c-1")
		require.NoError(t, err)
		got, _, err := st.Contact(ctx, "c-1")
		require.NoError(t, err)
		assert.Equal(t, want, got)
		assert.Equal(t, historyOf(t, cleanStore, "c-1"), historyOf(t, st, "c-1"))
		for c, id := range contacts {
			assert.Equal(t, []string{id}, historyOf(t, st, c), "the history of %q", c)
		}
	})
}

// TestDecayerBesideAScorerPublishesEachCrossingOnce: the decayer commits a
// home while a scorer's batch on it is committed and not yet published.
// Neither publishes the other's crossings, and the scorer's later batches
// do not publish them again: every crossing once, on a run with no fault.
func TestDecayerBesideAScorerPublishesEachCrossingOnce(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := time.Now().UTC().Truncate(time.Second)
	f := newScorers(t)
	sink := &flakySink{}
	s, st := f.at("ns", nil, sink)
	d, err := decay.New(decay.Config{Interval: time.Minute, BatchSize: 100, LeaseTTL: time.Minute, Owner: "d1"},
		testutil.Logger(t), st, s.proc.engine, sink, "t", nil)
	require.NoError(t, err)
	part := &log{t: t}
	// An idle contact of the account, due for decay now.
	idle := now.AddDate(0, 0, -45)
	require.NoError(t, s.Process(ctx, part.records(opened("old-1", "c-old", "p-acme.io", idle),
		event.Event{ID: "old-2", Type: "webinar.attended", ContactID: "c-old", AccountID: "p-acme.io", Time: idle},
		event.Event{ID: "old-3", Type: "meeting.booked", ContactID: "c-old", AccountID: "p-acme.io", Time: idle})))
	evs := history("p-")
	for i := range evs {
		evs[i].Time = now.Add(-time.Hour).Add(time.Duration(i) * time.Minute)
	}
	p, err := s.proc.Process(ctx, part.records(evs...))
	require.NoError(t, err)
	require.NotEmpty(t, p.Post.Crossings, "the batch crosses")
	n, err := d.Pass(ctx, now)
	require.NoError(t, err)
	require.Equal(t, 1, n, "the idle contact decayed while the batch's crossings were in its home's outbox")
	require.NoError(t, s.proc.Deliver(ctx, p))
	// A later batch on the same home.
	require.NoError(t, s.Process(ctx, part.records(opened("p-late", "p-c-42", "p-acme.io", now))))

	count := map[string]int{}
	for _, id := range sink.ids(t) {
		count[id]++
	}
	for id, n := range count {
		assert.Equal(t, 1, n, "%s published %d times", id, n)
	}
	for i := range p.Post.Crossings {
		x := &p.Post.Crossings[i]
		assert.Contains(t, count, x.Type+"/"+x.ID(), "the batch's crossings are published")
	}
	_, metas, err := st.Load(ctx, map[string]*store.Request{"a:p-acme.io": {}})
	require.NoError(t, err)
	assert.Empty(t, metas["a:p-acme.io"].Outbox, "published crossings leave the outbox")
}

// contactState reads a contact, failing the test when it is missing.
func contactState(t *testing.T, st *store.Store, id string) *scoring.Contact {
	t.Helper()
	c, _, err := st.Contact(context.Background(), id)
	require.NoError(t, err)
	return c
}

// TestRetriedBatchesScoreOnce: a client that times out posts its whole
// batch again, twice: a 10,000-event batch holding 500 events of one
// contact, delivered three times at new offsets, scores as if it came
// once, for that contact and every other.
func TestRetriedBatchesScoreOnce(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now().UTC().Add(-30 * 24 * time.Hour).Truncate(time.Second)
	gen := demo.New(11, 200, start, "")
	batch := append(gen.Accounts(), gen.Next(10000-500-len(gen.Accounts()), time.Minute)...)
	for i := range 500 {
		ev := opened(fmt.Sprintf("hot-%d", i), "hot", gen.Accounts()[0].AccountID, start.Add(time.Duration(i)*time.Minute))
		if i%5 == 0 {
			ev.Type = "webinar.attended"
		}
		batch = append(batch, ev)
	}
	require.Len(t, batch, 10000)
	f := newScorers(t)
	once, onceStore := f.at("once", nil, &flakySink{})
	require.NoError(t, once.Process(ctx, (&log{t: t}).records(batch...)))

	sink := &flakySink{}
	retried, st := f.at("retried", nil, sink)
	part := &log{t: t}
	for range 3 {
		require.NoError(t, retried.Process(ctx, part.records(batch...)))
	}
	want, got := contactState(t, onceStore, "hot"), contactState(t, st, "hot")
	assert.Equal(t, int32(500), got.Events)
	assert.Equal(t, want, got)
	for _, ev := range batch[:50] {
		if !ev.IsAccountEvent() {
			assert.Equal(t, contactState(t, onceStore, ev.ContactID), contactState(t, st, ev.ContactID))
		}
	}
	assert.Equal(t, historyOf(t, onceStore, "hot"), historyOf(t, st, "hot"))
}

// TestIDRepostedAfterManyOthersScoresOnce: one event posted again after
// 1,000 other events of the same contact is still a duplicate.
func TestIDRepostedAfterManyOthersScoresOnce(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Second)
	first := event.Event{ID: "first", Type: "meeting.booked", ContactID: "c-1", Time: start}
	var others []event.Event
	for i := range 1000 {
		others = append(others, opened(fmt.Sprintf("o-%d", i), "c-1", "", start.Add(time.Duration(i)*time.Second)))
	}
	s, st := newScorers(t).at("ns", nil, &flakySink{})
	part := &log{t: t}
	require.NoError(t, s.Process(ctx, part.records(first)))
	require.NoError(t, s.Process(ctx, part.records(others...)))
	before := contactState(t, st, "c-1")
	require.NoError(t, s.Process(ctx, part.records(first)))
	assert.Equal(t, before, contactState(t, st, "c-1"))
	assert.Equal(t, int32(1001), before.Events)
}

// TestMovedContactKeepsItsHistory: a contact that moves to another account
// keeps its whole history, readable from its new home, in order, and the
// old home keeps no ledger of it. Moves within one batch too.
func TestMovedContactKeepsItsHistory(t *testing.T) {
	t.Parallel()
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	move := func(id, contact, to string, min int) event.Event {
		return event.Event{ID: id, Type: "contact.updated", ContactID: contact, AccountID: to, Time: at.Add(time.Duration(min) * time.Minute),
			Properties: map[string]any{"title": "VP Marketing"}}
	}
	for _, tc := range []struct {
		name    string
		batches [][]event.Event
		home    string
	}{
		{"across batches", [][]event.Event{
			{opened("e1", "c-1", "old.io", at), opened("e2", "c-1", "old.io", at.Add(time.Minute))},
			{move("e3", "c-1", "new.io", 2)},
			{opened("e4", "c-1", "new.io", at.Add(3*time.Minute))},
		}, "a:new.io"},
		{"in one batch", [][]event.Event{
			{opened("e1", "c-1", "old.io", at), opened("e2", "c-1", "old.io", at.Add(time.Minute))},
			{move("e3", "c-1", "mid.io", 2), opened("e4", "c-1", "mid.io", at.Add(3*time.Minute)), move("e5", "c-1", "new.io", 4)},
		}, "a:new.io"},
		{"from no account", [][]event.Event{
			{opened("e1", "c-1", "", at)},
			{opened("e2", "c-1", "new.io", at.Add(time.Minute))},
		}, "a:new.io"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s, st := newScorers(t).at("ns", nil, &flakySink{})
			once, onceStore := newScorers(t).at("once", nil, &flakySink{})
			part := &log{t: t}
			var all []event.Event
			for _, b := range tc.batches {
				require.NoError(t, s.Process(ctx, part.records(b...)))
				all = append(all, b...)
			}
			// The same events applied in one batch give the same history.
			require.NoError(t, once.Process(ctx, (&log{t: t}).records(all...)))
			_, home, err := st.Contact(ctx, "c-1")
			require.NoError(t, err)
			assert.Equal(t, tc.home, home)
			got := historyOf(t, st, "c-1")
			assert.Equal(t, historyOf(t, onceStore, "c-1"), got)
			causes := map[string]bool{}
			for _, c := range got {
				causes[c] = true
			}
			for _, ev := range all {
				if ev.Type == "email.opened" {
					assert.True(t, causes[ev.ID], "%s is in the history %v", ev.ID, got)
				}
			}
			keys, err := st.Client().Keys(ctx, "ns:{*}:l:*").Result()
			require.NoError(t, err)
			assert.Equal(t, []string{"ns:{a:new.io}:l:c-1"}, keys, "no ledger left behind")
		})
	}
}

// TestAHomeThatCannotBeReadGoesToTheDLQ: a home whose stored state no
// longer decodes (written by hand, or by a bug) fails every batch that
// touches it. Its events go to the DLQ after MaxAttempts tries, naming the
// home; the events of other homes, before and after it, are scored.
func TestAHomeThatCannotBeReadGoesToTheDLQ(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.cfg.MaxAttempts = 2
	r.cfg.MaxBackoff = 100 * time.Millisecond
	require.NoError(t, r.st.Client().HSet(r.ctx, r.st.HomeKey("a:bad.io"), "c:x", "\x07not a state").Err())
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	r.publish(t,
		opened("ok1", "y", "good.io", at),
		opened("bad", "x", "bad.io", at.Add(time.Minute)),
		opened("ok2", "y", "good.io", at.Add(2*time.Minute)),
		opened("ok3", "z", "", at.Add(2*time.Minute)),
	)
	stop := r.run(t)
	defer stop()
	dlq := r.read(t, r.cfg.DLQTopic, 1, 20*time.Second)
	require.Len(t, dlq, 1)
	assert.Contains(t, string(dlq[0].Value), `"bad"`)
	assert.Contains(t, dlq[0].HeaderValue(stream.HeaderDLQError), "a:bad.io")
	require.Eventually(t, func() bool {
		y, _, err := r.st.Contact(r.ctx, "y")
		z, _, err2 := r.st.Contact(r.ctx, "z")
		return err == nil && err2 == nil && y.Events == 2 && z.Events == 1
	}, 20*time.Second, 20*time.Millisecond, "the events of other homes are scored")
}

// TestARetryingScorerShowsItsStall: while a step is retried, the scorer
// reports not ready and how long it has been stalled; both clear once the
// step succeeds.
func TestARetryingScorerShowsItsStall(t *testing.T) {
	t.Parallel()
	s, err := New(Config{EventsTopic: "e", TransitionsTopic: "t", DLQTopic: "d", BatchSize: 10, MaxBackoff: 10 * time.Millisecond},
		testutil.Logger(t), nil, &flakySink{}, nil, nil, nil)
	require.NoError(t, err)
	s.ready.Store(true)
	calls := 0
	var stalled []float64
	var ready []bool
	require.NoError(t, s.retry(context.Background(), "process batch", func() error {
		calls++
		stalled = append(stalled, promtest.ToFloat64(s.metrics.Stalled))
		ready = append(ready, s.Ready())
		if calls < 3 {
			time.Sleep(5 * time.Millisecond)
			return errors.New("redis: connection refused")
		}
		return nil
	}))
	assert.Equal(t, []bool{true, false, false}, ready)
	assert.Zero(t, stalled[0])
	assert.Greater(t, stalled[2], stalled[1], "stalled since the first failure")
	assert.GreaterOrEqual(t, stalled[2], 0.005, "at least the second try's 5 ms")
	assert.Zero(t, promtest.ToFloat64(s.metrics.Stalled))
	assert.True(t, s.Ready())
}

// TestACopyPastTheWindowScoresAgain: --dedupe-window bounds how long an id
// is remembered: a copy posted within it is skipped, one posted more than
// twice the window after the first scores again.
func TestACopyPastTheWindowScoresAgain(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f := newScorers(t)
	st := store.New(f.rdb, "ns")
	s, err := New(Config{EventsTopic: "e", TransitionsTopic: "t", DLQTopic: "d", BatchSize: 100, MaxBackoff: time.Second,
		DedupeWindow: time.Hour}, testutil.Logger(t), nil, &flakySink{}, st, scoring.New(model.Default()), nil)
	require.NoError(t, err)
	ev := event.Event{ID: "e1", Type: "meeting.booked", ContactID: "c-1", Time: time.Now().UTC().Add(-5 * time.Hour).Truncate(time.Second)}
	t0 := time.Now()
	for _, tc := range []struct {
		after  time.Duration
		events int32
	}{{0, 1}, {50 * time.Minute, 1}, {3 * time.Hour, 2}} {
		part := &log{t: t, next: int64(tc.after), at: t0.Add(tc.after)}
		require.NoError(t, s.Process(ctx, part.records(ev)))
		assert.Equal(t, tc.events, contactState(t, st, "c-1").Events, "posted again %s after", tc.after)
	}
}
