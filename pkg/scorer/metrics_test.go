package scorer

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/testutil"
)

// TestInventedEventTypesShareOneSeries: event types are client input, so
// the events counter labels only the types the model knows; 2,000 types a
// client invents (webinar.a.b under a source allowed webinar.* among them)
// are counted under type="other", and the scorer's series stay as many
// as the model makes them.
func TestInventedEventTypesShareOneSeries(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reg := prometheus.NewRegistry()
	metrics := NewMetrics(reg)
	st := store.New(testutil.RedisClient(t), testutil.Prefix(t))
	s, err := New(Config{EventsTopic: "e", TransitionsTopic: "t", DLQTopic: "d", BatchSize: 100, MaxBackoff: time.Second},
		testutil.Logger(t), nil, &flakySink{}, st, scoring.New(model.Default()), metrics)
	require.NoError(t, err)

	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	const invented = 2000
	var evs []event.Event
	for i := range invented {
		typ := fmt.Sprintf("webinar.x%d", i)
		if i%2 == 1 {
			typ = fmt.Sprintf("webinar.a.b%d", i)
		}
		evs = append(evs, event.Event{ID: fmt.Sprintf("inv-%d", i), Type: typ, ContactID: fmt.Sprintf("c-%d", i%20), Time: at})
	}
	for i := range 3 {
		evs = append(evs, event.Event{ID: fmt.Sprintf("known-%d", i), Type: "webinar.attended", ContactID: "c-1", Time: at},
			event.Event{ID: fmt.Sprintf("upd-%d", i), Type: "contact.updated", ContactID: "c-2", Time: at,
				Properties: map[string]any{"title": "VP Engineering"}})
	}
	part := &log{t: t}
	require.NoError(t, s.Process(ctx, part.records(evs...)))

	assert.Equal(t, 3, promtest.CollectAndCount(metrics.Events), "webinar.attended, contact.updated and other")
	assert.InDelta(t, invented, promtest.ToFloat64(metrics.Events.WithLabelValues("other")), 0)
	assert.InDelta(t, 3, promtest.ToFloat64(metrics.Events.WithLabelValues("webinar.attended")), 0)
	assert.InDelta(t, 3, promtest.ToFloat64(metrics.Events.WithLabelValues("contact.updated")), 0)

	// Every series of the scorer is bounded by the model and the code: a
	// second batch of as many new invented types adds none.
	before := series(t, reg)
	var more []event.Event
	for i := range invented {
		more = append(more, event.Event{ID: fmt.Sprintf("more-%d", i), Type: fmt.Sprintf("made.up%d", i), ContactID: "c-3", Time: at})
	}
	require.NoError(t, s.Process(ctx, part.records(more...)))
	assert.Equal(t, before, series(t, reg), "no new series for new invented types")
	assert.Less(t, before, 200, "the scorer's series are few")
}

// series counts the time series a registry exposes (a histogram's
// buckets, sum and count each count).
func series(t *testing.T, g prometheus.Gatherer) int {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	n := 0
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch {
			case m.GetHistogram() != nil:
				n += len(m.GetHistogram().GetBucket()) + 3 // the +Inf bucket, _sum, _count
			case m.GetSummary() != nil:
				n += len(m.GetSummary().GetQuantile()) + 2
			default:
				n++
			}
		}
	}
	return n
}

// TestStepSecondsSayWhereABatchsTimeGoes: the seconds of a batch's steps
// are counted apart; an engine slowed by 400 ms shows in apply, and in no
// other step.
func TestStepSecondsSayWhereABatchsTimeGoes(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	metrics := NewMetrics(prometheus.NewRegistry())
	st := store.New(testutil.RedisClient(t), testutil.Prefix(t))
	s, err := New(Config{EventsTopic: "e", TransitionsTopic: "t", DLQTopic: "d", BatchSize: 100, MaxBackoff: time.Second},
		testutil.Logger(t), nil, &flakySink{}, st, scoring.New(model.Default()), metrics)
	require.NoError(t, err)
	const slow = 400 * time.Millisecond
	apply := s.proc.applyEvent
	s.proc.applyEvent = func(w *scoring.Workspace, ev *event.Event) error {
		if ev.ID == "e-0" {
			time.Sleep(slow)
		}
		return apply(w, ev)
	}
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	var evs []event.Event
	for i := range 10 {
		evs = append(evs, event.Event{ID: fmt.Sprintf("e-%d", i), Type: "webinar.attended", ContactID: fmt.Sprintf("c-%d", i), Time: at})
	}
	require.NoError(t, s.Process(ctx, (&log{t: t}).records(evs...)))

	step := func(name string) float64 { return promtest.ToFloat64(metrics.Steps.WithLabelValues(name)) }
	assert.GreaterOrEqual(t, step("apply"), slow.Seconds())
	for _, name := range []string{"decode", "read", "commit"} {
		assert.Positive(t, step(name), name)
		assert.Less(t, step(name), slow.Seconds(), name)
	}
	assert.Zero(t, step("fetch"), "Process fetches nothing")
	assert.Equal(t, len(batchSteps), promtest.CollectAndCount(metrics.Steps))
}
