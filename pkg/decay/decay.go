package decay

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/leadscore/leads/pkg/commit"
	"github.com/leadscore/leads/pkg/failpoint"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
)

// Config configures the decayer.
type Config struct {
	Interval   time.Duration
	BatchSize  int
	LeaseTTL   time.Duration
	Owner      string
	MaxBackoff time.Duration
	// Workers is how many groups of shards a pass works on at once
	// (0: DefaultWorkers).
	Workers int
}

// DefaultWorkers keeps Redis and the decayer busy at once: on two cores a
// pass went from 20,000 to 25,000 contacts/s going from 4 to 8, and no
// further at 16.
const DefaultWorkers = 8

// Errors from Validate.
var (
	ErrInterval  = errors.New("--interval must be at least 1s")
	ErrBatchSize = errors.New("--batch-size must be between 1 and 100000")
	ErrWorkers   = fmt.Errorf("--workers must be between 1 and %d (0 means %d)", store.DueGroups, DefaultWorkers)
)

// RegisterFlags adds the decayer's own flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	host, _ := os.Hostname()
	fs.DurationVar(&c.Interval, "interval", time.Minute, "time between passes")
	fs.IntVar(&c.BatchSize, "batch-size", 2000, "contacts decayed per batch")
	fs.DurationVar(&c.LeaseTTL, "lease-ttl", 2*time.Minute, "how long a replica holds a due-index shard")
	fs.StringVar(&c.Owner, "owner", host+"-"+strconv.Itoa(os.Getpid()), "this replica's name in shard leases")
	fs.DurationVar(&c.MaxBackoff, "max-backoff", 10*time.Second, "cap of the exponential backoff while Redis or Kafka is down")
	fs.IntVar(&c.Workers, "workers", DefaultWorkers, "groups of due-index shards a pass decays at once (more load Redis harder)")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Interval < time.Second {
		errs = append(errs, ErrInterval)
	}
	if c.BatchSize < 1 || c.BatchSize > 100000 {
		errs = append(errs, ErrBatchSize)
	}
	if c.Workers < 0 || c.Workers > store.DueGroups {
		errs = append(errs, ErrWorkers)
	}
	return errors.Join(errs...)
}

// Metrics are the decayer's metrics.
type Metrics struct {
	Decayed     prometheus.Counter
	PassSeconds prometheus.Histogram
	PassDecayed prometheus.Gauge
	Backlog     prometheus.Gauge
	Transitions *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them when reg is not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Decayed: prometheus.NewCounter(prometheus.CounterOpts{Name: "leads_decayer_contacts_decayed_total",
			Help: "Contacts whose score or status changed by decay."}),
		PassSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "leads_decayer_pass_seconds",
			Help: "Duration of a pass.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}),
		PassDecayed: prometheus.NewGauge(prometheus.GaugeOpts{Name: "leads_decayer_last_pass_decayed",
			Help: "Contacts decayed by the last pass."}),
		Backlog: prometheus.NewGauge(prometheus.GaugeOpts{Name: "leads_decayer_backlog",
			Help: "Contacts due and not yet decayed, after the last pass."}),
		Transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "leads_decayer_transitions_total",
			Help: "Transitions published, by type."}, []string{"type"}),
	}
	if reg != nil {
		reg.MustRegister(m.Decayed, m.PassSeconds, m.PassDecayed, m.Backlog, m.Transitions)
	}
	return m
}

// Decayer lowers idle scores.
type Decayer struct {
	cfg       Config
	log       *zap.Logger
	st        *store.Store
	engine    *scoring.Engine
	committer *commit.Committer
	metrics   *Metrics
	now       func() time.Time
	ready     atomic.Bool
	// beforeCommit lets tests commit a concurrent change mid-batch.
	beforeCommit func()
}

// New returns a decayer publishing transitions through sink to topic.
func New(cfg Config, log *zap.Logger, st *store.Store, engine *scoring.Engine, sink commit.Sink, topic string, m *Metrics) (*Decayer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Decayer{cfg: cfg, log: log, st: st, engine: engine, metrics: m, now: time.Now,
		committer: &commit.Committer{Store: st, Sink: sink, Topic: topic, Engine: engine, Track: true, Owner: cfg.Owner,
			Writer: commit.DecayerWriter(cfg.Owner)}}, nil
}

// Ready reports whether the last pass reached Redis and Kafka.
func (d *Decayer) Ready() bool { return d.ready.Load() }

