package scorer

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/leadscore/leads/pkg/commit"
	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/failpoint"
	"github.com/leadscore/leads/pkg/parallel"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/stream"
)

// DeadLetters takes the records that cannot be scored, with the reason.
// It returns once the record is safe (for the live scorer: acknowledged on
// the DLQ topic); only then are offsets committed past it.
type DeadLetters interface {
	DeadLetter(ctx context.Context, rec stream.Record, cause error) error
}

// ToDLQ publishes dead letters to a DLQ topic (stream.DLQRecord).
type ToDLQ struct {
	Sink  Sink
	Topic string
	Now   func() time.Time
}

// DeadLetter implements DeadLetters.
func (d ToDLQ) DeadLetter(ctx context.Context, rec stream.Record, cause error) error {
	return d.Sink.Publish(ctx, stream.DLQRecord(rec, d.Topic, cause, d.Now()))
}

// ProcessorConfig configures a Processor.
type ProcessorConfig struct {
	// MaxAttempts bounds how often an event that makes the engine fail
	// (an error other than Redis's, or a panic), or whose home fails
	// (store.HomeError), is tried before it goes to the dead letters; 0
	// means 3.
	MaxAttempts int
	// DedupeWindow is how long after an event's ingest its id is surely
	// recognised again (see store.SeenBefore); 0 means DefaultDedupeWindow.
	DedupeWindow time.Duration
	// Latency observes the time from ingest to commit and publish (not
	// for a backfill of history).
	Latency bool
}

// Processor takes batches of event records through the write cycle: it
// decodes them, sends what cannot be scored to the dead letters, applies
// the rest once (by offset watermark and by event id), and commits the
// homes to Redis. What is left to do is in the Processed it returns:
// deliver its post (and, for Scorer.Run, which leaves the derived keys and
// ids seen for later, finish it), then commit its offsets. The live scorer
// and a backfill both use it.
type Processor struct {
	cfg       ProcessorConfig
	log       *zap.Logger
	st        *store.Store
	engine    *scoring.Engine
	committer *commit.Committer
	dead      DeadLetters
	metrics   *Metrics
	now       func() time.Time

	// failures counts, per record, the tries of its batch that failed on
	// it (the engine's error, or its home's), with the last error.
	failures map[recordID]failure
	// forgotten is, per partition, the newest dedupe bucket deleted.
	forgotten map[int32]int64
	// applyEvent is Workspace.Apply; tests replace it to make the engine fail
	// or slow.
	applyEvent func(ws *scoring.Workspace, ev *event.Event) error
	// afterLoad lets tests finish a post between a load and what follows.
	afterLoad func()
	// beforeMarkSeen lets tests look between a commit (derived keys
	// included) and the marking of the batch's ids.
	beforeMarkSeen func()
	// beforeFinish lets tests hold a batch left for later before its
	// derived keys are written.
	beforeFinish func(*unfinished)
	// early, when set, is given each post as soon as its homes are
	// committed (commit.Batch.Committed): Scorer.Run publishes it while
	// the derived keys and the ids seen are written.
	early func(*Processed)
	// later, when set, takes each batch's derived keys and ids seen to
	// write after the batch (see finisher): Scorer.Run writes them while
	// it processes the next batch.
	later *finisher
}

// NewProcessor returns a processor committing through committer (whose
// Store and Engine it uses) and sending dead letters to dead. metrics may
// be nil.
func NewProcessor(cfg ProcessorConfig, log *zap.Logger, committer *commit.Committer, dead DeadLetters, metrics *Metrics) *Processor {
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	return &Processor{cfg: cfg, log: log, st: committer.Store, engine: committer.Engine, committer: committer, dead: dead,
		metrics: metrics, now: time.Now, failures: map[recordID]failure{}, forgotten: map[int32]int64{},
		applyEvent: (*scoring.Workspace).Apply}
}

