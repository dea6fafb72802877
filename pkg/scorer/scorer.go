package scorer

import (
	"context"
	"errors"
	"flag"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"

	"github.com/leadscore/leads/pkg/commit"
	"github.com/leadscore/leads/pkg/failpoint"
	"github.com/leadscore/leads/pkg/retry"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/stream"
)

// Config configures the scorer service.
type Config struct {
	EventsTopic      string
	TransitionsTopic string
	DLQTopic         string
	BatchSize        int
	Linger           time.Duration
	// MaxBackoff caps the wait between retries of Redis or Kafka.
	MaxBackoff time.Duration
	// MaxAttempts and DedupeWindow are the Processor's (ProcessorConfig).
	MaxAttempts  int
	DedupeWindow time.Duration
}

// DefaultDedupeWindow is the dedupe window unless configured.
const DefaultDedupeWindow = 24 * time.Hour

// Errors from Validate.
var (
	ErrNoTopic   = errors.New("events, transitions and DLQ topics are required")
	ErrBatchSize = errors.New("--batch-size must be between 1 and 100000")
	ErrWindow    = errors.New("--dedupe-window must be at least 1m")
)

// RegisterFlags adds the scorer's own flags; the topics come from the
// common flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.BatchSize, "batch-size", 20000, "most events processed in one batch")
	fs.DurationVar(&c.Linger, "batch-linger", time.Millisecond, "longest wait to fill a batch after its first event")
	fs.DurationVar(&c.MaxBackoff, "max-backoff", 10*time.Second, "cap of the exponential backoff while Redis or Kafka is down")
	fs.IntVar(&c.MaxAttempts, "max-attempts", 3, "tries of an event the engine or its home fails on before it goes to the DLQ")
	fs.DurationVar(&c.DedupeWindow, "dedupe-window", DefaultDedupeWindow,
		"an event id posted again within this time of the first copy's ingest scores once (later than twice this, again)")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.EventsTopic == "" || c.TransitionsTopic == "" || c.DLQTopic == "" {
		errs = append(errs, ErrNoTopic)
	}
	if c.BatchSize < 1 || c.BatchSize > 100000 {
		errs = append(errs, ErrBatchSize)
	}
	if c.DedupeWindow != 0 && c.DedupeWindow < time.Minute {
		errs = append(errs, ErrWindow)
	}
	return errors.Join(errs...)
}

// Source is where event records come from: a consumer group.
type Source interface {
	FetchBatch(ctx context.Context, max int, linger time.Duration) ([]stream.Record, error)
	Commit(ctx context.Context, recs []stream.Record) error
}

// Sink publishes records and returns once they are durable.
type Sink interface {
	Publish(ctx context.Context, recs ...stream.Record) error
}

// Scorer consumes events and keeps scores: it fetches batches, has the
// Processor commit them to Redis, then delivers their posts and commits
// their offsets, in batch order, while the next batch is processed.
type Scorer struct {
	cfg     Config
	log     *zap.Logger
	src     Source
	proc    *Processor
	metrics *Metrics
	now     func() time.Time
	ready   atomic.Bool
	stalls  stalls
}

// stalls remembers since when each retried step has been failing, for the
// stalled gauge: the batch loop and the post loop retry apart.
type stalls struct {
	mu    sync.Mutex
	since map[string]time.Time
}

// set records that step failed (at now) or succeeded, and returns how long
// the oldest failing step has been failing.
func (st *stalls) set(step string, failing bool, now time.Time) time.Duration {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.since == nil {
		st.since = map[string]time.Time{}
	}
	if _, ok := st.since[step]; failing && !ok {
		st.since[step] = now
	} else if !failing {
		delete(st.since, step)
	}
	var longest time.Duration
	for _, t := range st.since {
		longest = max(longest, now.Sub(t))
	}
	return longest
}

// New returns a scorer. metrics may be nil.
func New(cfg Config, log *zap.Logger, src Source, sink Sink, st *store.Store, engine *scoring.Engine, metrics *Metrics) (*Scorer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	committer := &commit.Committer{Store: st, Sink: sink, Topic: cfg.TransitionsTopic, Engine: engine, Writer: commit.ScorerWriter(),
		KeepEarlierDue: true}
	proc := NewProcessor(ProcessorConfig{MaxAttempts: cfg.MaxAttempts, DedupeWindow: cfg.DedupeWindow, Latency: true}, log,
		committer, ToDLQ{Sink: sink, Topic: cfg.DLQTopic, Now: time.Now}, metrics)
	return &Scorer{cfg: cfg, log: log, src: src, proc: proc, metrics: metrics, now: time.Now}, nil
}

