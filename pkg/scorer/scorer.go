package scorer

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"

	"github.com/leadscore/leads/pkg/commit"
	"github.com/leadscore/leads/pkg/event"
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
	// Quiet publishes no transitions (a replay into a namespace of its own).
	Quiet bool
	// MaxAttempts bounds how often an event that makes the engine fail
	// (an error other than Redis's, or a panic), or whose home fails
	// (store.HomeError), is retried before it goes to the DLQ; 0 means 3.
	MaxAttempts int
	// DedupeWindow is how long after an event's ingest its id is surely
	// recognised again (see store.SeenBefore); 0 means DefaultDedupeWindow.
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

// Scorer consumes events and keeps scores.
type Scorer struct {
	cfg     Config
	log     *zap.Logger
	src     Source
	sink    Sink
	st      *store.Store
	engine  *scoring.Engine
	metrics *Metrics
	now     func() time.Time
	ready   atomic.Bool

	committer *commit.Committer
	// failures counts, per record, the tries of its batch that failed on
	// it (the engine's error, or its home's), with the last error.
	failures map[recordID]failure
	// applyEvent is Workspace.Apply; tests replace it to make the engine fail.
	applyEvent func(ws *scoring.Workspace, ev *event.Event) error
	// afterLoad lets tests finish a post between a load and what follows.
	afterLoad func()
	// forgotten is, per partition, the newest dedupe bucket deleted.
	forgotten map[int32]int64
	stalls    stalls
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
	return &Scorer{cfg: cfg, log: log, src: src, sink: sink, st: st, engine: engine, metrics: metrics, now: time.Now,
		failures: map[recordID]failure{}, forgotten: map[int32]int64{}, applyEvent: (*scoring.Workspace).Apply,
		committer: &commit.Committer{Store: st, Sink: sink, Topic: cfg.TransitionsTopic, Engine: engine, Quiet: cfg.Quiet,
			Writer: commit.ScorerWriter()}}, nil
}

// Ready reports whether the last round trips to Redis and Kafka succeeded.
func (s *Scorer) Ready() bool { return s.ready.Load() }

// Run consumes until ctx is cancelled. A batch in flight when ctx ends is
// abandoned before its offsets are committed: it is redelivered and, being
// idempotent, applied once.
func (s *Scorer) Run(ctx context.Context) error {
	s.ready.Store(true)
	// While a batch's transitions are published and its offsets committed,
	// the next batch is already applied and committed to Redis. Posts run
	// in batch order, so transitions and offsets stay in order.
	posts := make(chan pending, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for p := range posts {
			if s.retry(ctx, "publish transitions", func() error { return s.post(ctx, p.post) }) != nil {
				continue // only ctx ends retries; drain
			}
			failpoint.Hit(failpoint.ScorerBeforeOffsetCommit)
			if s.retry(ctx, "commit offsets", func() error { return s.src.Commit(ctx, p.recs) }) != nil {
				continue
			}
			s.metrics.observeBatch(len(p.recs), s.now().Sub(p.start))
		}
	}()
	defer func() {
		close(posts)
		<-done
	}()
	// A failing fetch does not clear readiness: with no new events the
	// next fetch would block, and nothing would set it again. The readiness
	// check pings the brokers instead.
	fetchBackoff := s.backoff()
	for {
		recs, err := s.src.FetchBatch(ctx, s.cfg.BatchSize, s.cfg.Linger)
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
		var p *batchPost
		if err := s.retry(ctx, "process batch", func() (err error) { p, err = s.stage(ctx, recs); return err }); err != nil {
			return nil // only ctx ends retries
		}
		select {
		case posts <- pending{post: p, recs: recs, start: start}:
		case <-ctx.Done():
			return nil
		}
	}
}

// pending is a batch committed to Redis whose transitions and offsets are
// still to be published and committed.
type pending struct {
	post  *batchPost
	recs  []stream.Record
	start time.Time
}