// Processed is a batch committed to Redis: its post is still to be
// delivered, and then its records' offsets to be committed.
type Processed struct {
	Post    *commit.Post
	Records []stream.Record
	// ingested is when the events that caused crossings were ingested,
	// for the transition latency.
	ingested map[string]time.Time
	// fetched is when the scorer fetched the batch.
	fetched time.Time
	// finish is what is left to write of the batch, when the processor
	// leaves it for later: its offsets wait for it.
	finish *unfinished
}

// Crossings is how many crossings the batch caused (to publish, or
// withheld).
func (p *Processed) Crossings() int {
	if p == nil || p.Post == nil {
		return 0
	}
	return len(p.Post.Crossings) + p.Post.Withheld
}

// item is one decoded record of a batch.
type item struct {
	rec stream.Record
	ev  event.Event
}

// Process commits a batch to Redis: it is safe to call again with the same
// records after any failure, and so is delivering a post twice.
func (p *Processor) Process(ctx context.Context, recs []stream.Record) (*Processed, error) {
	start := time.Now()
	items, err := p.decode(ctx, recs)
	p.metrics.spent("decode", start)
	if err != nil {
		return nil, err
	}
	var ingested map[string]time.Time
	post, err := p.committer.Cycle(ctx, func(need *commit.Needs) (*commit.Post, error) {
		post, at, err := p.apply(ctx, items, need)
		ingested = at
		return post, err
	}, func(ctx context.Context, post *commit.Post) error {
		return p.Deliver(ctx, &Processed{Post: post, ingested: ingested})
	})
	if err != nil {
		return nil, err
	}
	done := &Processed{Post: post, Records: recs, ingested: ingested}
	if p.later != nil {
		// The batches before this one may be finished now, even when
		// this one read nothing (see finisher.wait).
		p.later.allow()
		done.finish = p.later.processed(items, p.dedupeWindow())
	} else {
		p.forget(ctx, items)
	}
	return done, nil
}

// Deliver publishes a processed batch's transitions and clears its outboxes.
func (p *Processor) Deliver(ctx context.Context, done *Processed) error {
	if done == nil || done.Post == nil {
		return nil
	}
	if err := p.committer.Deliver(ctx, done.Post); err != nil {
		return err
	}
	now := p.now()
	for i := range done.Post.Crossings {
		x := &done.Post.Crossings[i]
		p.metrics.Transitions.WithLabelValues(x.Type).Inc()
		if at, ok := done.ingested[x.Cause]; ok {
			p.metrics.TransitionLatency.Observe(now.Sub(at).Seconds())
		}
	}
	return nil
}

// decode parses the records, sending those that are not valid events to
// the dead letters.
func (p *Processor) decode(ctx context.Context, recs []stream.Record) ([]item, error) {
	all := make([]item, len(recs))
	errs := make([]error, len(recs))
	_ = parallel.Each(len(recs), func(i int) error {
		all[i].rec = recs[i]
		errs[i] = decode(recs[i].Value, &all[i].ev)
		return nil
	})
	items := all[:0]
	for i := range all {
		if errs[i] != nil {
			if err := p.deadLetter(ctx, all[i].rec, errs[i]); err != nil {
				return nil, err
			}
			continue
		}
		items = append(items, all[i])
	}
	return items, nil
}

// decode parses and validates an event from the topic. Time in the future is
// not checked here: the ingestor did at the edge, and a backfill must not
// fail on clock skew.
func decode(value []byte, ev *event.Event) error {
	if err := event.Unmarshal(value, ev); err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	if errs := ev.Validate(time.Time{}); len(errs) > 0 {
		return fmt.Errorf("invalid event: %w", errs[0])
	}
	return nil
}

