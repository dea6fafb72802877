package stream

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// Header is one Kafka record header.
type Header struct{ Key, Value string }

// Record is a Kafka record as the project sees it.
type Record struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []Header
	Time      time.Time
}

// HeaderValue returns the value of the first header with the key, or "".
func (r *Record) HeaderValue(key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return h.Value
		}
	}
	return ""
}

// Config configures the Kafka clients.
type Config struct {
	Brokers        []string
	ClientID       string
	BatchSize      int
	BatchTimeout   time.Duration
	SessionTimeout time.Duration
}

// ErrNoBrokers is returned by Validate when no broker is configured.
var ErrNoBrokers = errors.New("at least one Kafka broker is required")

// RegisterFlags adds the producer and consumer tuning flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.BatchSize, "kafka-batch-size", 10000, "most records per produce request per partition")
	fs.DurationVar(&c.BatchTimeout, "kafka-batch-timeout", time.Millisecond, "longest a record waits for its produce batch to fill")
	fs.DurationVar(&c.SessionTimeout, "session-timeout", 10*time.Second, "consumer group session timeout: how long a crashed member keeps its partitions")
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if len(c.Brokers) == 0 {
		return ErrNoBrokers
	}
	return nil
}

func loggers(log *zap.Logger) (kafka.Logger, kafka.Logger) {
	info := kafka.LoggerFunc(func(msg string, args ...any) { log.Debug(fmt.Sprintf(msg, args...)) })
	errs := kafka.LoggerFunc(func(msg string, args ...any) { log.Warn(fmt.Sprintf(msg, args...)) })
	return info, errs
}

// Writer publishes records synchronously with acks=all.
type Writer struct{ w *kafka.Writer }

// NewWriter returns a writer. Records name their topic; keys are hashed
// with murmur2 like the Java client, so one key stays on one partition.
func NewWriter(cfg Config, log *zap.Logger) *Writer {
	info, errs := loggers(log.Named("kafka.writer"))
	batch := cfg.BatchSize
	if batch <= 0 {
		batch = 10000
	}
	timeout := cfg.BatchTimeout
	if timeout <= 0 {
		timeout = time.Millisecond
	}
	return &Writer{w: &kafka.Writer{
		Addr:            kafka.TCP(cfg.Brokers...),
		Balancer:        &kafka.Murmur2Balancer{},
		RequiredAcks:    kafka.RequireAll,
		Compression:     kafka.Lz4,
		BatchSize:       batch,
		BatchBytes:      16 << 20,
		BatchTimeout:    timeout,
		MaxAttempts:     3,
		WriteBackoffMin: 50 * time.Millisecond,
		WriteBackoffMax: time.Second,
		Logger:          info,
		ErrorLogger:     errs,
		Transport:       &kafka.Transport{ClientID: clientID(cfg)},
	}}
}

func clientID(cfg Config) string {
	if cfg.ClientID != "" {
		return cfg.ClientID
	}
	return "leads"
}

// Publish writes the records and returns once all are acknowledged by all
// in-sync replicas, or the first error.
func (w *Writer) Publish(ctx context.Context, recs ...Record) error {
	if len(recs) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		msgs[i] = kafka.Message{Topic: r.Topic, Key: r.Key, Value: r.Value, Time: r.Time}
		if len(r.Headers) > 0 {
			hs := make([]kafka.Header, len(r.Headers))
			for j, h := range r.Headers {
				hs[j] = kafka.Header{Key: h.Key, Value: []byte(h.Value)}
			}
			msgs[i].Headers = hs
		}
	}
	if err := w.w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("publish %d records: %w", len(recs), err)
	}
	return nil
}

// Close flushes and closes the writer.
func (w *Writer) Close() error { return w.w.Close() }

// Consumer reads a topic as a member of a consumer group.
type Consumer struct {
	r *kafka.Reader
}

// NewConsumer joins group on topic. Offsets are committed only by Commit.
func NewConsumer(cfg Config, group, topic string, log *zap.Logger) *Consumer {
	info, errs := loggers(log.Named("kafka.reader"))
	session := cfg.SessionTimeout
	if session <= 0 {
		session = 10 * time.Second
	}
	return &Consumer{r: kafka.NewReader(kafka.ReaderConfig{
		Brokers:           cfg.Brokers,
		GroupID:           group,
		Topic:             topic,
		MinBytes:          1,
		MaxBytes:          16 << 20,
		MaxWait:           100 * time.Millisecond,
		ReadBatchTimeout:  time.Second,
		SessionTimeout:    session,
		HeartbeatInterval: max(session/5, 100*time.Millisecond),
		RebalanceTimeout:  max(session, 5*time.Second),
		JoinGroupBackoff:  200 * time.Millisecond,
		StartOffset:       kafka.FirstOffset,
		CommitInterval:    0,
		QueueCapacity:     10000,
		Logger:            info,
		ErrorLogger:       errs,
	})}
}

