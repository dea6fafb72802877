package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/segmentio/kafka-go"
)

// PartitionLag is where a consumer group stands on one partition.
type PartitionLag struct {
	Topic     string
	Partition int
	// End is the partition's end offset: the offset its next record gets.
	End int64
	// Next is the first record the group has not done: its committed
	// offset, or the partition's start when it committed none (the
	// group's consumers start there).
	Next int64
	// Oldest is the time of the record at Next, as its producer stamped it
	// (the ingestor stamps the ingest time); zero when the group is at the
	// end, or when no record could be read at Next.
	Oldest time.Time
}

// Records is how many records the group has yet to do.
func (l PartitionLag) Records() int64 { return max(l.End-l.Next, 0) }

// LagReader reads a consumer group's lag on a topic from the brokers: the
// partitions' ends (ListOffsets), the group's committed offsets
// (OffsetFetch), and the time of each partition's first record not
// committed (a Fetch, only when the committed offset moved since the
// last read). It does not join the group, so it sees every partition
// whichever member holds it, and it reads on while the members are stuck.
// kafka-go's Reader.Lag cannot serve: it is always -1 in a consumer group.
// A LagReader is not safe for concurrent use.
type LagReader struct {
	client *kafka.Client
	done   func()
	group  string
	topic  string
	// oldest remembers the time of the record at each partition's Next,
	// so that a stuck partition is fetched once.
	oldest map[int]offsetTime
}

type offsetTime struct {
	offset int64
	time   time.Time
}

// NewLagReader returns a reader of group's lag on topic; Close it.
func NewLagReader(cfg Config, group, topic string) *LagReader {
	client, done := cfg.client()
	return &LagReader{client: client, done: done, group: group, topic: topic, oldest: map[int]offsetTime{}}
}

// Close closes the reader's connections.
func (l *LagReader) Close() { l.done() }

// Read returns the group's lag on every partition of the topic, in
// partition order.
func (l *LagReader) Read(ctx context.Context) ([]PartitionLag, error) {
	spans, err := spans(ctx, l.client, l.topic, time.Time{})
	if err != nil {
		return nil, err
	}
	parts := make([]int, len(spans))
	for i, s := range spans {
		parts[i] = s.Partition
	}
	res, err := l.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: l.group, Topics: map[string][]int{l.topic: parts}})
	if err == nil {
		err = res.Error
	}
	committed := map[int]int64{}
	switch {
	case errors.Is(err, kafka.GroupIdNotFound):
		// A group that never committed (the embedded broker says so;
		// Apache Kafka answers -1 for each partition).
		res = &kafka.OffsetFetchResponse{}
	case err != nil:
		return nil, fmt.Errorf("committed offsets of %s: %w", l.group, err)
	}
	for _, p := range res.Topics[l.topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("committed offset of %s on %s/%d: %w", l.group, l.topic, p.Partition, p.Error)
		}
		committed[p.Partition] = p.CommittedOffset
	}
	out := make([]PartitionLag, len(spans))
	for i, s := range spans {
		next, ok := committed[s.Partition]
		if !ok || next < s.Start {
			next = s.Start // none committed (-1), or deleted since by retention
		}
		pl := PartitionLag{Topic: l.topic, Partition: s.Partition, End: s.End, Next: min(next, s.End)}
		if pl.Records() > 0 {
			if pl.Oldest, err = l.timeAt(ctx, pl.Partition, pl.Next); err != nil {
				return nil, err
			}
		} else {
			delete(l.oldest, s.Partition)
		}
		out[i] = pl
	}
	return out, nil
}

// timeAt returns the time of the first record at or after offset.
func (l *LagReader) timeAt(ctx context.Context, partition int, offset int64) (time.Time, error) {
	if c, ok := l.oldest[partition]; ok && c.offset == offset {
		return c.time, nil
	}
	// The broker answers at least the whole first batch holding offset,
	// whatever MaxBytes says.
	res, err := l.client.Fetch(ctx, &kafka.FetchRequest{Topic: l.topic, Partition: partition, Offset: offset,
		MinBytes: 1, MaxBytes: 1 << 10, MaxWait: 100 * time.Millisecond})
	if err == nil {
		err = res.Error
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read %s/%d at %d: %w", l.topic, partition, offset, err)
	}
	var at time.Time
	for {
		rec, err := res.Records.ReadRecord()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return time.Time{}, fmt.Errorf("read %s/%d at %d: %w", l.topic, partition, offset, err)
		}
		for _, b := range []interface{ Close() error }{rec.Key, rec.Value} {
			if b != nil {
				b.Close()
			}
		}
		if rec.Offset >= offset {
			at = rec.Time
			break
		}
	}
	if !at.IsZero() {
		l.oldest[partition] = offsetTime{offset, at}
	}
	return at, nil
}