func (p *Processor) deadLetter(ctx context.Context, rec stream.Record, cause error) error {
	p.metrics.DeadLetters.Inc()
	fields := []zap.Field{zap.String("topic", rec.Topic), zap.Int("partition", rec.Partition), zap.Int64("offset", rec.Offset),
		zap.Error(cause)}
	if pe, ok := errors.AsType[*PanicError](cause); ok {
		fields = append(fields, zap.ByteString("stack", pe.Stack))
	}
	p.log.Warn("event sent to the DLQ", fields...)
	return p.dead.DeadLetter(ctx, rec, cause)
}

// apply is one try of a batch: load, apply, commit. It returns the post of
// what it committed, even with an error, and when the events that caused
// crossings were ingested.
func (p *Processor) apply(ctx context.Context, all []item, need *commit.Needs) (*commit.Post, map[string]time.Time, error) {
	start := time.Now()
	items, err := p.setAside(ctx, all)
	if err != nil {
		return nil, nil, err
	}
	// The dedupe check and the load are round trips to Redis that need
	// nothing of each other: they are made at once.
	var dup []bool
	deduped := make(chan error, 1)
	go func() {
		var err error
		dup, err = p.dedupe(ctx, items)
		deduped <- err
	}()
	b, targets, err := p.load(ctx, items, need)
	derr := <-deduped
	start = p.metrics.spent("read", start)
	if derr == nil && err == nil && p.afterLoad != nil {
		p.afterLoad()
	}
	if p.later != nil {
		p.later.allow() // this batch's reads are done: see finisher.wait
	}
	if derr != nil {
		return nil, nil, derr
	}
	if err != nil {
		p.blame(items, targets, err)
		return nil, nil, err
	}
	a, err := p.applyAll(ctx, b, items, dup)
	start = p.metrics.spent("apply", start)
	if err != nil {
		return nil, nil, err
	}
	failpoint.Hit(failpoint.ScorerBeforeCommit)
	if p.early != nil {
		b.Committed = func(post *commit.Post) { p.early(&Processed{Post: post, ingested: a.ingested}) }
	}
	if p.later != nil {
		b.Derived = p.later.derived
	}
	post, err := p.committer.Commit(ctx, b)
	p.metrics.spent("commit", start)
	if errors.Is(err, store.ErrConflict) {
		p.metrics.Conflicts.Inc()
		p.log.Debug("home changed under us; reloading", zap.Error(err))
	}
	if err != nil {
		p.blame(items, targets, err)
		return post, a.ingested, err
	}
	if p.later != nil {
		p.later.current().seen = a.done
	} else {
		if p.beforeMarkSeen != nil {
			p.beforeMarkSeen()
		}
		if err := p.st.MarkSeen(ctx, p.dedupeWindow(), a.done); err != nil {
			return post, a.ingested, err
		}
	}
	p.succeeded(items, a)
	return post, a.ingested, nil
}

// load reads the homes the items target (and what previous tries lacked:
// need), and returns, per item, the homes its event leaves and lands in.
// A merge also needs the home of the contact it merges into.
func (p *Processor) load(ctx context.Context, items []item, need *commit.Needs) (*commit.Batch, [][2]string, error) {
	var contacts []string
	for i := range items {
		if ev := &items[i].ev; !ev.IsAccountEvent() {
			contacts = append(contacts, ev.ContactID)
			if into := mergeInto(ev); into != "" {
				contacts = append(contacts, into)
			}
		}
	}
	targets := make([][2]string, len(items))
	b, err := p.committer.Load(ctx, contacts, func(ws *scoring.Workspace) map[string]*store.Request {
		reqs := map[string]*store.Request{}
		req := func(home string) *store.Request {
			r, ok := reqs[home]
			if !ok {
				r = &store.Request{}
				reqs[home] = r
			}
			return r
		}
		for i := range items {
			ev := &items[i].ev
			from, to := ws.Target(ev)
			targets[i] = [2]string{from, to}
			req(to).Partitions = append(req(to).Partitions, int32(items[i].rec.Partition))
			if scoring.MayRefreshMembers(ev) {
				req(to).All = true
			}
			if !ev.IsAccountEvent() {
				req(to).Contacts = append(req(to).Contacts, ev.ContactID)
				if from != to {
					req(from).Contacts = append(req(from).Contacts, ev.ContactID)
				}
			}
			if into := mergeInto(ev); into != "" {
				home, ok := ws.Where[into]
				if !ok {
					home = scoring.HomeID("", into)
				}
				req(home).Contacts = append(req(home).Contacts, into)
			}
		}
		return reqs
	}, need)
	return b, targets, err
}

