package stream

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// Span is a range of offsets of one partition: [Start, End).
type Span struct {
	Partition int
	Start     int64
	End       int64
}

// Len is how many records the span holds (compacted or deleted ones
// included, which the reader skips).
func (s Span) Len() int64 { return max(s.End-s.Start, 0) }

func (c *Config) client() (*kafka.Client, func()) {
	t := c.transport()
	return &kafka.Client{Addr: kafka.TCP(c.Brokers...), Timeout: 10 * time.Second, Transport: t}, t.CloseIdleConnections
}

// Spans returns, for every partition of topic, the offsets from the first
// record at or after from (the partition's start when from is zero) to the
// partition's current end.
func Spans(ctx context.Context, cfg Config, topic string, from time.Time) ([]Span, error) {
	client, done := cfg.client()
	defer done()
	return spans(ctx, client, topic, from)
}

func spans(ctx context.Context, client *kafka.Client, topic string, from time.Time) ([]Span, error) {
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	if len(meta.Topics) != 1 || meta.Topics[0].Error != nil {
		var terr error
		if len(meta.Topics) == 1 {
			terr = meta.Topics[0].Error
		}
		return nil, fmt.Errorf("topic %s: %w", topic, errors.Join(errors.New("not found"), terr))
	}
	var reqs []kafka.OffsetRequest
	for _, p := range meta.Topics[0].Partitions {
		reqs = append(reqs, kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
		if !from.IsZero() {
			reqs = append(reqs, kafka.TimeOffsetOf(p.ID, from))
		}
	}
	res, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("offsets of %s: %w", topic, err)
	}
	var spans []Span
	for _, po := range res.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("offsets of %s/%d: %w", topic, po.Partition, po.Error)
		}
		s := Span{Partition: po.Partition, Start: po.FirstOffset, End: po.LastOffset}
		if !from.IsZero() {
			// The broker answers the first offset whose time is at or after
			// from, or -1 (none: the span is empty).
			s.Start = s.End
			for off := range po.Offsets {
				if off >= 0 {
					s.Start = max(off, po.FirstOffset)
				}
			}
		}
		spans = append(spans, s)
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].Partition < spans[j].Partition })
	return spans, nil
}

// Scan calls fn with every record of topic, partition by partition, from
// offset from (or the partition's first offset, if later) up to the end
// each partition has when Scan starts. It stops at fn's first error.
func Scan(ctx context.Context, cfg Config, topic string, from int64, fn func(Record) error) error {
	spans, err := Spans(ctx, cfg, topic, time.Time{})
	if err != nil {
		return err
	}
	for _, s := range spans {
		first := max(s.Start, from)
		if first >= s.End {
			continue
		}
		if err := scanPartition(ctx, cfg, topic, s.Partition, first, s.End, fn); err != nil {
			return err
		}
	}
	return nil
}

func scanPartition(ctx context.Context, cfg Config, topic string, partition int, first, end int64, fn func(Record) error) error {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   cfg.Brokers,
		Dialer:    cfg.dialer(10 * time.Second),
		Topic:     topic,
		Partition: partition,
		MinBytes:  1,
		MaxBytes:  16 << 20,
		MaxWait:   100 * time.Millisecond,
	})
	defer r.Close()
	if err := r.SetOffset(first); err != nil {
		return fmt.Errorf("read %s/%d: %w", topic, partition, err)
	}
	for next := first; next < end; {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return fmt.Errorf("read %s/%d at %d: %w", topic, partition, next, err)
		}
		next = m.Offset + 1
		if err := fn(fromMessage(&m)); err != nil {
			return err
		}
	}
	return nil
}

