package stream

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// Consumer reads a topic as a member of a consumer group. Offsets move
// only when Commit is called: fetch, handle, commit gives at-least-once.
type Consumer struct {
	r *kafka.Reader

	mu     sync.Mutex
	totals ConsumerStats
	// waited is how long the last FetchBatch waited for its first record.
	waited atomic.Int64
	// fetched is how many records the last FetchBatch returned: the next
	// is likely as many, and is allocated so.
	fetched atomic.Int64
}

type topicPartition struct {
	topic     string
	partition int
}

// ConsumerStats are counts since the consumer started. (The group's lag
// is LagReader's: what a member has handed out says nothing of what it
// has done.)
type ConsumerStats struct {
	Messages    int64
	Bytes       int64
	Fetches     int64
	Rebalances  int64
	Errors      int64
	Timeouts    int64
	QueueLength int64
}

// NewConsumer joins group on topic; a group with no committed offset
// starts at the beginning of each partition.
func NewConsumer(cfg Config, group, topic string, log *zap.Logger) *Consumer {
	info, errs := loggers(log.Named("kafka.reader").With(zap.String("topic", topic), zap.String("group", group)))
	session := cfg.sessionTimeout()
	return &Consumer{r: kafka.NewReader(kafka.ReaderConfig{
		Brokers:           cfg.Brokers,
		Dialer:            cfg.dialer(10 * time.Second),
		GroupID:           group,
		Topic:             topic,
		MinBytes:          1,
		MaxBytes:          16 << 20,
		MaxWait:           100 * time.Millisecond,
		ReadBatchTimeout:  time.Second,
		SessionTimeout:    session,
		HeartbeatInterval: cfg.heartbeatInterval(),
		RebalanceTimeout:  max(session, 5*time.Second),
		// kafka-go waits 5 s by default before rejoining after an error.
		JoinGroupBackoff: 200 * time.Millisecond,
		StartOffset:      kafka.FirstOffset,
		CommitInterval:   0, // synchronous: Commit returns once the broker has the offsets
		QueueCapacity:    10000,
		Logger:           info,
		ErrorLogger:      errs,
	})}
}

// FetchBatch waits for the first record, then gathers more until it holds
// limit records or linger has passed since the first, and returns what it
// has. Records left unfetched stay queued for the next call.
func (c *Consumer) FetchBatch(ctx context.Context, limit int, linger time.Duration) ([]Record, error) {
	limit = max(limit, 1)
	start := time.Now()
	first, err := c.r.FetchMessage(ctx)
	if err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	c.waited.Store(int64(time.Since(start)))
	out := make([]Record, 1, min(limit, max(64, int(c.fetched.Load())*9/8)))
	out[0] = fromMessage(&first)
	if limit > 1 {
		lctx, cancel := context.WithTimeout(ctx, linger)
		for len(out) < limit {
			m, err := c.r.FetchMessage(lctx)
			if err != nil {
				break // linger over, ctx done or reader closed: the next call reports it
			}
			out = append(out, fromMessage(&m))
		}
		cancel()
	}
	c.fetched.Store(int64(len(out)))
	return out, nil
}

// Waited is how long the last FetchBatch waited for its first record: about
// nothing when records were already fetched and queued, that is when the
// consumer is behind.
func (c *Consumer) Waited() time.Duration { return time.Duration(c.waited.Load()) }

// Commit commits, for each partition, the offset after the highest record
// given, and returns once the group coordinator has stored it.
func (c *Consumer) Commit(ctx context.Context, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	last := map[topicPartition]int64{}
	for i := range recs {
		tp := topicPartition{recs[i].Topic, recs[i].Partition}
		if off, ok := last[tp]; !ok || recs[i].Offset > off {
			last[tp] = recs[i].Offset
		}
	}
	msgs := make([]kafka.Message, 0, len(last))
	for tp, off := range last {
		msgs = append(msgs, kafka.Message{Topic: tp.topic, Partition: tp.partition, Offset: off})
	}
	if err := c.r.CommitMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("commit offsets of %d partitions: %w", len(msgs), err)
	}
	return nil
}

// Stats returns totals since the consumer started.
func (c *Consumer) Stats() ConsumerStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshLocked()
	return c.totals
}

// refreshLocked adds kafka-go's counters, which reset on every read, to
// the totals, so metrics can be counters.
func (c *Consumer) refreshLocked() {
	s := c.r.Stats()
	t := &c.totals
	t.Messages += s.Messages
	t.Bytes += s.Bytes
	t.Fetches += s.Fetches
	t.Rebalances += s.Rebalances
	t.Errors += s.Errors
	t.Timeouts += s.Timeouts
	t.QueueLength = s.QueueLength
}

// Close leaves the group, so its partitions move to the other members at
// once rather than after the session timeout.
func (c *Consumer) Close() error { return c.r.Close() }