// mergeInto is the contact a contact.merged event merges into, or "".
func mergeInto(ev *event.Event) string {
	if ev.Type != event.ContactMerged {
		return ""
	}
	into, _ := ev.Properties[event.MergeInto].(string)
	return into
}

// applied is what applying a batch's items did.
type applied struct {
	// done are the events committed by this batch, or before it: their
	// ids are marked seen once the batch is committed.
	done     []store.Delivery
	byType   map[string]int
	skipped  int
	ingested map[string]time.Time
}

// applyAll applies the items to the loaded batch, skipping duplicates and
// events the homes' watermarks say were applied before. An event the
// engine refuses goes to the dead letters; any other failure fails the
// try. An event needing a home not loaded is passed over: the try is
// incomplete (Workspace.Missing), the commit refuses it, and the next try
// loads what every such event needs.
func (p *Processor) applyAll(ctx context.Context, b *commit.Batch, items []item, dup []bool) (*applied, error) {
	a := &applied{done: make([]store.Delivery, 0, len(items)), byType: map[string]int{}, ingested: make(map[string]time.Time, len(items))}
	ws := b.WS
	for i := range items {
		it := &items[i]
		_, to := ws.Target(&it.ev)
		part := int32(it.rec.Partition)
		if dup[i] {
			a.skipped++
			continue
		}
		if m := b.Metas[to]; m != nil {
			if w, ok := m.Offsets[part]; ok && it.rec.Offset <= w {
				// Applied before; the run that applied it may have died before
				// writing the derived keys and marking its id, so they are
				// written again.
				a.skipped++
				a.done = append(a.done, p.delivery(it))
				if !it.ev.IsAccountEvent() {
					ws.Touched[it.ev.ContactID] = true
					if b.Redone == nil {
						b.Redone = map[string]bool{}
					}
					b.Redone[it.ev.ContactID] = true
				}
				noteEmail(b, &it.ev)
				continue
			}
		}
		if err := p.safeApply(ws, &it.ev); err != nil {
			switch {
			case errors.Is(err, scoring.ErrNotLoaded):
				continue
			case errors.Is(err, scoring.ErrMismatch):
				// The engine refuses the event itself: retrying cannot help.
				if err := p.deadLetter(ctx, it.rec, err); err != nil {
					return nil, err
				}
				continue
			}
			// The workspace may be half changed: the batch is redone.
			p.fail(it, "engine", err)
			return nil, err
		}
		if b.Applied[to] == nil {
			b.Applied[to] = map[int32]int64{}
		}
		b.Applied[to][part] = max(b.Applied[to][part], it.rec.Offset)
		a.done = append(a.done, p.delivery(it))
		noteEmail(b, &it.ev)
		typ := OtherType
		if p.engine.Knows(it.ev.Type) {
			typ = it.ev.Type
		}
		a.byType[typ]++
		if p.cfg.Latency && !it.rec.Time.IsZero() {
			a.ingested[it.ev.ID] = it.rec.Time
		}
	}
	return a, nil
}

// noteEmail notes the address a contact event carries (property email)
// for the email lookup.
func noteEmail(b *commit.Batch, ev *event.Event) {
	email, ok := ev.Properties["email"].(string)
	if !ok || ev.ContactID == "" || !strings.Contains(email, "@") {
		return
	}
	if b.Emails == nil {
		b.Emails = map[string]string{}
	}
	b.Emails[store.EmailHash(email)] = ev.ContactID
}

