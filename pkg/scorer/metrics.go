package scorer

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/leadscore/leads/pkg/scoring"
)

// Metrics are the scorer's Prometheus metrics. Every label takes values
// from configuration or code, never from what clients send: a series costs
// the monitoring system memory for as long as it is kept.
type Metrics struct {
	// Events counts applied events by type; a type the model does not know
	// counts as OtherType.
	Events      *prometheus.CounterVec
	Transitions *prometheus.CounterVec
	Duplicates  prometheus.Counter
	DeadLetters prometheus.Counter
	Conflicts   prometheus.Counter
	Retries     *prometheus.CounterVec
	// Stalled is how long the scorer has been retrying a step (0 when it
	// is not): a stall shows whatever the lag says.
	Stalled      prometheus.Gauge
	BatchSeconds prometheus.Histogram
	BatchEvents  prometheus.Histogram
	// EventLatency is from ingest (the record's timestamp) to the Redis commit.
	EventLatency prometheus.Histogram
	// TransitionLatency is from ingest of the causing event to the
	// transition acknowledged on the transitions topic.
	TransitionLatency prometheus.Histogram
	// Steps counts the seconds the batches' path spends in each of
	// batchSteps: their rates say where a scorer's time goes.
	Steps *prometheus.CounterVec
}

// batchSteps are the steps of a batch's path, in order (Metrics.Steps):
// waiting for and reading records (idle time included), decoding them,
// reading what they need from Redis (dedupe and homes), applying them,
// and committing (ledgers planned, states encoded, commit scripts run).
var batchSteps = []string{"fetch", "decode", "read", "apply", "commit"}

// retrySteps are the steps the scorer retries (Scorer.retry's what).
var retrySteps = []string{"fetch", "process batch", "publish transitions", "commit offsets"}

// latencyBuckets are fine enough to read p50 and p99 from: 1 ms steps to
// 10 ms, then wider.
var latencyBuckets = []float64{0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.008, 0.010, 0.015, 0.020, 0.030, 0.040, 0.050,
	0.075, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30}

// NewMetrics creates the metrics and registers them when reg is not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "leads_scorer_events_total",
			Help: "Events applied, by type: the types the model knows, every other type as \"other\"."}, []string{"type"}),
		Transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "leads_scorer_transitions_total",
			Help: "Transitions published, by type."}, []string{"type"}),
		Duplicates: prometheus.NewCounter(prometheus.CounterOpts{Name: "leads_scorer_dedupe_hits_total",
			Help: "Events skipped as already applied (offset watermark or event id)."}),
		DeadLetters: prometheus.NewCounter(prometheus.CounterOpts{Name: "leads_scorer_dead_letters_total",
			Help: "Events sent to the DLQ."}),
		Conflicts: prometheus.NewCounter(prometheus.CounterOpts{Name: "leads_scorer_version_conflicts_total",
			Help: "Batches redone because another writer committed a home first."}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "leads_scorer_retries_total",
			Help: "Retries after Redis or Kafka errors, by step."}, []string{"step"}),
		Stalled: prometheus.NewGauge(prometheus.GaugeOpts{Name: "leads_scorer_stalled_seconds",
			Help: "How long the scorer has been retrying its current batch or post after errors (0 when it is not)."}),
		BatchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "leads_scorer_batch_seconds",
			Help: "Time to process and commit one batch.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		BatchEvents: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "leads_scorer_batch_events",
			Help: "Events per batch.", Buckets: prometheus.ExponentialBuckets(1, 4, 9)}),
		EventLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "leads_scorer_event_latency_seconds",
			Help: "From ingest to the score committed in Redis.", Buckets: latencyBuckets}),
		TransitionLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "leads_scorer_transition_latency_seconds",
			Help: "From ingest of the causing event to the transition published.", Buckets: latencyBuckets}),
		Steps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "leads_scorer_step_seconds_total",
			Help: "Seconds the batches' path spent in each step: fetch (idle included), decode, read, apply, commit."},
			[]string{"step"}),
	}
	for _, step := range batchSteps {
		m.Steps.WithLabelValues(step)
	}
	// Every series a dashboard or an alert asks for exists from the start,
	// at 0, rather than appearing with the first retry or crossing.
	for _, step := range retrySteps {
		m.Retries.WithLabelValues(step)
	}
	for _, typ := range scoring.CrossingTypes {
		m.Transitions.WithLabelValues(typ)
	}
	if reg != nil {
		reg.MustRegister(m.Events, m.Transitions, m.Duplicates, m.DeadLetters, m.Conflicts, m.Retries, m.Stalled, m.BatchSeconds, m.BatchEvents,
			m.EventLatency, m.TransitionLatency, m.Steps)
	}
	return m
}

// OtherType is the type label of events whose type the model does not
// know: clients may send any type (a source allowed "webinar.*" may send
// "webinar.a.b"), and each would otherwise be a series of its own.
const OtherType = "other"

// spent adds the time since start to a step of batchSteps, and returns now.
func (m *Metrics) spent(step string, start time.Time) time.Time {
	now := time.Now()
	m.Steps.WithLabelValues(step).Add(now.Sub(start).Seconds())
	return now
}

func (m *Metrics) observeBatch(n int, d time.Duration) {
	m.BatchSeconds.Observe(d.Seconds())
	m.BatchEvents.Observe(float64(n))
}