// ReadSpans reads the spans of topic and calls handle with batches of at
// most size records, merged across partitions in order of record time (ties
// by partition, then offset), so that events are applied in the order they
// were ingested, whatever the fetch timing. Records after until (when
// not zero) end their partition's span. handle runs on the calling
// goroutine; an error from it stops the read.
func ReadSpans(ctx context.Context, cfg Config, topic string, spans []Span, until time.Time, size int, log *zap.Logger,
	handle func([]Record) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type feed struct {
		ch   chan Record
		errc chan error
	}
	var feeds []*feed
	info, errs := loggers(log.Named("kafka.spans"))
	for _, s := range spans {
		if s.Len() == 0 {
			continue
		}
		f := &feed{ch: make(chan Record, 4096), errc: make(chan error, 1)}
		feeds = append(feeds, f)
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers:     cfg.Brokers,
			Dialer:      cfg.dialer(10 * time.Second),
			Topic:       topic,
			Partition:   s.Partition,
			MinBytes:    1,
			MaxBytes:    16 << 20,
			MaxWait:     100 * time.Millisecond,
			Logger:      info,
			ErrorLogger: errs,
		})
		go func(s Span) {
			defer close(f.ch)
			defer r.Close()
			if err := r.SetOffset(s.Start); err != nil {
				f.errc <- err
				return
			}
			for {
				m, err := r.FetchMessage(ctx)
				if err != nil {
					f.errc <- fmt.Errorf("read %s/%d: %w", topic, s.Partition, err)
					return
				}
				if m.Offset >= s.End || !until.IsZero() && m.Time.After(until) {
					return
				}
				select {
				case f.ch <- fromMessage(&m):
				case <-ctx.Done():
					return
				}
				if m.Offset == s.End-1 {
					return
				}
			}
		}(s)
	}
	// A k-way merge: each partition's next record sits in the heap.
	h := &recordHeap{}
	next := func(i int) error {
		rec, ok := <-feeds[i].ch
		if !ok {
			select {
			case err := <-feeds[i].errc:
				return err
			default:
				return nil
			}
		}
		heap.Push(h, headRec{rec: rec, feed: i})
		return nil
	}
	for i := range feeds {
		if err := next(i); err != nil {
			return err
		}
	}
	batch := make([]Record, 0, size)
	for h.Len() > 0 {
		top := heap.Pop(h).(headRec)
		batch = append(batch, top.rec)
		if len(batch) == size {
			if err := handle(batch); err != nil {
				return err
			}
			batch = make([]Record, 0, size)
		}
		if err := next(top.feed); err != nil {
			return err
		}
	}
	if len(batch) > 0 {
		return handle(batch)
	}
	return nil
}

type headRec struct {
	rec  Record
	feed int
}

type recordHeap []headRec

func (h recordHeap) Len() int { return len(h) }
func (h recordHeap) Less(i, j int) bool {
	a, b := &h[i].rec, &h[j].rec
	if !a.Time.Equal(b.Time) {
		return a.Time.Before(b.Time)
	}
	if a.Partition != b.Partition {
		return a.Partition < b.Partition
	}
	return a.Offset < b.Offset
}
func (h recordHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *recordHeap) Push(x any)   { *h = append(*h, x.(headRec)) }
func (h *recordHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// CommitGroupOffsets sets the committed offsets of a consumer group that
// has no members: the group's consumers start from them when they join.
func CommitGroupOffsets(ctx context.Context, cfg Config, group, topic string, offsets map[int]int64) error {
	if err := GroupIdle(ctx, cfg, group); err != nil {
		return err
	}
	client, done := cfg.client()
	defer done()
	var commits []kafka.OffsetCommit
	for p, off := range offsets {
		commits = append(commits, kafka.OffsetCommit{Partition: p, Offset: off})
	}
	res, err := client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: group, GenerationID: -1,
		Topics: map[string][]kafka.OffsetCommit{topic: commits}})
	if err != nil {
		return fmt.Errorf("commit offsets of %s: %w", group, err)
	}
	var errs []error
	for _, ps := range res.Topics {
		for _, p := range ps {
			if p.Error != nil {
				errs = append(errs, fmt.Errorf("partition %d: %w", p.Partition, p.Error))
			}
		}
	}
	return errors.Join(errs...)
}

// GroupIdle returns nil when the consumer group has no members, and
// ErrGroupActive otherwise.
func GroupIdle(ctx context.Context, cfg Config, group string) error {
	client, done := cfg.client()
	defer done()
	desc, err := client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		return fmt.Errorf("describe group %s: %w", group, err)
	}
	for _, g := range desc.Groups {
		if g.Error != nil && !errors.Is(g.Error, kafka.GroupIdNotFound) {
			return fmt.Errorf("describe group %s: %w", group, g.Error)
		}
		if len(g.Members) > 0 {
			return fmt.Errorf("%w: group %s has %d members; stop its consumers first", ErrGroupActive, group, len(g.Members))
		}
	}
	return nil
}

// ErrGroupActive is returned when offsets are set for a group whose
// consumers are running.
var ErrGroupActive = errors.New("consumer group is active")

// GroupCaughtUp reports whether the consumer group has committed the end
// of every partition of topic, as the topic is now: everything in it was
// consumed and done.
func GroupCaughtUp(ctx context.Context, cfg Config, group, topic string) (bool, error) {
	spans, err := Spans(ctx, cfg, topic, time.Time{})
	if err != nil {
		return false, err
	}
	parts := make([]int, 0, len(spans))
	for _, s := range spans {
		parts = append(parts, s.Partition)
	}
	client, done := cfg.client()
	defer done()
	res, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return false, fmt.Errorf("offsets of %s: %w", group, err)
	}
	committed := map[int]int64{}
	for _, p := range res.Topics[topic] {
		committed[p.Partition] = p.CommittedOffset
	}
	for _, s := range spans {
		if s.End > 0 && committed[s.Partition] < s.End {
			return false, nil
		}
	}
	return true, nil
}