// succeeded forgets the batch's failures and counts what it applied.
func (p *Processor) succeeded(items []item, a *applied) {
	if len(p.failures) > 0 {
		for i := range items {
			delete(p.failures, items[i].id())
		}
	}
	now := p.now()
	for typ, n := range a.byType {
		p.metrics.Events.WithLabelValues(typ).Add(float64(n))
	}
	for _, at := range a.ingested {
		p.metrics.EventLatency.Observe(now.Sub(at).Seconds())
	}
	p.metrics.Duplicates.Add(float64(a.skipped))
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

func (p *Processor) maxAttempts() int {
	if p.cfg.MaxAttempts <= 0 {
		return 3
	}
	return p.cfg.MaxAttempts
}

// setAside sends the records that failed MaxAttempts times to the dead
// letters, with the last error, so that the rest of the batch goes through,
// and returns the rest. (Their ids were never marked seen: the events can
// be posted or replayed from the DLQ again.)
func (p *Processor) setAside(ctx context.Context, items []item) ([]item, error) {
	if len(p.failures) == 0 {
		return items, nil
	}
	rest := make([]item, 0, len(items))
	for i := range items {
		id := items[i].id()
		f := p.failures[id]
		if f.n < p.maxAttempts() {
			rest = append(rest, items[i])
			continue
		}
		if err := p.deadLetter(ctx, items[i].rec, fmt.Errorf("%s failed %d times: %w", f.what, f.n, f.last)); err != nil {
			return nil, err
		}
		delete(p.failures, id)
	}
	return rest, nil
}

// blame counts a failed try against the records whose events target a
// home err names as failed (store.HomeError): the homes the batch loaded
// for them. When none does (a home loaded for another reason), every
// record of the batch is counted, so that the batch cannot stall forever.
func (p *Processor) blame(items []item, targets [][2]string, err error) {
	homes := store.FailedHomes(err)
	if len(homes) == 0 {
		return
	}
	blamed := false
	for i := range items {
		for _, h := range homes {
			if targets[i][0] == h || targets[i][1] == h {
				p.fail(&items[i], "home "+h, err)
				blamed = true
				break
			}
		}
	}
	if !blamed {
		p.log.Error("a home failed that no event of the batch targets; counting the try against the whole batch",
			zap.Strings("homes", homes), zap.Error(err))
		for i := range items {
			p.fail(&items[i], "batch", err)
		}
	}
}

func (p *Processor) fail(it *item, what string, err error) {
	if pe, ok := errors.AsType[*PanicError](err); ok {
		p.log.Error("the engine panicked on an event", zap.String("topic", it.rec.Topic), zap.Int("partition", it.rec.Partition),
			zap.Int64("offset", it.rec.Offset), zap.Error(err), zap.ByteString("stack", pe.Stack))
	}
	id := it.id()
	p.failures[id] = failure{what: what, n: p.failures[id].n + 1, last: err}
}

// ErrEnginePanic is wrapped by a panic of the engine on one event (a
// *PanicError).
var ErrEnginePanic = errors.New("engine panic")

// PanicError is a panic of the engine on one event, with its stack: the
// log and the DLQ record (header dlq.stack) keep it.
type PanicError struct {
	Event string
	Value any
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("%s on event %s: %v", ErrEnginePanic, e.Event, e.Value)
}

// Unwrap makes a PanicError match ErrEnginePanic.
func (e *PanicError) Unwrap() error { return ErrEnginePanic }

// StackTrace is the stack of the panic (see stream.DLQRecord).
func (e *PanicError) StackTrace() []byte { return e.Stack }

// safeApply applies one event, turning a panic of the engine into an error
// so one bad event cannot crash the scorer over and over.
func (p *Processor) safeApply(ws *scoring.Workspace, ev *event.Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Event: ev.ID, Value: r, Stack: debug.Stack()}
		}
	}()
	return p.applyEvent(ws, ev)
}
