package rescore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/cespare/xxhash/v2"
	json "github.com/goccy/go-json"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/leadscore/leads/pkg/commit"
	"github.com/leadscore/leads/pkg/decay"
	"github.com/leadscore/leads/pkg/retry"
	"github.com/leadscore/leads/pkg/scorer"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/stream"
)

// FilePartition is the partition number under which events read from a
// file are applied: watermarks of a file replay never shadow those of the
// events topic's partitions.
const FilePartition = -1

// Errors a caller branches on.
var (
	// ErrComplete: the namespace holds a finished backfill; to add what
	// arrived since, promote it (or backfill into a new namespace).
	ErrComplete = errors.New("backfill already complete")
	// ErrMismatch: the namespace holds a backfill of another source or model.
	ErrMismatch = errors.New("namespace holds another backfill")
	// ErrLive: a backfill never writes into the live namespace.
	ErrLive = errors.New("refusing to backfill into the live namespace")
)

// Backfill scores history into a namespace of its own with the same engine,
// batch path and atomic commits as the live scorer. Progress is kept in the
// namespace (a checkpoint per partition), so an interrupted backfill
// resumes where it stopped; anything replayed twice is skipped by the
// homes' offset watermarks, as on the live path.
type Backfill struct {
	Log    *zap.Logger
	Store  *store.Store
	Engine *scoring.Engine
	Kafka  stream.Config
	// Topic is the events topic read by FromTopic.
	Topic string
	// Emit, when set, receives the crossings as CloudEvents on EmitTo;
	// otherwise none are published (the default: a backfill must not
	// announce history to live consumers).
	Emit   scorer.Sink
	EmitTo string
	// BatchSize is how many events are applied per commit; bigger than the
	// live scorer's, since latency does not matter and more events per home
	// mean fewer commits.
	BatchSize int
	// Progress is told about every batch (nil: nothing shown).
	Progress Progress
	began    time.Time
	// Workers is how many partition groups of the events topic are
	// replayed at once, each by a Processor of its own (0 or 1: one). Homes
	// live on one partition, so workers rarely touch the same home; when
	// they do, the versioned commit makes one redo its batch.
	Workers int
	// DedupeWindow is the live scorer's --dedupe-window, so that the
	// replay takes the same events for retries (0: the default).
	DedupeWindow time.Duration
}

// Result sums up a backfill.
type Result struct {
	Events      int64         `json:"events"`
	DeadLetters int64         `json:"dead_letters"`
	Crossings   int64         `json:"crossings"`
	Elapsed     time.Duration `json:"elapsed_ns"`
	// Ends are the offsets the backfill read up to, per partition: the
	// live scorer continues from them after a promote.
	Ends map[int]int64 `json:"ends,omitempty"`
}

// checkpoint is a backfill's progress, kept in the hash ns:backfill.
type checkpoint struct {
	Source string
	Model  string
	Done   bool
	Next   map[int]int64
	End    map[int]int64
}

func (b *Backfill) checkpointKey() string { return b.Store.Namespace() + ":backfill" }