// Ready reports whether the last round trips to Redis and Kafka succeeded.
func (s *Scorer) Ready() bool { return s.ready.Load() }

// Run consumes until ctx is cancelled. A batch in flight when ctx ends is
// abandoned before its offsets are committed: it is redelivered and, being
// idempotent, applied once.
func (s *Scorer) Run(ctx context.Context) error {
	s.ready.Store(true)
	// While a batch's transitions are published, the next batch is already
	// applied and committed to Redis, and the offsets of the batches
	// published before are committed. Posts run in batch order, so
	// transitions stay in order, and offsets are committed in that order,
	// each after its batch's transitions are published.
	//
	// A batch's transitions are published as soon as its homes are
	// committed, while its derived keys and the ids it saw are written:
	// its post is handed on early (without records), and the batch comes
	// again once processed, with its records, for the offset commit.
	//
	// Those derived keys and ids are written while the next batch is
	// processed (see finisher; after its reads when the scorer is behind:
	// see finisher.wait), and the offsets wait for them too.
	posts := make(chan *Processed, 1)
	delivered := make(chan *Processed, commitQueue)
	done, committed := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		defer close(delivered)
		for p := range posts {
			if p.Post.Handed() && p.Records != nil {
				delivered <- p // published when handed on
				continue
			}
			err := s.retry(ctx, "publish transitions", func() error { return s.proc.Deliver(ctx, p) })
			if p.Post.Handed() {
				p.Post.Settled()
				continue
			}
			if err != nil {
				continue // only ctx ends retries; drain
			}
			delivered <- p
		}
	}()
	s.proc.early = func(p *Processed) { posts <- p }
	defer func() { s.proc.early = nil }()
	// Each batch's derived keys and ids seen are written while the next
	// batch is processed, by a goroutine of their own, in batch order:
	// finishes holds one batch waiting, so a slow finish holds up the
	// batches after it.
	s.proc.later = &finisher{}
	finishes, finished := make(chan *unfinished, 1), make(chan struct{})
	go func() {
		defer close(finished)
		failed := false
		for u := range finishes {
			s.proc.later.wait(ctx, u.batch)
			// Once one fails (only the run's end does), none after it
			// counts as finished.
			failed = failed || s.retry(ctx, "finish batch", func() error { return s.proc.finish(ctx, u) }) != nil
			u.ok = !failed
			close(u.done)
		}
	}()
	go func() {
		defer close(committed)
		s.commitOffsets(ctx, delivered)
	}()
	defer func() {
		close(posts)
		s.proc.later.open()
		close(finishes)
		<-finished
		<-done
		<-committed
		s.proc.later = nil
	}()
	// A failing fetch does not clear readiness: with no new events the
	// next fetch would block, and nothing would set it again. The readiness
	// check pings the brokers instead.
	fetchBackoff := s.backoff()
	for {
		// A fetch that waits this long waits for events, and no batch
		// reads Redis: the batches not yet finished may be.
		idle := time.AfterFunc(finishWhenIdle, s.proc.later.allow)
		fetching := time.Now()
		recs, err := s.src.FetchBatch(ctx, s.cfg.BatchSize, s.cfg.Linger)
		idle.Stop()
		s.metrics.spent("fetch", fetching)
		// A batch that is not full, and whose first event was waited for
		// (as far as the source says), says the scorer has caught up with
		// the events.
		caughtUp := len(recs) < s.cfg.BatchSize
		if w, ok := s.src.(waiter); ok && w.Waited() < waitedFor {
			caughtUp = false
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			s.metrics.Retries.WithLabelValues("fetch").Inc()
			wait := fetchBackoff.NextBackOff()
			s.log.Warn("fetch failed; retrying", zap.Duration("in", wait), zap.Error(err))
			if !sleep(ctx, wait) {
				return nil
			}
			continue
		}
		fetchBackoff.Reset()
		if len(recs) == 0 {
			continue
		}
		start := s.now()
		var p *Processed
		if err := s.retry(ctx, "process batch", func() (err error) { p, err = s.proc.Process(ctx, recs); return err }); err != nil {
			return nil // only ctx ends retries
		}
		p.fetched = start
		if caughtUp {
			s.proc.later.allow() // see finisher.wait
		}
		select {
		case finishes <- p.finish:
		case <-ctx.Done():
			return nil
		}
		select {
		case posts <- p:
		case <-ctx.Done():
			return nil
		}
	}
}

