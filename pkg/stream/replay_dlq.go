package stream

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
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