func (b *Backfill) loadCheckpoint(ctx context.Context) (*checkpoint, error) {
	fields, err := b.Store.Client().HGetAll(ctx, b.checkpointKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	if len(fields) == 0 {
		return nil, nil
	}
	ck := &checkpoint{Source: fields["source"], Model: fields["model"], Done: fields["done"] == "1",
		Next: map[int]int64{}, End: map[int]int64{}}
	for k, v := range fields {
		var into map[int]int64
		var p string
		switch {
		case strings.HasPrefix(k, "next:"):
			into, p = ck.Next, k[len("next:"):]
		case strings.HasPrefix(k, "end:"):
			into, p = ck.End, k[len("end:"):]
		default:
			continue
		}
		pn, err1 := strconv.Atoi(p)
		off, err2 := strconv.ParseInt(v, 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("checkpoint field %s: %w", k, err)
		}
		into[pn] = off
	}
	return ck, nil
}

// start checks a checkpoint against this backfill, or writes a new one.
func (b *Backfill) start(ctx context.Context, source string, spans []stream.Span) (*checkpoint, error) {
	ck, err := b.loadCheckpoint(ctx)
	if err != nil {
		return nil, err
	}
	if ck != nil {
		if ck.Source != source || ck.Model != b.Engine.Model().Version {
			return nil, fmt.Errorf("%w: %s holds %s under model %q, not %s under model %q", ErrMismatch,
				b.Store.Namespace(), ck.Source, ck.Model, source, b.Engine.Model().Version)
		}
		return ck, nil
	}
	ck = &checkpoint{Source: source, Model: b.Engine.Model().Version, Next: map[int]int64{}, End: map[int]int64{}}
	fields := map[string]any{"source": source, "model": ck.Model, "started": time.Now().UTC().Format(time.RFC3339)}
	for _, s := range spans {
		ck.Next[s.Partition], ck.End[s.Partition] = s.Start, s.End
		fields["next:"+strconv.Itoa(s.Partition)] = s.Start
		fields["end:"+strconv.Itoa(s.Partition)] = s.End
	}
	if err := b.Store.Client().HSet(ctx, b.checkpointKey(), fields).Err(); err != nil {
		return nil, fmt.Errorf("write checkpoint: %w", err)
	}
	return ck, nil
}

// FromTopic backfills the events topic from the first record at or after
// from (zero: the beginning) to the end it has when the backfill starts;
// records after until (when not zero) are left out. A second call resumes
// an interrupted backfill; catchUp also extends a finished one to the
// topic's current end (what promote does).
func (b *Backfill) FromTopic(ctx context.Context, from, until time.Time, catchUp bool) (*Result, error) {
	spans, err := stream.Spans(ctx, b.Kafka, b.Topic, from)
	if err != nil {
		return nil, err
	}
	ck, err := b.start(ctx, "topic:"+b.Topic, spans)
	if err != nil {
		return nil, err
	}
	if ck.Done && !catchUp {
		return nil, fmt.Errorf("%w: %s read %s up to %v", ErrComplete, b.Store.Namespace(), b.Topic, ck.End)
	}
	if catchUp {
		fields := map[string]any{"done": "0"}
		for _, s := range spans {
			if s.End > ck.End[s.Partition] {
				ck.End[s.Partition] = s.End
				fields["end:"+strconv.Itoa(s.Partition)] = s.End
			}
		}
		if err := b.Store.Client().HSet(ctx, b.checkpointKey(), fields).Err(); err != nil {
			return nil, fmt.Errorf("write checkpoint: %w", err)
		}
	}
	var todo []stream.Span
	var total int64
	for p, end := range ck.End {
		s := stream.Span{Partition: p, Start: ck.Next[p], End: end}
		todo = append(todo, s)
		total += s.Len()
	}
	slices.SortFunc(todo, func(a, b stream.Span) int { return a.Partition - b.Partition })
	groups := make([][]stream.Span, max(1, min(b.Workers, len(todo))))
	for i, s := range todo {
		groups[i%len(groups)] = append(groups[i%len(groups)], s)
	}
	b.begin(total)
	g, gctx := errgroup.WithContext(ctx)
	runs := make([]*runner, len(groups))
	for i, spans := range groups {
		run, err := b.runner(gctx)
		if err != nil {
			return nil, err
		}
		runs[i] = run
		g.Go(func() error {
			return stream.ReadSpans(gctx, b.Kafka, b.Topic, spans, until, b.batchSize(), b.Log, run.batch)
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	res, err := b.finish(ctx, runs...)
	if err != nil {
		return nil, err
	}
	res.Ends = ck.End
	return res, nil
}

// FromFile backfills an NDJSON archive of events, one per line. Lines are
// split into Workers lanes by the event's key (its account, else its
// contact), as the ingestor spreads events over partitions, and each lane is
// applied in file order by a scorer of its own: every contact's and
// account's events keep their order, as if the file had been ingested into
// that many partitions. Lane i applies its lines under partition
// FilePartition-i; its checkpoint is the next line it has to apply, and a
// resumed backfill keeps the lanes it started with.
func (b *Backfill) FromFile(ctx context.Context, path string) (*Result, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	lines, err := countLines(abs)
	if err != nil {
		return nil, err
	}
	spans := make([]stream.Span, max(1, b.Workers))
	for i := range spans {
		spans[i] = stream.Span{Partition: FilePartition - i, End: lines}
	}
	ck, err := b.start(ctx, "file:"+abs, spans)
	if err != nil {
		return nil, err
	}
	if ck.Done {
		return nil, fmt.Errorf("%w: %s read %s", ErrComplete, b.Store.Namespace(), abs)
	}
	lanes := len(ck.End)
	first := lines
	for i := range lanes {
		first = min(first, ck.Next[FilePartition-i])
	}
	// Exact for a new backfill; a resumed one also counts the lines some
	// lanes applied already, which are not known before reading.
	b.begin(lines - first)
	f, err := os.Open(abs)
	if err != nil {
		return nil, err
	}
	defer f.Close()

	g, gctx := errgroup.WithContext(ctx)
	runs := make([]*runner, lanes)
	feeds := make([]chan []stream.Record, lanes)
	for i := range lanes {
		run, err := b.runner(gctx)
		if err != nil {
			return nil, err
		}
		runs[i], feeds[i] = run, make(chan []stream.Record, 1)
		g.Go(func() error {
			for batch := range feeds[i] {
				if err := run.batch(batch); err != nil {
					return err
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		defer func() {
			for _, feed := range feeds {
				close(feed)
			}
		}()
		return b.readLanes(gctx, f, abs, first, ck.Next, feeds)
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return b.finish(ctx, runs...)
}

// readLanes reads the file from line first and hands each lane, in batches,
// the lines that are its own and not yet applied.
func (b *Backfill) readLanes(ctx context.Context, f *os.File, abs string, first int64, next map[int]int64,
	feeds []chan []stream.Record) error {
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	batches := make([][]stream.Record, len(feeds))
	send := func(i int) error {
		select {
		case feeds[i] <- batches[i]:
			batches[i] = nil
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for line := int64(0); sc.Scan(); line++ {
		if line < first {
			continue
		}
		text := sc.Bytes()
		if len(bytes.TrimSpace(text)) == 0 {
			continue
		}
		i := lane(text, len(feeds))
		p := FilePartition - i
		if line < next[p] {
			continue
		}
		if batches[i] == nil {
			batches[i] = make([]stream.Record, 0, b.batchSize())
		}
		batches[i] = append(batches[i], stream.Record{Topic: "file:" + abs, Partition: p, Offset: line,
			Value: bytes.Clone(text)})
		if len(batches[i]) == b.batchSize() {
			if err := send(i); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", abs, err)
	}
	for i := range feeds {
		if len(batches[i]) > 0 {
			if err := send(i); err != nil {
				return err
			}
		}
	}
	return nil
}

// lane picks the lane of an NDJSON line by the event's key, as the
// ingestor keys records; a line that is not an event goes to lane 0 (and
// from there to the dead letters).
func lane(line []byte, lanes int) int {
	if lanes == 1 {
		return 0
	}
	var k struct {
		AccountID string `json:"account_id"`
		ContactID string `json:"contact_id"`
	}
	if err := json.Unmarshal(line, &k); err != nil {
		return 0
	}
	key := k.AccountID
	if key == "" {
		key = k.ContactID
	}
	return int(xxhash.Sum64String(key) % uint64(lanes))
}

func countLines(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var n int64
	buf := make([]byte, 1<<20)
	last := byte('\n')
	for {
		k, err := f.Read(buf)
		for _, c := range buf[:k] {
			if c == '\n' {
				n++
			}
		}
		if k > 0 {
			last = buf[k-1]
		}
		if err != nil {
			if last != '\n' {
				n++
			}
			return n, nil
		}
	}
}

func (b *Backfill) batchSize() int {
	if b.BatchSize <= 0 {
		return 100000
	}
	return b.BatchSize
}

// runner applies batches through a Processor of its own, as the live
// scorer does, emitting its crossings or withholding them.
type runner struct {
	ctx  context.Context
	b    *Backfill
	proc *scorer.Processor
	dead *deadLetters
	res  Result
}

func (b *Backfill) begin(total int64) {
	b.began = time.Now()
	if b.Progress != nil {
		b.Progress.Start(total)
	}
}

func (b *Backfill) runner(ctx context.Context) (*runner, error) {
	committer := &commit.Committer{Store: b.Store, Sink: b.Emit, Topic: b.EmitTo, Engine: b.Engine, Withhold: b.Emit == nil,
		Writer: commit.ScorerWriter()}
	dead := &deadLetters{}
	proc := scorer.NewProcessor(scorer.ProcessorConfig{DedupeWindow: b.DedupeWindow}, b.Log, committer, dead, nil)
	return &runner{ctx: ctx, b: b, proc: proc, dead: dead}, nil
}

// batch applies records (retrying Redis and Kafka outages with backoff),
// then moves the checkpoint past them.
func (r *runner) batch(recs []stream.Record) error {
	ctx := r.ctx
	bo := backoff.WithContext(retry.Backoff(100*time.Millisecond, 10*time.Second), ctx)
	var crossings int
	err := backoff.Retry(func() error {
		done, err := r.proc.Process(ctx, recs)
		if err == nil {
			err = r.proc.Deliver(ctx, done)
		}
		if err != nil {
			r.b.Log.Warn("backfill batch failed; retrying", zap.Error(err))
			return err
		}
		crossings = done.Crossings()
		return nil
	}, bo)
	if err != nil {
		return err
	}
	next := map[int]int64{}
	for i := range recs {
		next[recs[i].Partition] = max(next[recs[i].Partition], recs[i].Offset+1)
	}
	fields := make(map[string]any, len(next))
	for p, off := range next {
		fields["next:"+strconv.Itoa(p)] = off
	}
	if err := backoff.Retry(func() error {
		return r.b.Store.Client().HSet(ctx, r.b.checkpointKey(), fields).Err()
	}, bo); err != nil {
		return err
	}
	r.res.Events += int64(len(recs))
	r.res.Crossings += int64(crossings)
	if r.b.Progress != nil {
		r.b.Progress.Add(int64(len(recs)))
	}
	return nil
}

// finish marks the backfill done and sums up its runners.
func (b *Backfill) finish(ctx context.Context, runs ...*runner) (*Result, error) {
	if err := b.Store.Client().HSet(ctx, b.checkpointKey(), "done", "1",
		"finished", time.Now().UTC().Format(time.RFC3339)).Err(); err != nil {
		return nil, fmt.Errorf("write checkpoint: %w", err)
	}
	if b.Progress != nil {
		b.Progress.Finish()
	}
	var res Result
	for _, r := range runs {
		res.Events += r.res.Events
		res.Crossings += r.res.Crossings
		res.DeadLetters += r.dead.n.Load()
	}
	res.Elapsed = time.Since(b.began)
	return &res, nil
}

// Decay runs one decay pass over the namespace at now, as `decayer --once`
// does, so a rebuilt namespace matches a live one decayed at the same
// instant: every due contact is decayed (a group another decayer holds is
// waited for, or the pass fails) and the shard leases are released at the
// end. Its crossings go where the backfill's go.
func (b *Backfill) Decay(ctx context.Context, now time.Time) (int, error) {
	d, err := decay.New(decay.Config{Interval: time.Minute, BatchSize: 1000, LeaseTTL: time.Minute, Owner: "backfill",
		MaxBackoff: 10 * time.Second}, b.Log, b.Store, b.Engine, b.Emit, b.EmitTo, nil)
	if err != nil {
		return 0, err
	}
	return d.Once(ctx, now)
}

// deadLetters counts the records a backfill cannot score: the live scorer
// sent them to the DLQ already.
type deadLetters struct{ n atomic.Int64 }

func (d *deadLetters) DeadLetter(context.Context, stream.Record, error) error {
	d.n.Add(1)
	return nil
}