// FetchBatch waits for the first record, then gathers more until max
// records or linger has passed since the first.
func (c *Consumer) FetchBatch(ctx context.Context, max int, linger time.Duration) ([]Record, error) {
	first, err := c.r.FetchMessage(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Record, 0, min(max, 1024))
	out = append(out, fromMessage(first))
	lctx, cancel := context.WithTimeout(ctx, linger)
	defer cancel()
	for len(out) < max {
		m, err := c.r.FetchMessage(lctx)
		if err != nil {
			break // linger over (or ctx done): hand out what we have
		}
		out = append(out, fromMessage(m))
	}
	return out, nil
}

func fromMessage(m kafka.Message) Record {
	r := Record{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Time: m.Time}
	if len(m.Headers) > 0 {
		r.Headers = make([]Header, len(m.Headers))
		for i, h := range m.Headers {
			r.Headers[i] = Header{Key: h.Key, Value: string(h.Value)}
		}
	}
	return r
}

// Commit commits the offsets of the records (the highest per partition).
func (c *Consumer) Commit(ctx context.Context, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	last := map[int]Record{}
	for _, r := range recs {
		if cur, ok := last[r.Partition]; !ok || r.Offset > cur.Offset {
			last[r.Partition] = r
		}
	}
	msgs := make([]kafka.Message, 0, len(last))
	for _, r := range last {
		msgs = append(msgs, kafka.Message{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset})
	}
	if err := c.r.CommitMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("commit offsets: %w", err)
	}
	return nil
}

// Lag is how many records the consumer is behind, as last seen.
func (c *Consumer) Lag() int64 { return c.r.Lag() }

// Close leaves the group.
func (c *Consumer) Close() error { return c.r.Close() }

// TopicSpec describes a topic to create.
type TopicSpec struct {
	Name              string
	Partitions        int
	ReplicationFactor int
	Config            map[string]string
}

// EnsureTopics creates the topics that do not exist yet, retrying with
// backoff (up to about half a minute) while the brokers are unreachable.
func EnsureTopics(ctx context.Context, brokers []string, topics ...TopicSpec) error {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	req := &kafka.CreateTopicsRequest{}
	for _, t := range topics {
		tc := kafka.TopicConfig{Topic: t.Name, NumPartitions: t.Partitions, ReplicationFactor: max(t.ReplicationFactor, 1)}
		for k, v := range t.Config {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: v})
		}
		req.Topics = append(req.Topics, tc)
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = 100*time.Millisecond, 2*time.Second, 30*time.Second
	return backoff.Retry(func() error {
		resp, err := client.CreateTopics(ctx, req)
		if err != nil {
			if ctx.Err() != nil {
				return backoff.Permanent(ctx.Err())
			}
			return fmt.Errorf("create topics: %w", err)
		}
		var errs []error
		for name, err := range resp.Errors {
			if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
				errs = append(errs, fmt.Errorf("topic %s: %w", name, err))
			}
		}
		return errors.Join(errs...)
	}, backoff.WithContext(b, ctx))
}

// DLQ headers.
const (
	HeaderDLQError     = "dlq.error"
	HeaderDLQTopic     = "dlq.topic"
	HeaderDLQPartition = "dlq.partition"
	HeaderDLQOffset    = "dlq.offset"
	HeaderDLQTime      = "dlq.time"
)

// DLQRecord wraps a record that cannot be processed for the dead-letter
// topic: same key, value and headers, plus headers saying why and where from.
func DLQRecord(rec Record, dlqTopic string, cause error, now time.Time) Record {
	msg := cause.Error()
	if len(msg) > 1024 {
		msg = msg[:1024]
	}
	hs := make([]Header, 0, len(rec.Headers)+5)
	for _, h := range rec.Headers {
		if !strings.HasPrefix(h.Key, "dlq.") {
			hs = append(hs, h)
		}
	}
	hs = append(hs,
		Header{HeaderDLQError, msg},
		Header{HeaderDLQTopic, rec.Topic},
		Header{HeaderDLQPartition, strconv.Itoa(rec.Partition)},
		Header{HeaderDLQOffset, strconv.FormatInt(rec.Offset, 10)},
		Header{HeaderDLQTime, now.UTC().Format(time.RFC3339Nano)},
	)
	return Record{Topic: dlqTopic, Key: rec.Key, Value: rec.Value, Headers: hs}
}

// Ping reports whether any seed broker accepts a connection and answers a
// metadata request.
func Ping(ctx context.Context, brokers []string) error {
	var errs []error
	for _, b := range brokers {
		conn, err := (&kafka.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "tcp", b)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		_, err = conn.Brokers()
		conn.Close()
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("no Kafka broker reachable: %w", errors.Join(errs...))
}
