package stream

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// HeaderReplayedFrom is set on a record put back by ReplayDLQ: the DLQ
// topic, partition and offset it came from.
const HeaderReplayedFrom = "dlq.replayed-from"

// ReplayOptions selects what ReplayDLQ puts back.
type ReplayOptions struct {
	// DLQTopic is read; Target (the events topic) is written.
	DLQTopic, Target string
	// FromOffset is the first offset read in every partition of the DLQ;
	// earlier records, and records before a partition's start, are skipped.
	FromOffset int64
	// Filter, when set, keeps only records whose dlq.error header matches.
	Filter *regexp.Regexp
	// DryRun reads and counts but publishes nothing.
	DryRun bool
	// Each, when set, is called with every record kept (before publishing).
	Each func(Record)
}

// ReplayStats counts what ReplayDLQ did.
type ReplayStats struct {
	Read, Replayed, Skipped int
}

// replayChunk is how many records are published at once.
const replayChunk = 500

// ReplayDLQ reads the DLQ topic from opts.FromOffset up to the end it has
// when the call starts, and publishes every kept record to opts.Target
// with its key, value and original headers (the dlq.* headers dropped, a
// dlq.replayed-from header added). It returns once all of them are
// acknowledged. A record replayed twice is harmless: event ids dedupe. A
// replayed record that fails again goes back to the DLQ with the new cause.
func ReplayDLQ(ctx context.Context, cfg Config, w *Writer, opts ReplayOptions) (ReplayStats, error) {
	var st ReplayStats
	if opts.DLQTopic == "" || opts.Target == "" {
		return st, errors.New("replay: the DLQ and events topics are required")
	}
	if opts.FromOffset < 0 {
		return st, errors.New("replay: --from-offset must not be negative")
	}
	var out []Record
	flush := func() error {
		if len(out) > 0 && !opts.DryRun {
			if err := w.Publish(ctx, out...); err != nil {
				return fmt.Errorf("replay to %s: %w", opts.Target, err)
			}
		}
		out = out[:0]
		return nil
	}
	err := Scan(ctx, cfg, opts.DLQTopic, opts.FromOffset, func(rec Record) error {
		st.Read++
		if opts.Filter != nil && !opts.Filter.MatchString(rec.HeaderValue(HeaderDLQError)) {
			st.Skipped++
			return nil
		}
		if opts.Each != nil {
			opts.Each(rec)
		}
		out = append(out, replayed(rec, opts.Target))
		st.Replayed++
		if len(out) >= replayChunk {
			return flush()
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	return st, flush()
}

// Scan calls fn with every record of topic, partition by partition, from
// offset from (or the partition's first offset, if later) up to the end
// each partition has when Scan starts. It stops at fn's first error.
func Scan(ctx context.Context, cfg Config, topic string, from int64, fn func(Record) error) error {
	ranges, err := partitionRanges(ctx, cfg, topic)
	if err != nil {
		return err
	}
	for _, pr := range ranges {
		first := max(pr.first, from)
		if first >= pr.end {
			continue
		}
		if err := scanPartition(ctx, cfg, topic, pr.partition, first, pr.end, fn); err != nil {
			return err
		}
	}
	return nil
}

type partitionRange struct {
	partition  int
	first, end int64
}

// partitionRanges lists, per partition of topic, its first offset and the
// offset after its last record.
func partitionRanges(ctx context.Context, cfg Config, topic string) ([]partitionRange, error) {
	transport := &kafka.Transport{ClientID: cfg.clientID()}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 10 * time.Second, Transport: transport}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil {
		var terr error
		if len(md.Topics) == 1 {
			terr = md.Topics[0].Error
		}
		return nil, fmt.Errorf("topic %s: not found: %v", topic, terr)
	}
	var reqs []kafka.OffsetRequest
	for _, p := range md.Topics[0].Partitions {
		reqs = append(reqs, kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
	}
	resp, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("offsets of %s: %w", topic, err)
	}
	var out []partitionRange
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("offsets of %s partition %d: %w", topic, po.Partition, po.Error)
		}
		out = append(out, partitionRange{partition: po.Partition, first: po.FirstOffset, end: po.LastOffset})
	}
	slices.SortFunc(out, func(a, b partitionRange) int { return a.partition - b.partition })
	return out, nil
}

func scanPartition(ctx context.Context, cfg Config, topic string, partition int, first, end int64, fn func(Record) error) error {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   cfg.Brokers,
		Dialer:    &kafka.Dialer{ClientID: cfg.clientID(), Timeout: 10 * time.Second, DualStack: true},
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

// replayed is rec as it goes back to target.
func replayed(rec Record, target string) Record {
	hs := make([]Header, 0, len(rec.Headers)+1)
	for _, h := range rec.Headers {
		if !strings.HasPrefix(h.Key, "dlq.") {
			hs = append(hs, h)
		}
	}
	hs = append(hs, Header{HeaderReplayedFrom, rec.Topic + "/" + strconv.Itoa(rec.Partition) + "/" + strconv.FormatInt(rec.Offset, 10)})
	return Record{Topic: target, Key: rec.Key, Value: rec.Value, Headers: hs}
}