// batchPost is a commit's post plus when its events were ingested, for the
// transition latency.
type batchPost struct {
	*commit.Post
	ingested map[string]time.Time
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

// item is one decoded record of a batch.
type item struct {
	rec stream.Record
	ev  event.Event
}

// Process applies a batch of records once and publishes its transitions:
// it is safe to call again with the same records after any failure.
func (s *Scorer) Process(ctx context.Context, recs []stream.Record) error {
	_, err := s.ProcessCount(ctx, recs)
	return err
}

// ProcessCount is Process that also says how many crossings the batch
// caused (published, or kept back by a Quiet scorer).
func (s *Scorer) ProcessCount(ctx context.Context, recs []stream.Record) (int, error) {
	p, err := s.stage(ctx, recs)
	if err != nil {
		return 0, err
	}
	if err := s.post(ctx, p); err != nil {
		return 0, err
	}
	if p == nil || p.Post == nil {
		return 0, nil
	}
	return len(p.Crossings) + p.Withheld, nil
}

// stage applies a batch and commits it to Redis, dead-lettering records
// that cannot be processed; what is left to do is in the returned post.
func (s *Scorer) stage(ctx context.Context, recs []stream.Record) (*batchPost, error) {
	items := make([]item, 0, len(recs))
	for _, rec := range recs {
		var it item
		it.rec = rec
		if err := decode(rec.Value, &it.ev); err != nil {
			if err := s.deadLetter(ctx, rec, err); err != nil {
				return nil, err
			}
			continue
		}
		items = append(items, it)
	}
	for attempt := 0; ; attempt++ {
		p, err := s.apply(ctx, items)
		if err == nil {
			return p, nil
		}
		// What did commit is published before the batch is redone or
		// tried again.
		perr := s.post(ctx, p)
		if perr != nil {
			// Crossings of this scorer stay unpublished in outboxes, and a
			// scorer publishes only other writers' (commit.Committer): it
			// writes under a new name from now, so that its next loads
			// publish them.
			s.committer.Writer = commit.ScorerWriter()
		}
		if perr != nil || !errors.Is(err, store.ErrConflict) || attempt >= store.ConflictRedos {
			return nil, errors.Join(err, perr)
		}
		s.metrics.Conflicts.Inc()
		s.log.Debug("home changed under us; reloading", zap.Error(err))
	}
}

// post publishes a committed batch's transitions and clears its outboxes.
func (s *Scorer) post(ctx context.Context, p *batchPost) error {
	if p == nil || p.Post == nil {
		return nil
	}
	if err := s.committer.Publish(ctx, p.Post); err != nil {
		return err
	}
	now := s.now()
	for i := range p.Crossings {
		x := &p.Crossings[i]
		s.metrics.Transitions.WithLabelValues(x.Type).Inc()
		if at, ok := p.ingested[x.Cause]; ok {
			s.metrics.TransitionLatency.Observe(now.Sub(at).Seconds())
		}
	}
	return nil
}

// decode parses and validates an event from the topic. Time in the future is
// not checked here: the ingestor did at the edge, and replay must not fail
// on clock skew.
func decode(value []byte, ev *event.Event) error {
	if err := event.Unmarshal(value, ev); err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	if errs := ev.Validate(time.Time{}); len(errs) > 0 {
		return fmt.Errorf("invalid event: %w", errs[0])
	}
	return nil
}

func (s *Scorer) deadLetter(ctx context.Context, rec stream.Record, cause error) error {
	s.metrics.DeadLetters.Inc()
	s.log.Warn("event sent to the DLQ", zap.String("topic", rec.Topic), zap.Int("partition", rec.Partition),
		zap.Int64("offset", rec.Offset), zap.Error(cause))
	return s.sink.Publish(ctx, stream.DLQRecord(rec, s.cfg.DLQTopic, cause, s.now()))
}

// delivery is how an item was delivered, for dedupe.
func (s *Scorer) delivery(it *item) store.Delivery {
	return store.Delivery{ID: it.ev.ID, Partition: int32(it.rec.Partition), Offset: it.rec.Offset, At: ingestTime(it)}
}

// setAside sends the records that failed MaxAttempts times to the DLQ, with
// the last error, so that the rest of the batch goes through, and returns
// the rest. (Their ids were never marked seen: the events can be posted or
// replayed from the DLQ again.)
func (s *Scorer) setAside(ctx context.Context, items []item) ([]item, error) {
	if len(s.failures) == 0 {
		return items, nil
	}
	rest := make([]item, 0, len(items))
	for i := range items {
		id := items[i].id()
		f := s.failures[id]
		if f.n < s.maxAttempts() {
			rest = append(rest, items[i])
			continue
		}
		if err := s.deadLetter(ctx, items[i].rec, fmt.Errorf("%s failed %d times: %w", f.what, f.n, f.last)); err != nil {
			return nil, err
		}
		delete(s.failures, id)
	}
	return rest, nil
}

// blame counts a failed try against the records whose events target a
// home err names as failed (store.HomeError): the homes the batch loaded
// for them. When none does (a home loaded for another reason), every
// record of the batch is counted, so that the batch cannot stall forever.
func (s *Scorer) blame(items []item, targets [][2]string, err error) {
	homes := store.FailedHomes(err)
	if len(homes) == 0 {
		return
	}
	blamed := false
	for i := range items {
		for _, h := range homes {
			if targets[i][0] == h || targets[i][1] == h {
				s.fail(&items[i], "home "+h, err)
				blamed = true
				break
			}
		}
	}
	if !blamed {
		s.log.Error("a home failed that no event of the batch targets; counting the try against the whole batch", zap.Strings("homes", homes),
			zap.Error(err))
		for i := range items {
			s.fail(&items[i], "batch", err)
		}
	}
}

func (s *Scorer) fail(it *item, what string, err error) {
	id := it.id()
	s.failures[id] = failure{what: what, n: s.failures[id].n + 1, last: err}
}

// dedupe says which items carry an event id that came before on their
// partition (a client posting again what was accepted), in an earlier batch
// (marked seen once committed) or earlier in this one. Such an item is not
// applied, but its home is still loaded: it may be a record redelivered
// after a crash, whose home holds crossings still to publish.
func (s *Scorer) dedupe(ctx context.Context, items []item) ([]bool, error) {
	ds := make([]store.Delivery, len(items))
	for i := range items {
		ds[i] = s.delivery(&items[i])
	}
	dup, err := s.st.SeenBefore(ctx, s.dedupeWindow(), ds)
	if err != nil {
		return nil, err
	}
	type first struct {
		partition int
		id        string
	}
	inBatch := make(map[first]bool, len(items))
	for i := range items {
		k := first{items[i].rec.Partition, items[i].ev.ID}
		dup[i] = dup[i] || inBatch[k]
		inBatch[k] = true
	}
	return dup, nil
}

// ingestTime is when an event was ingested: its record's time. Records
// without one (lines of an NDJSON file replayed) count as ingested at one
// instant, so that an id is recognised anywhere in the file.
func ingestTime(it *item) time.Time {
	if it.rec.Time.IsZero() {
		return time.Unix(0, 0)
	}
	return it.rec.Time
}

func (s *Scorer) dedupeWindow() time.Duration {
	if s.cfg.DedupeWindow <= 0 {
		return DefaultDedupeWindow
	}
	return s.cfg.DedupeWindow
}

// forget deletes the dedupe buckets no event of the partitions in items
// will be checked against any more: those two or more older than the
// newest bucket seen. Older ones missed expire on their own.
func (s *Scorer) forget(ctx context.Context, items []item) {
	newest := map[int32]int64{}
	for i := range items {
		p, b := int32(items[i].rec.Partition), store.DedupeBucket(ingestTime(&items[i]), s.dedupeWindow())
		if cur, ok := newest[p]; !ok || b > cur {
			newest[p] = b
		}
	}
	for p, b := range newest {
		from, ok := s.forgotten[p]
		if !ok || from < b-3 {
			// Older buckets than this expire on their own.
			from = b - 3
		}
		for old := from + 1; old <= b-2; old++ {
			if err := s.st.ForgetDeliveries(ctx, p, old); err != nil {
				s.log.Warn("deleting an old dedupe bucket failed; it expires on its own", zap.Error(err))
				return
			}
			s.forgotten[p] = old
		}
	}
}

func (s *Scorer) apply(ctx context.Context, all []item) (*batchPost, error) {
	items, err := s.setAside(ctx, all)
	if err != nil {
		return nil, err
	}
	dup, err := s.dedupe(ctx, items)
	if err != nil {
		return nil, err
	}
	var contacts []string
	for i := range items {
		if !items[i].ev.IsAccountEvent() {
			contacts = append(contacts, items[i].ev.ContactID)
		}
	}
	slices.Sort(contacts)
	contacts = slices.Compact(contacts)
	where, err := s.st.Locate(ctx, contacts)
	if err != nil {
		return nil, err
	}
	ld := commit.NewLoader(ctx, s.st)
	ws := scoring.NewWorkspace(s.engine, ld)
	for c, h := range where {
		ws.Locate(c, h)
	}
	reqs := map[string]*store.Request{}
	req := func(home string) *store.Request {
		r, ok := reqs[home]
		if !ok {
			r = &store.Request{}
			reqs[home] = r
		}
		return r
	}
	targets := make([][2]string, len(items))
	for i := range items {
		ev, p := &items[i].ev, int32(items[i].rec.Partition)
		from, to := ws.Target(ev)
		targets[i] = [2]string{from, to}
		req(to).Partitions = append(req(to).Partitions, p)
		if !ev.IsAccountEvent() {
			req(to).Contacts = append(req(to).Contacts, ev.ContactID)
			if from != to {
				req(from).Contacts = append(req(from).Contacts, ev.ContactID)
			}
		}
	}
	if err := ld.Load(ws, reqs); err != nil {
		s.blame(items, targets, err)
		return nil, err
	}
	if s.afterLoad != nil {
		s.afterLoad()
	}
	applied := map[string]map[int32]int64{}
	ingested := map[string]time.Time{}
	byType := map[string]int{}
	skipped := 0
	// The events committed by this batch, or before it: their ids are
	// marked seen once the batch is committed.
	done := make([]store.Delivery, 0, len(items))
	for i := range items {
		it := &items[i]
		_, to := ws.Target(&it.ev)
		p := int32(it.rec.Partition)
		if dup[i] {
			skipped++
			continue
		}
		if m := ld.Metas[to]; m != nil {
			if w, ok := m.Offsets[p]; ok && it.rec.Offset <= w {
				// Applied before; the run that applied it may have died before
				// writing the derived keys and marking its id, so they are
				// written again.
				skipped++
				done = append(done, s.delivery(it))
				if !it.ev.IsAccountEvent() {
					ws.Touched[it.ev.ContactID] = true
				}
				continue
			}
		}
		if err := s.safeApply(ws, &it.ev); err != nil {
			if errors.Is(err, scoring.ErrMismatch) {
				// The engine refuses the event itself: retrying cannot help.
				if err := s.deadLetter(ctx, it.rec, err); err != nil {
					return nil, err
				}
				continue
			}
			if errors.Is(err, commit.ErrLoad) {
				s.blame(items, targets, err)
			} else {
				// The workspace may be half changed: the batch is redone.
				s.fail(it, "engine", err)
			}
			return nil, err
		}
		if applied[to] == nil {
			applied[to] = map[int32]int64{}
		}
		applied[to][p] = max(applied[to][p], it.rec.Offset)
		done = append(done, s.delivery(it))
		typ := OtherType
		if s.engine.Knows(it.ev.Type) {
			typ = it.ev.Type
		}
		byType[typ]++
		// Latency from ingest means nothing for a replay of history.
		if !it.rec.Time.IsZero() && !s.cfg.Quiet {
			ingested[it.ev.ID] = it.rec.Time
		}
	}
	failpoint.Hit(failpoint.ScorerBeforeCommit)
	p, err := s.committer.Write(ctx, commit.Batch{WS: ws, Where: where, Metas: ld.Metas, Applied: applied, Before: ld.Before})
	if err != nil {
		s.blame(items, targets, err)
		return &batchPost{Post: p, ingested: ingested}, err
	}
	if err := s.st.MarkSeen(ctx, s.dedupeWindow(), done); err != nil {
		return &batchPost{Post: p, ingested: ingested}, err
	}
	if len(s.failures) > 0 {
		for i := range items {
			delete(s.failures, items[i].id())
		}
	}
	now := s.now()
	for typ, n := range byType {
		s.metrics.Events.WithLabelValues(typ).Add(float64(n))
	}
	for _, at := range ingested {
		s.metrics.EventLatency.Observe(now.Sub(at).Seconds())
	}
	s.metrics.Duplicates.Add(float64(skipped))
	s.forget(ctx, all)
	return &batchPost{Post: p, ingested: ingested}, nil
}

// failure is how often a record failed, in what, and how last.
type failure struct {
	what string
	n    int
	last error
}

// recordID names a consumed record.
type recordID struct {
	topic     string
	partition int
	offset    int64
}

func (it *item) id() recordID { return recordID{it.rec.Topic, it.rec.Partition, it.rec.Offset} }

func (s *Scorer) maxAttempts() int {
	if s.cfg.MaxAttempts <= 0 {
		return 3
	}
	return s.cfg.MaxAttempts
}

// ErrEnginePanic wraps a panic of the engine on one event.
var ErrEnginePanic = errors.New("engine panic")

// safeApply applies one event, turning a panic of the engine into an error
// so one bad event cannot crash the scorer over and over.
func (s *Scorer) safeApply(ws *scoring.Workspace, ev *event.Event) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w on event %s: %v", ErrEnginePanic, ev.ID, p)
		}
	}()
	return s.applyEvent(ws, ev)
}