// finishWhenIdle is how long a fetch waits before the batches processed
// are finished without waiting for the next batch's reads (see
// finisher.wait): longer than a fetch of a batch whose records are
// already queued (about 20-25 ms for the 11,000 records of an average
// BenchmarkScorer1M batch), so that a busy scorer's reads go first, and
// short enough that an idle scorer's last batch is indexed and its
// offsets committed soon after.
const finishWhenIdle = 100 * time.Millisecond

// waiter is a Source that says how long its last fetch waited for its
// first record (stream.Consumer).
type waiter interface{ Waited() time.Duration }

// waitedFor is the shortest wait for a fetch's first record that says it
// was not already queued.
const waitedFor = time.Millisecond

// commitQueue is how many published batches may wait for their offset
// commit before the posts wait for it.
const commitQueue = 64

// commitOffsets commits the offsets of the batches delivered, in order.
// An offset commit is a round trip to the group coordinator (1-2 ms on
// Apache Kafka, tens in its tail): made apart from the posts, it no longer
// delays the next batch's transitions, and the batches published while it
// ran are committed together in the next one.
func (s *Scorer) commitOffsets(ctx context.Context, delivered <-chan *Processed) {
	var batch []*Processed
	for p := range delivered {
		batch = append(batch[:0], p)
	more:
		for len(batch) < commitQueue {
			select {
			case p, ok := <-delivered:
				if !ok {
					break more
				}
				batch = append(batch, p)
			default:
				break more
			}
		}
		recs := batch[0].Records
		if len(batch) > 1 {
			recs = nil
			for _, p := range batch {
				recs = append(recs, p.Records...)
			}
		}
		// A batch's offsets wait for its derived keys and ids seen.
		finished := true
		for _, p := range batch {
			if p.finish != nil {
				<-p.finish.done
				finished = finished && p.finish.ok
			}
		}
		if !finished {
			continue // the run ended first; drain
		}
		for range batch {
			failpoint.Hit(failpoint.ScorerBeforeOffsetCommit)
		}
		if s.retry(ctx, "commit offsets", func() error { return s.src.Commit(ctx, recs) }) != nil {
			continue // only ctx ends retries; drain
		}
		now := s.now()
		for _, p := range batch {
			s.metrics.observeBatch(len(p.Records), now.Sub(p.fetched))
		}
	}
}

// Process runs a batch's whole write cycle but the offset commit: it
// commits the batch to Redis and delivers its post.
func (s *Scorer) Process(ctx context.Context, recs []stream.Record) error {
	p, err := s.proc.Process(ctx, recs)
	if err != nil {
		return err
	}
	return s.proc.Deliver(ctx, p)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// backoff is exponential from 100 ms, capped at MaxBackoff, with the
// library's ±50% jitter, and never gives up.
func (s *Scorer) backoff() *backoff.ExponentialBackOff {
	limit := s.cfg.MaxBackoff
	if limit <= 0 {
		limit = 10 * time.Second
	}
	return retry.Backoff(100*time.Millisecond, limit)
}

// retry runs op with capped exponential backoff and jitter until it succeeds
// or ctx ends; readiness is false while it fails.
func (s *Scorer) retry(ctx context.Context, what string, op func() error) error {
	b := s.backoff()
	attempt := 0
	return backoff.Retry(func() error {
		err := op()
		if err == nil {
			s.ready.Store(true)
			s.metrics.Stalled.Set(s.stalls.set(what, false, s.now()).Seconds())
			return nil
		}
		if ctx.Err() != nil {
			return backoff.Permanent(ctx.Err())
		}
		attempt++
		s.ready.Store(false)
		s.metrics.Stalled.Set(s.stalls.set(what, true, s.now()).Seconds())
		s.metrics.Retries.WithLabelValues(what).Inc()
		s.log.Warn(what+" failed; retrying", zap.Int("attempt", attempt), zap.Error(err))
		return err
	}, backoff.WithContext(b, ctx))
}