// Run makes a pass every interval until ctx ends, retrying failed passes
// with capped exponential backoff.
func (d *Decayer) Run(ctx context.Context) error {
	d.ready.Store(true)
	for {
		b := backoff.NewExponentialBackOff()
		b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = 100*time.Millisecond, d.cfg.MaxBackoff, 0
		err := backoff.Retry(func() error {
			_, err := d.Pass(ctx, d.now())
			if err != nil && ctx.Err() == nil {
				d.ready.Store(false)
				d.log.Warn("decay pass failed; retrying", zap.Error(err))
				return err
			}
			return backoff.Permanent(err)
		}, backoff.WithContext(b, ctx))
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			d.ready.Store(true)
		}
		t := time.NewTimer(d.cfg.Interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// Pass decays every contact due at or before now in the shards this
// replica holds, and returns how many changed.
func (d *Decayer) Pass(ctx context.Context, now time.Time) (int, error) {
	start := time.Now()
	if err := d.drain(ctx); err != nil {
		return 0, err
	}
	var total atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	// Groups in parallel keep Redis busy while Go decays the next batch.
	g.SetLimit(d.workers())
	for group := range store.DueGroups {
		g.Go(func() error {
			n, err := d.group(gctx, group, now)
			total.Add(int64(n))
			return err
		})
	}
	err := g.Wait()
	if err != nil {
		return int(total.Load()), err
	}
	d.metrics.PassSeconds.Observe(time.Since(start).Seconds())
	d.metrics.PassDecayed.Set(float64(total.Load()))
	if n, err := d.st.Backlog(ctx, now); err == nil {
		d.metrics.Backlog.Set(float64(n))
	}
	d.log.Info("decay pass", zap.Time("now", now), zap.Int64("decayed", total.Load()), zap.Duration("took", time.Since(start)))
	return int(total.Load()), nil
}

// drain publishes the crossings a decayer committed and died before
// publishing: they are in outboxes of homes no longer due, which no pass
// would load again. A decayer counts as alive while it holds a lease; one
// restarted under the same --owner drains its own at once.
func (d *Decayer) drain(ctx context.Context) error {
	for {
		var owners map[string]bool
		var unknown bool
		busy := func(owner string) bool {
			if owners == nil && !unknown {
				var err error
				owners, err = d.st.LeaseOwners(ctx)
				unknown = err != nil // then leave every other owner's entries
			}
			return unknown || owners[owner]
		}
		published, more, err := d.committer.Drain(ctx, d.cfg.BatchSize, busy)
		for i := range published {
			d.metrics.Transitions.WithLabelValues(published[i].Type).Inc()
		}
		if len(published) > 0 {
			d.log.Info("published crossings left in outboxes", zap.Int("crossings", len(published)))
		}
		switch {
		case errors.Is(err, store.ErrConflict):
			return nil // committed by someone else meanwhile; the next pass looks again
		case err != nil:
			return fmt.Errorf("drain outboxes: %w", err)
		case !more:
			return nil
		}
	}
}

func (d *Decayer) workers() int {
	if d.cfg.Workers <= 0 {
		return DefaultWorkers
	}
	return d.cfg.Workers
}

// group decays the due contacts of one group of shards, if this replica
// holds its lease.
func (d *Decayer) group(ctx context.Context, group int, now time.Time) (int, error) {
	ok, err := d.st.Lease(ctx, group, d.cfg.Owner, d.cfg.LeaseTTL)
	if err != nil || !ok {
		return 0, err
	}
	total := 0
	var last []string
	for {
		ids, err := d.st.Due(ctx, group, now, d.cfg.BatchSize)
		if err != nil {
			return total, err
		}
		if len(ids) == 0 {
			return total, nil
		}
		if len(ids) == len(last) && ids[0] == last[0] {
			return total, fmt.Errorf("group %d: the same contacts stay due after decay (first %s)", group, ids[0])
		}
		n, err := d.batch(ctx, ids, now)
		if err != nil {
			return total, err
		}
		total += n
		last = ids
		failpoint.Hit(failpoint.DecayBetweenBatches)
		if len(ids) < d.cfg.BatchSize {
			return total, nil
		}
	}
}

// batch decays the given contacts, redoing it when a home changed under it
// (an event for the same contact committed first).
func (d *Decayer) batch(ctx context.Context, ids []string, now time.Time) (int, error) {
	for attempt := 0; ; attempt++ {
		n, err := d.try(ctx, ids, now)
		if !errors.Is(err, store.ErrConflict) || attempt >= 20 {
			return n, err
		}
	}
}

func (d *Decayer) try(ctx context.Context, ids []string, now time.Time) (int, error) {
	where, err := d.st.Locate(ctx, ids)
	if err != nil {
		return 0, err
	}
	ld := commit.NewLoader(ctx, d.st)
	ws := scoring.NewWorkspace(d.engine, ld)
	reqs := map[string]*store.Request{}
	for id, home := range where {
		ws.Locate(id, home)
		if reqs[home] == nil {
			reqs[home] = &store.Request{}
		}
		reqs[home].Contacts = append(reqs[home].Contacts, id)
	}
	if err := ld.Load(ws, reqs); err != nil {
		return 0, err
	}
	changed := 0
	for _, id := range ids {
		ok, err := ws.Decay(id, now)
		if err != nil {
			return changed, err
		}
		if ok {
			changed++
		}
	}
	if d.beforeCommit != nil {
		d.beforeCommit()
	}
	published, err := d.committer.Commit(ctx, commit.Batch{WS: ws, Where: where, Metas: ld.Metas, Before: ld.Before})
	for i := range published {
		d.metrics.Transitions.WithLabelValues(published[i].Type).Inc()
	}
	if err != nil {
		return 0, err
	}
	// The commit re-indexed the contacts it changed; re-index the others too
	// so none stays due: a stale entry (the contact engaged since) or a
	// contact that no longer exists leaves the index.
	due := map[string]int64{}
	for _, id := range ids {
		c := ws.Contact(id)
		switch {
		case c == nil:
			due[id] = 0
		case !ws.Homes[ws.Where[id]].Changed:
			due[id] = d.engine.NextDue(c)
		}
	}
	if len(due) > 0 {
		if err := d.st.WriteDerived(ctx, store.Derived{Due: due}); err != nil {
			return 0, err
		}
	}
	d.metrics.Decayed.Add(float64(changed))
	return changed, nil
}
