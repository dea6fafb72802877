package stream

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/metadata"
	"go.uber.org/zap"

	"github.com/leadscore/leads/pkg/retry"
)

const (
	// maxRequestBytes bounds the records of one produce request, counted
	// uncompressed: brokers reject a partition's batch over
	// message.max.bytes, 1 MiB by default. A bigger publish is split.
	maxRequestBytes = 1 << 20
	// produceTimeout is how long a broker may wait for the in-sync replicas
	// to acknowledge a request; the request itself is given a little more.
	produceTimeout = 10 * time.Second
	// retryFor bounds the retries of a publish, from its start: then the
	// ingestor answers 503 and the scorer retries the delivery with its own
	// backoff, rather than wait here for a broker that is gone. A leader
	// moving within the cluster takes well under it.
	retryFor = 5 * time.Second
	// layoutTTL is how long a writer reuses the leaders of a topic's
	// partitions before asking its transport again.
	layoutTTL = 100 * time.Millisecond
)

// Writer publishes records synchronously with acks=all.
type Writer struct {
	transport *kafka.Transport
	addr      net.Addr
	codec     protocol.Attributes
	batchSize int
	log       *zap.Logger
	now       func() time.Time
	// layouts maps a topic to its *layout: read by every publish, so
	// without a lock.
	layouts sync.Map
	// mu is held shared by each publish and exclusively by Close, which so
	// waits for the publishes under way.
	mu     sync.RWMutex
	closed bool
}

// ErrWriterClosed is returned by Publish after Close.
var ErrWriterClosed = errors.New("the writer is closed")

// NewWriter returns a writer. Records name their topic; keys are hashed
// with murmur2 like the Java client, so a key lands on the same partition
// whichever client wrote it. Topics are never created by publishing: a
// typo in a topic name fails instead of creating a stray topic.
func NewWriter(cfg Config, log *zap.Logger) *Writer {
	codec, err := compression(cfg.Compression)
	if err != nil {
		codec = kafka.Lz4 // Validate reports it; an unvalidated typo keeps the default.
	}
	// The transport routes each produce request to the leader of its
	// partitions as its metadata cache has them, refreshed every
	// MetadataTTL (6 s by default): a short TTL keeps short the time a
	// moved leader, or a topic just created, is not known.
	t := cfg.transport()
	t.MetadataTTL = time.Second
	return &Writer{transport: t, addr: kafka.TCP(cfg.Brokers...), codec: protocol.Attributes(codec) & 7,
		batchSize: cfg.batchSize(), log: log, now: time.Now}
}

// Publish writes the records and returns once every one is acknowledged by
// all in-sync replicas, or with an error (some records may have been
// written, and some written twice after a retry).
//
// It sends one produce request to each broker leading a partition the
// records go to, holding a batch for each of its partitions; more only
// when the records of a request pass 1 MiB or a partition's pass the
// batch size, and then a partition's next batch follows its first once
// acknowledged, so that the records of a key keep their order. Partitions
// that fail with a retriable error (no leader, not the leader, a broken
// connection) are sent again, alone, after a wait and a fresh look at
// their leaders; others, or a context that ends, end the publish.
func (w *Writer) Publish(ctx context.Context, recs ...Record) error {
	if len(recs) == 0 {
		return nil
	}
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return fmt.Errorf("publish %d records: %w", len(recs), ErrWriterClosed)
	}
	batches, err := w.assign(ctx, recs)
	if err == nil {
		err = w.send(ctx, recs, batches)
	}
	if err != nil {
		return fmt.Errorf("publish %d records: %w", len(recs), err)
	}
	return nil
}

// Close waits for the publishes under way and closes the connections.
func (w *Writer) Close() error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.transport.CloseIdleConnections()
	return nil
}

// batch is the records of a publish bound for one partition, in the
// publish's order; the first sent of them are acknowledged.
type batch struct {
	topic     string
	partition int32
	recs      []int32 // indexes in the publish's records
	sent      int
}

// assign finds each record's partition and returns the records of each
// partition, in their order.
func (w *Writer) assign(ctx context.Context, recs []Record) ([]batch, error) {
	type topicParts struct {
		name  string
		first int   // the index of its partition 0 among all topics' partitions
		any   int32 // the partition of records without a key
		n     int
	}
	var topics []topicParts
	total := 0
	part := make([]int32, len(recs)) // a record's index among all topics' partitions
	for i := range recs {
		r := &recs[i]
		if n := recordSize(r); n > maxRequestBytes {
			return nil, fmt.Errorf("record %d of topic %s has %d bytes, over %d: %w", i, r.Topic, n, maxRequestBytes, kafka.MessageSizeTooLarge)
		}
		t := -1
		for j := range topics {
			if topics[j].name == r.Topic {
				t = j
				break
			}
		}
		if t < 0 {
			l, err := w.layout(ctx, r.Topic)
			if err != nil {
				return nil, err
			}
			n := len(l.leaders)
			// Records without a key have no order to keep: they share one
			// partition a publish, as the Java client's sticky partitioner
			// fills one batch at a time.
			topics = append(topics, topicParts{name: r.Topic, first: total, any: int32(rand.IntN(n)), n: n})
			total += n
			t = len(topics) - 1
		}
		tp := &topics[t]
		p := tp.any
		if r.Key != nil {
			p = keyPartition(r.Key, tp.n)
		}
		part[i] = int32(tp.first) + p
	}
	// A stable counting sort by partition: each partition's records keep
	// their order.
	start := make([]int32, total+1)
	for _, p := range part {
		start[p+1]++
	}
	for p := 1; p <= total; p++ {
		start[p] += start[p-1]
	}
	order := make([]int32, len(recs))
	next := append([]int32(nil), start[:total]...)
	for i, p := range part {
		order[next[p]] = int32(i)
		next[p]++
	}
	var batches []batch
	for _, tp := range topics {
		for p := range tp.n {
			g := tp.first + p
			if start[g] < start[g+1] {
				batches = append(batches, batch{topic: tp.name, partition: int32(p), recs: order[start[g]:start[g+1]]})
			}
		}
	}
	return batches, nil
}

