package stream

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// Writer publishes records synchronously with acks=all.
type Writer struct {
	w         *kafka.Writer
	transport *kafka.Transport
}

// NewWriter returns a writer. Records name their topic; keys are hashed
// with murmur2 like the Java client, so a key lands on the same partition
// whichever client wrote it. Topics are never created by publishing: a
// typo in a topic name fails instead of creating a stray topic.
func NewWriter(cfg Config, log *zap.Logger) *Writer {
	info, errs := loggers(log.Named("kafka.writer"))
	codec, err := compression(cfg.Compression)
	if err != nil {
		codec = kafka.Lz4 // Validate reports it; an unvalidated typo keeps the default.
	}
	// kafka-go serves a topic's partitions from a metadata cache refreshed
	// every MetadataTTL (6 s by default) and fails a publish to a topic the
	// cache does not know: a short TTL keeps that window after topic
	// creation small.
	t := cfg.transport()
	t.MetadataTTL = time.Second
	return &Writer{transport: t, w: &kafka.Writer{
		Addr:         kafka.TCP(cfg.Brokers...),
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		Compression:  codec,
		BatchSize:    cfg.batchSize(),
		// Brokers reject requests over message.max.bytes (1 MiB by
		// default); kafka-go counts uncompressed bytes, so this is safe.
		BatchBytes:             1 << 20,
		BatchTimeout:           cfg.batchTimeout(),
		MaxAttempts:            3,
		WriteBackoffMin:        50 * time.Millisecond,
		WriteBackoffMax:        time.Second,
		AllowAutoTopicCreation: false,
		Logger:                 info,
		ErrorLogger:            errs,
		Transport:              &topicMetadata{RoundTripper: t, now: time.Now},
	}}
}

// Publish writes the records and returns once every one is acknowledged by
// all in-sync replicas, or with an error (some records may have been
// written). All records go to kafka-go in one call, so a big publish fills
// batches instead of paying BatchTimeout per record.
func (w *Writer) Publish(ctx context.Context, recs ...Record) error {
	if len(recs) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, len(recs))
	for i := range recs {
		msgs[i] = toMessage(&recs[i])
	}
	if err := w.w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("publish %d records: %w", len(recs), err)
	}
	return nil
}

// Close waits for writes in flight and closes the connections.
func (w *Writer) Close() error {
	err := w.w.Close()
	w.transport.CloseIdleConnections()
	return err
}

// loggers route kafka-go's logs into zap: its chatty info logs at Debug,
// its errors at Warn (kafka-go retries most of them itself). The logger's
// name says which client logged (kafka.writer, kafka.reader, ...); the
// caller skips this adapter and kafka.LoggerFunc.Printf, so that it is
// the kafka-go statement that logged (consumergroup.go:806 is a join)
// rather than the adapter, the same line for every message.
func loggers(log *zap.Logger) (info, errs kafka.Logger) {
	log = log.WithOptions(zap.AddCallerSkip(2))
	info = kafka.LoggerFunc(func(msg string, args ...any) {
		if log.Core().Enabled(zap.DebugLevel) { // skip the Sprintf on the hot path
			log.Debug(fmt.Sprintf(msg, args...))
		}
	})
	errs = kafka.LoggerFunc(func(msg string, args ...any) {
		log.Warn(fmt.Sprintf(msg, args...))
	})
	return info, errs
}
