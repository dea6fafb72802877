package scorer

import (
	"context"
	"sync"
	"time"

	"github.com/leadscore/leads/pkg/commit"
	"github.com/leadscore/leads/pkg/store"
)

// A batch is finished once its derived keys are written and its event ids
// marked seen. Scorer.Run leaves that to a goroutine of its own (see
// finisher), which finishes batches in order while the next batch is
// processed (after that batch's reads when the scorer is behind: see
// finisher.wait); a batch's offsets are committed only after it is
// finished. Until then, the ids it marks seen, which the next batches
// would read from Redis, are kept in memory and read over Redis
// (unmarked); its contact index entries are written before it is handed
// over (commit.Committer.Commit).

// unfinished is a batch committed whose derived keys and ids seen are
// still to be written.
type unfinished struct {
	batch   uint64
	derived []*commit.Unwritten
	seen    []store.Delivery
	items   []item
	// done is closed once the batch is finished (ok) or given up because
	// the run ended.
	done chan struct{}
	ok   bool
}

// finisher holds the processor's unfinished batches.
type finisher struct {
	mu sync.Mutex
	// unmarked are the ids of unfinished batches, with the batch.
	unmarked map[seenID]uint64
	last     uint64
	// cur is the batch being processed: it collects the derived keys of
	// every try (a try that committed part of the batch hands them over
	// too), and is finished with the try that commits the rest.
	cur *unfinished
	// The gate (see wait): handed is the last batch processed, allowed
	// the last that may be finished; wake is closed when allowed moves or
	// free is set.
	gate    sync.Mutex
	handed  uint64
	allowed uint64
	free    bool
	wake    chan struct{}
}

// wait returns once batch may be finished (allow): at once for a batch
// that says the scorer has caught up with the events (smaller than the
// batch size, and its first event waited for); else once the next batch
// has read its homes and ids, or once the scorer has waited for events a
// while (finishWhenIdle); or once the run ends (open), or ctx does. A scorer
// that is behind writes a batch's derived keys and ids just after the
// next batch's reads rather than with them: Redis serves one client at a
// time, and the reads, which the next batch waits for, would otherwise
// wait behind the writes, which nothing waits for. Its readers, who wait
// for the events in the topic anyway, see the batch's index entries and
// leaderboards that much later.
func (f *finisher) wait(ctx context.Context, batch uint64) {
	for {
		f.gate.Lock()
		if f.free || f.allowed >= batch {
			f.gate.Unlock()
			return
		}
		if f.wake == nil {
			f.wake = make(chan struct{})
		}
		wake := f.wake
		f.gate.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return
		}
	}
}

// allow lets every batch processed so far be finished.
func (f *finisher) allow() {
	f.gate.Lock()
	defer f.gate.Unlock()
	if f.allowed < f.handed {
		f.allowed = f.handed
		f.signal()
	}
}

// open lets every batch be finished from now on, without waiting.
func (f *finisher) open() {
	f.gate.Lock()
	defer f.gate.Unlock()
	f.free = true
	f.signal()
}

func (f *finisher) signal() {
	if f.wake != nil {
		close(f.wake)
		f.wake = nil
	}
}

// seenID is an id as dedupe looks it up: in a partition and a bucket of
// ingest time (see store.SeenBefore).
type seenID struct {
	partition int32
	bucket    int64
	id        string
}

// current is the batch being processed.
func (f *finisher) current() *unfinished {
	if f.cur == nil {
		f.last++
		f.cur = &unfinished{batch: f.last, done: make(chan struct{})}
	}
	return f.cur
}

// derived takes derived keys of the current batch (commit.Batch.Derived).
func (f *finisher) derived(d *commit.Unwritten) {
	u := f.current()
	u.derived = append(u.derived, d)
}

// processed ends the current batch, whose ids seen its last try set, and
// returns it to finish.
func (f *finisher) processed(items []item, window time.Duration) *unfinished {
	u := f.current()
	f.cur = nil
	u.items = items
	seen := u.seen
	f.gate.Lock()
	f.handed = u.batch
	f.gate.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unmarked == nil {
		f.unmarked = map[seenID]uint64{}
	}
	for i := range seen {
		f.unmarked[seenIDOf(&seen[i], window)] = u.batch
	}
	return u
}

// marked returns, per delivery, whether an unfinished batch has its id in
// its partition and in its bucket or the one before, as SeenBefore does.
// Taken before Redis is read, it holds every id that read may miss.
func (f *finisher) marked(ds []store.Delivery, window time.Duration) []bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.unmarked) == 0 {
		return nil
	}
	out := make([]bool, len(ds))
	for i := range ds {
		k := seenIDOf(&ds[i], window)
		_, now := f.unmarked[k]
		k.bucket--
		_, before := f.unmarked[k]
		out[i] = now || before
	}
	return out
}

// finished forgets what the batch kept in memory, once Redis has it.
func (f *finisher) finished(u *unfinished, window time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range u.seen {
		k := seenIDOf(&u.seen[i], window)
		if f.unmarked[k] == u.batch {
			delete(f.unmarked, k)
		}
	}
}

func seenIDOf(d *store.Delivery, window time.Duration) seenID {
	return seenID{d.Partition, store.DedupeBucket(d.At, window), d.ID}
}

// finish writes an unfinished batch's derived keys and marks its ids seen;
// it is safe to call again after a failure.
func (p *Processor) finish(ctx context.Context, u *unfinished) error {
	if p.beforeFinish != nil {
		p.beforeFinish(u)
	}
	for _, d := range u.derived {
		if keys := d.Keys(); !keys.Empty() {
			if err := p.st.WriteDerived(ctx, keys); err != nil {
				return err
			}
		}
	}
	if p.beforeMarkSeen != nil {
		p.beforeMarkSeen()
	}
	if err := p.st.MarkSeen(ctx, p.dedupeWindow(), u.seen); err != nil {
		return err
	}
	p.forget(ctx, u.items)
	p.later.finished(u, p.dedupeWindow())
	return nil
}