// send produces the batches, in rounds: each round sends the next
// records of every partition not done, and a round after a failure waits.
func (w *Writer) send(ctx context.Context, recs []Record, batches []batch) error {
	var wait *backoff.ExponentialBackOff
	start := w.now()
	var prev error // the error of the last round that failed
	for attempt := 1; ; attempt++ {
		reqs, err := w.requests(ctx, recs, batches)
		if err != nil {
			return err
		}
		w.roundTrips(ctx, recs, reqs)
		var last error
		failed, done := 0, true
		for i := range reqs {
			for j := range reqs[i].chunks {
				c := &reqs[i].chunks[j]
				switch {
				case c.err == nil:
					c.b.sent = c.end
				case ctx.Err() != nil:
					last := c.err
					if errors.Is(last, ctx.Err()) {
						last = prev // cut short: the round before says why it was retried
					}
					if last == nil {
						return c.err
					}
					return fmt.Errorf("%w (last attempt: %w)", ctx.Err(), last)
				case !produceRetriable(c.err):
					return c.err
				default:
					last = c.err
					failed++
					w.layouts.Delete(c.b.topic)
				}
				if c.b.sent < len(c.b.recs) {
					done = false
				}
			}
		}
		if done {
			return nil
		}
		if last == nil {
			continue // the next records of partitions over a request's limits
		}
		prev = last
		if wait == nil {
			wait = retry.Backoff(50*time.Millisecond, time.Second)
		}
		d := wait.NextBackOff()
		if w.now().Sub(start)+d > retryFor {
			return fmt.Errorf("still failing after %d attempts in %v: %w", attempt, w.now().Sub(start).Round(time.Millisecond), last)
		}
		w.log.Warn("produce failed; retrying the partitions that failed", zap.Int("partitions", failed),
			zap.Int("attempt", attempt), zap.Duration("wait", d), zap.Error(last))
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last attempt: %w)", ctx.Err(), last)
		}
	}
}

// layout is the leaders of a topic's partitions as the writer's transport
// knows them: the broker it sends a partition's records to.
type layout struct {
	leaders []int32 // -1 for a partition without a leader
	at      time.Time
}

// layout returns the topic's layout, asking the transport, which answers
// from its metadata cache, at most every layoutTTL. A topic the transport
// does not know fails: it is not created.
func (w *Writer) layout(ctx context.Context, topic string) (*layout, error) {
	now := w.now()
	if l, ok := w.layouts.Load(topic); ok && now.Sub(l.(*layout).at) < layoutTTL {
		return l.(*layout), nil
	}
	res, err := w.transport.RoundTrip(ctx, w.addr, &metadata.Request{TopicNames: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata of topic %s: %w", topic, err)
	}
	for _, t := range res.(*metadata.Response).Topics {
		if t.Name != topic {
			continue
		}
		if t.ErrorCode != 0 {
			return nil, fmt.Errorf("topic %s: %w", topic, kafka.Error(t.ErrorCode))
		}
		if len(t.Partitions) == 0 {
			break
		}
		l := &layout{leaders: make([]int32, len(t.Partitions)), at: now}
		for i := range l.leaders {
			l.leaders[i] = -1
		}
		for _, p := range t.Partitions {
			if int(p.PartitionIndex) >= len(l.leaders) || p.PartitionIndex < 0 {
				return nil, fmt.Errorf("topic %s: partition %d of %d in the metadata", topic, p.PartitionIndex, len(t.Partitions))
			}
			if p.ErrorCode == 0 {
				l.leaders[p.PartitionIndex] = p.LeaderID
			}
		}
		w.layouts.Store(topic, l)
		return l, nil
	}
	return nil, fmt.Errorf("topic %s: %w", topic, kafka.UnknownTopicOrPartition)
}

// recordSize is about what a record takes in a batch, uncompressed.
func recordSize(r *Record) int {
	n := 24 + len(r.Key) + len(r.Value) // lengths, offset and time deltas, attributes
	for _, h := range r.Headers {
		n += 10 + len(h.Key) + len(h.Value)
	}
	return n
}
