package scorer

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the scorer's Prometheus metrics.
type Metrics struct {
	Events       *prometheus.CounterVec
	Transitions  *prometheus.CounterVec
	Duplicates   prometheus.Counter
	DeadLetters  prometheus.Counter
	Conflicts    prometheus.Counter
	Retries      *prometheus.CounterVec
	BatchSeconds prometheus.Histogram
	BatchEvents  prometheus.Histogram
}

// NewMetrics creates the metrics and registers them when reg is not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "leads_scorer_events_total",
			Help: "Events applied, by type."}, []string{"type"}),
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
		BatchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "leads_scorer_batch_seconds",
			Help: "Time to process and commit one batch.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		BatchEvents: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "leads_scorer_batch_events",
			Help: "Events per batch.", Buckets: prometheus.ExponentialBuckets(1, 4, 9)}),
	}
	if reg != nil {
		reg.MustRegister(m.Events, m.Transitions, m.Duplicates, m.DeadLetters, m.Conflicts, m.Retries, m.BatchSeconds, m.BatchEvents)
	}
	return m
}

func (m *Metrics) observeBatch(n int, d time.Duration) {
	m.BatchSeconds.Observe(d.Seconds())
	m.BatchEvents.Observe(float64(n))
}
