package scorer

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/leadscore/leads/pkg/store"
)

// delivery is how an item was delivered, for dedupe.
func (p *Processor) delivery(it *item) store.Delivery {
	return store.Delivery{ID: it.ev.ID, Partition: int32(it.rec.Partition), Offset: it.rec.Offset, At: ingestTime(it)}
}

// dedupe says which items carry an event id that came before on their
// partition (a client posting again what was accepted), in an earlier batch
// (marked seen once committed) or earlier in this one. Such an item is not
// applied, but its home is still loaded: it may be a record redelivered
// after a crash, whose home holds crossings still to publish.
func (p *Processor) dedupe(ctx context.Context, items []item) ([]bool, error) {
	ds := make([]store.Delivery, len(items))
	for i := range items {
		ds[i] = p.delivery(&items[i])
	}
	var unfinished []bool
	if p.later != nil {
		unfinished = p.later.marked(ds, p.dedupeWindow()) // before the read: see marked
	}
	dup, err := p.st.SeenBefore(ctx, p.dedupeWindow(), ds)
	if err != nil {
		return nil, err
	}
	for i, seen := range unfinished {
		dup[i] = dup[i] || seen
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

func (p *Processor) dedupeWindow() time.Duration {
	if p.cfg.DedupeWindow <= 0 {
		return DefaultDedupeWindow
	}
	return p.cfg.DedupeWindow
}

// forget deletes the dedupe buckets no event of the partitions in items
// will be checked against any more: those two or more older than the
// newest bucket seen. Older ones missed expire on their own.
func (p *Processor) forget(ctx context.Context, items []item) {
	newest := map[int32]int64{}
	for i := range items {
		part, b := int32(items[i].rec.Partition), store.DedupeBucket(ingestTime(&items[i]), p.dedupeWindow())
		if cur, ok := newest[part]; !ok || b > cur {
			newest[part] = b
		}
	}
	for part, b := range newest {
		from, ok := p.forgotten[part]
		if !ok || from < b-3 {
			// Older buckets than this expire on their own.
			from = b - 3
		}
		for old := from + 1; old <= b-2; old++ {
			if err := p.st.ForgetDeliveries(ctx, part, old); err != nil {
				p.log.Warn("deleting an old dedupe bucket failed; it expires on its own", zap.Error(err))
				return
			}
			p.forgotten[part] = old
		}
	}
}
