package scorer

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/leadscore/leads/pkg/stream"
)

// Lag exports where the scorers' consumer group stands on each partition
// of the events topic, as Run last read it from the brokers: records not
// yet done (leads_scorer_lag_records) and the age of the oldest of them
// (leads_scorer_oldest_unprocessed_age_seconds). It reads apart from the
// batches, so that while a batch is retried, its partition's lag grows
// with what arrives and the age keeps rising. Done means committed: the
// event scored, its transitions published and its offset committed.
type Lag struct {
	read  func(context.Context) ([]stream.PartitionLag, error)
	every time.Duration
	log   *zap.Logger
	now   func() time.Time

	mu      sync.Mutex
	parts   []stream.PartitionLag
	failing bool

	records, age *prometheus.Desc
}

// lagReadTimeout bounds one read of the lag.
const lagReadTimeout = 10 * time.Second

// NewLag returns the lag metrics, read with read every interval by Run.
func NewLag(read func(context.Context) ([]stream.PartitionLag, error), every time.Duration, log *zap.Logger) *Lag {
	labels := []string{"topic", "partition"}
	return &Lag{read: read, every: every, log: log, now: time.Now,
		records: prometheus.NewDesc("leads_scorer_lag_records",
			"Records of the partition the scorers' consumer group has not committed yet (end offset minus committed offset), "+
				"as last read from the brokers.", labels, nil),
		age: prometheus.NewDesc("leads_scorer_oldest_unprocessed_age_seconds",
			"Age of the partition's oldest record not committed yet (now minus its ingest time); 0 when none is left.", labels, nil)}
}

// Describe implements prometheus.Collector.
func (l *Lag) Describe(ch chan<- *prometheus.Desc) {
	ch <- l.records
	ch <- l.age
}

// Collect implements prometheus.Collector. The age is taken at the
// scrape, so it rises between reads, and while reads fail.
func (l *Lag) Collect(ch chan<- prometheus.Metric) {
	l.mu.Lock()
	parts := l.parts
	l.mu.Unlock()
	now := l.now()
	for _, p := range parts {
		partition := strconv.Itoa(p.Partition)
		age := 0.0
		if p.Records() > 0 && !p.Oldest.IsZero() {
			age = max(now.Sub(p.Oldest).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(l.records, prometheus.GaugeValue, float64(p.Records()), p.Topic, partition)
		ch <- prometheus.MustNewConstMetric(l.age, prometheus.GaugeValue, age, p.Topic, partition)
	}
}

// Run reads the lag at once, then every interval, until ctx ends. A read
// that fails leaves the last one in place, with a warning.
func (l *Lag) Run(ctx context.Context) error {
	t := time.NewTicker(l.every)
	defer t.Stop()
	for {
		l.refresh(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (l *Lag) refresh(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, lagReadTimeout)
	parts, err := l.read(rctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		if !l.failing {
			l.log.Warn("reading the consumer group's lag failed; the lag metrics keep the last reading", zap.Error(err))
		}
		l.failing = true
		return
	}
	if l.failing {
		l.log.Info("reading the consumer group's lag again")
	}
	l.parts, l.failing = parts, false
}
