package decay

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/leadscore/leads/pkg/commit"
	"github.com/leadscore/leads/pkg/failpoint"
	"github.com/leadscore/leads/pkg/retry"
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
	fs.DurationVar(&c.LeaseTTL, "lease-ttl", 2*time.Minute, "how long a replica holds a due-index shard after its last pass (a replica that stops cleanly releases its shards)")
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
	NotLeased   prometheus.Gauge
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
		NotLeased: prometheus.NewGauge(prometheus.GaugeOpts{Name: "leads_decayer_groups_not_leased",
			Help: "Groups of due-index shards the last pass could not lease: other decayers held them."}),
		Transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "leads_decayer_transitions_total",
			Help: "Transitions published, by type."}, []string{"type"}),
	}
	for _, typ := range scoring.CrossingTypes {
		m.Transitions.WithLabelValues(typ) // every series from the start, at 0
	}
	if reg != nil {
		reg.MustRegister(m.Decayed, m.PassSeconds, m.PassDecayed, m.Backlog, m.NotLeased, m.Transitions)
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

// New returns a decayer publishing transitions through sink to topic, or,
// with a nil sink, withholding them (a backfill's namespace).
func New(cfg Config, log *zap.Logger, st *store.Store, engine *scoring.Engine, sink commit.Sink, topic string, m *Metrics) (*Decayer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Decayer{cfg: cfg, log: log, st: st, engine: engine, metrics: m, now: time.Now,
		committer: &commit.Committer{Store: st, Sink: sink, Topic: topic, Engine: engine, Withhold: sink == nil, Track: true, Owner: cfg.Owner,
			Writer: commit.DecayerWriter(cfg.Owner)}}, nil
}

// Ready reports whether the last pass reached Redis and Kafka.
func (d *Decayer) Ready() bool { return d.ready.Load() }

// Run makes a pass every interval until ctx ends, retrying failed passes
// with capped exponential backoff, then releases its shard leases.
func (d *Decayer) Run(ctx context.Context) error {
	defer d.release(ctx)
	d.ready.Store(true)
	for {
		b := retry.Backoff(100*time.Millisecond, d.cfg.MaxBackoff)
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
// replica can lease, and returns how many changed. Shards another replica
// holds are left to it (it decays them), with a warning and the gauge
// leads_decayer_groups_not_leased saying how many.
func (d *Decayer) Pass(ctx context.Context, now time.Time) (int, error) {
	start := time.Now()
	n, held, err := d.pass(ctx, now, allGroups())
	if err != nil {
		return n, err
	}
	if len(held) > 0 {
		d.log.Warn("groups of due-index shards not leased: left to the decayers that hold them",
			zap.Int("groups", len(held)), zap.Strings("owners", owners(held)))
	}
	d.passDone(ctx, start, now, n)
	return n, nil
}

// onceMargin is how much longer than the lease TTL Once waits for a lease:
// a decayer that died holds its leases for the TTL at most.
const onceMargin = time.Second

// Once makes the one pass of `decayer --once`, which must decay every
// contact due at now: groups of shards another decayer holds are tried
// again with backoff until their lease is released or expires, for up to
// the lease TTL and onceMargin after the first pass; then Once fails with
// a *NotLeasedError naming them. A live decayer renews its leases, so
// Once fails beside one unless it shares its --owner. Once releases its
// own leases before it returns, so the next run can lease them at once.
func (d *Decayer) Once(ctx context.Context, now time.Time) (int, error) {
	defer d.release(ctx)
	start := time.Now()
	n, held, err := d.pass(ctx, now, allGroups())
	if err != nil {
		return n, err
	}
	if len(held) > 0 {
		wait := d.cfg.LeaseTTL + onceMargin
		d.log.Warn("groups of due-index shards not leased: waiting for their leases to be released or expire",
			zap.Int("groups", len(held)), zap.Strings("owners", owners(held)), zap.Duration("up_to", wait))
		deadline := time.Now().Add(wait)
		limit := time.Second
		if d.cfg.MaxBackoff > 0 {
			limit = min(limit, d.cfg.MaxBackoff)
		}
		b := retry.Backoff(50*time.Millisecond, limit)
		for len(held) > 0 {
			left := time.Until(deadline)
			if left <= 0 {
				return n, &NotLeasedError{Groups: held, Waited: wait}
			}
			t := time.NewTimer(min(left, b.NextBackOff()))
			select {
			case <-ctx.Done():
				t.Stop()
				return n, ctx.Err()
			case <-t.C:
			}
			groups := make([]int, 0, len(held))
			for g := range held {
				groups = append(groups, g)
			}
			var more int
			more, held, err = d.pass(ctx, now, groups)
			n += more
			if err != nil {
				return n, err
			}
		}
	}
	d.passDone(ctx, start, now, n)
	return n, nil
}

// NotLeasedError names the groups of due-index shards Once could not
// lease: their due contacts were not decayed.
type NotLeasedError struct {
	// Groups maps each group to the owner of its lease when last seen
	// ("" if it had just expired).
	Groups map[int]string
	// Waited is how long Once waited for them.
	Waited time.Duration
}

func (e *NotLeasedError) Error() string {
	byOwner := map[string][]int{}
	for g, o := range e.Groups {
		byOwner[o] = append(byOwner[o], g)
	}
	var parts []string
	for _, o := range slices.Sorted(maps.Keys(byOwner)) {
		gs := byOwner[o]
		slices.Sort(gs)
		nums := make([]string, len(gs))
		for i, g := range gs {
			nums[i] = strconv.Itoa(g)
		}
		word := "group"
		if len(gs) > 1 {
			word = "groups"
		}
		if o == "" {
			o = "(a lease that just expired)"
		}
		parts = append(parts, fmt.Sprintf("%s (%s %s)", o, word, strings.Join(nums, ", ")))
	}
	return fmt.Sprintf("%d of %d groups of due-index shards not decayed: still leased by other decayers after waiting %s: %s",
		len(e.Groups), store.DueGroups, e.Waited, strings.Join(parts, "; "))
}

func allGroups() []int {
	groups := make([]int, store.DueGroups)
	for g := range groups {
		groups[g] = g
	}
	return groups
}

// owners are the owners of the leases in held, sorted, for the logs.
func owners(held map[int]string) []string {
	var out []string
	for _, o := range held {
		if o != "" && !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	slices.Sort(out)
	return out
}

// pass decays the due contacts of the groups of shards it can lease, and
// returns how many changed and the groups other owners hold (group →
// owner), which it also sets the gauge to.
func (d *Decayer) pass(ctx context.Context, now time.Time, groups []int) (int, map[int]string, error) {
	if err := d.publishOrphans(ctx); err != nil {
		return 0, nil, err
	}
	var total atomic.Int64
	var mu sync.Mutex
	var missed []int
	g, gctx := errgroup.WithContext(ctx)
	// Groups in parallel keep Redis busy while Go decays the next batch.
	g.SetLimit(d.workers())
	for _, group := range groups {
		g.Go(func() error {
			n, leased, err := d.group(gctx, group, now)
			total.Add(int64(n))
			if err == nil && !leased {
				mu.Lock()
				missed = append(missed, group)
				mu.Unlock()
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return int(total.Load()), nil, err
	}
	held := map[int]string{}
	if len(missed) > 0 {
		leases, err := d.st.Leases(ctx)
		if err != nil {
			return int(total.Load()), nil, err
		}
		for _, g := range missed {
			held[g] = leases[g]
		}
	}
	d.metrics.NotLeased.Set(float64(len(held)))
	return int(total.Load()), held, nil
}

// passDone records a finished pass.
func (d *Decayer) passDone(ctx context.Context, start, now time.Time, decayed int) {
	d.metrics.PassSeconds.Observe(time.Since(start).Seconds())
	d.metrics.PassDecayed.Set(float64(decayed))
	if n, err := d.st.Backlog(ctx, now); err == nil {
		d.metrics.Backlog.Set(float64(n))
	}
	d.log.Info("decay pass", zap.Time("now", now), zap.Int("decayed", decayed), zap.Duration("took", time.Since(start)))
}

// releaseTimeout bounds the release of the leases at shutdown (the
// contract: exit within 10 s of SIGTERM, whatever Redis does).
const releaseTimeout = 2 * time.Second

// release gives up this decayer's shard leases once it stops cleanly, so
// that the next decayer need not wait out the lease TTL. The run's context
// is usually cancelled by then (SIGTERM), so it uses a short one of its
// own. A release that fails only delays the next decayer by the TTL.
func (d *Decayer) release(ctx context.Context) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	n, err := d.st.ReleaseLeases(rctx, d.cfg.Owner)
	if err != nil {
		d.log.Warn("shard leases not released; they expire after --lease-ttl", zap.String("owner", d.cfg.Owner),
			zap.Duration("lease_ttl", d.cfg.LeaseTTL), zap.Error(err))
		return
	}
	d.log.Info("shard leases released", zap.String("owner", d.cfg.Owner), zap.Int("groups", n))
}

// publishOrphans publishes the crossings a decayer committed and died
// before publishing: they are in outboxes of homes no longer due, which no pass
// would load again. A decayer counts as alive while it holds a lease; one
// restarted under the same --owner publishes its own at once.
func (d *Decayer) publishOrphans(ctx context.Context) error {
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
		published, more, err := d.committer.PublishOrphans(ctx, d.cfg.BatchSize, busy)
		for i := range published {
			d.metrics.Transitions.WithLabelValues(published[i].Type).Inc()
		}
		if len(published) > 0 {
			d.log.Info("published crossings left in outboxes", zap.Int("crossings", len(published)))
		}
		switch {
		case err != nil:
			return fmt.Errorf("publish orphaned crossings: %w", err)
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

// group decays the due contacts of one group of shards if this replica
// can lease it, and reports whether it could.
func (d *Decayer) group(ctx context.Context, group int, now time.Time) (int, bool, error) {
	ok, err := d.st.Lease(ctx, group, d.cfg.Owner, d.cfg.LeaseTTL)
	if err != nil || !ok {
		return 0, ok, err
	}
	total := 0
	var last []string
	for {
		ids, err := d.st.Due(ctx, group, now, d.cfg.BatchSize)
		if err != nil {
			return total, true, err
		}
		if len(ids) == 0 {
			return total, true, nil
		}
		if len(ids) == len(last) && ids[0] == last[0] {
			return total, true, fmt.Errorf("group %d: the same contacts stay due after decay (first %s)", group, ids[0])
		}
		n, err := d.batch(ctx, ids, now)
		if err != nil {
			return total, true, err
		}
		total += n
		last = ids
		failpoint.Hit(failpoint.DecayBetweenBatches)
		if len(ids) < d.cfg.BatchSize {
			return total, true, nil
		}
	}
}

// batch decays the given contacts through the write cycle (commit.Cycle):
// it is loaded and decayed again when a home changed under it (an event
// for the same contact committed first).
func (d *Decayer) batch(ctx context.Context, ids []string, now time.Time) (int, error) {
	changed := 0
	p, err := d.committer.Cycle(ctx, func(need *commit.Needs) (*commit.Post, error) {
		changed = 0
		b, err := d.committer.Load(ctx, ids, func(ws *scoring.Workspace) map[string]*store.Request {
			reqs := map[string]*store.Request{}
			for id, home := range ws.Where {
				if reqs[home] == nil {
					reqs[home] = &store.Request{}
				}
				reqs[home].Contacts = append(reqs[home].Contacts, id)
			}
			return reqs
		}, need)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			ok, err := b.WS.Decay(id, now)
			if err != nil && !errors.Is(err, scoring.ErrNotLoaded) {
				return nil, err
			}
			if ok {
				changed++
			}
		}
		if d.beforeCommit != nil {
			d.beforeCommit()
		}
		p, err := d.committer.Commit(ctx, b)
		if err != nil {
			return p, err
		}
		return p, d.reindex(ctx, b.WS, ids)
	}, d.deliver)
	if err != nil {
		return 0, err
	}
	if err := d.deliver(ctx, p); err != nil {
		return 0, err
	}
	d.metrics.Decayed.Add(float64(changed))
	return changed, nil
}

// reindex puts the contacts the commit did not re-index back in the due
// index, so none stays due: a stale entry (the contact engaged since) or a
// contact that no longer exists leaves the index.
func (d *Decayer) reindex(ctx context.Context, ws *scoring.Workspace, ids []string) error {
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
	if len(due) == 0 {
		return nil
	}
	return d.st.WriteDerived(ctx, store.Derived{Due: due})
}

// deliver publishes a post's crossings and counts them.
func (d *Decayer) deliver(ctx context.Context, p *commit.Post) error {
	if err := d.committer.Deliver(ctx, p); err != nil {
		return err
	}
	if p != nil {
		for i := range p.Crossings {
			d.metrics.Transitions.WithLabelValues(p.Crossings[i].Type).Inc()
		}
	}
	return nil
}
