package stream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/segmentio/kafka-go"

	"github.com/leadscore/leads/pkg/retry"
)

// TopicSpec describes a topic to create. Zero Partitions or
// ReplicationFactor take the broker's defaults.
type TopicSpec struct {
	Name              string
	Partitions        int
	ReplicationFactor int
	Config            map[string]string
}

// ensureTopicsTimeout bounds how long EnsureTopics waits for brokers that
// are still starting.
const ensureTopicsTimeout = 30 * time.Second

// EnsureTopics creates the topics that do not exist yet and waits until
// every partition has a leader. An existing topic is left as it is. While
// the brokers are unreachable or not ready it retries with backoff, for at
// most half a minute; errors such as an invalid config fail at once.
func EnsureTopics(ctx context.Context, cfg Config, topics ...TopicSpec) error {
	if len(topics) == 0 {
		return nil
	}
	client, done := cfg.client()
	defer done()
	req := &kafka.CreateTopicsRequest{}
	names := make([]string, len(topics))
	for i, t := range topics {
		names[i] = t.Name
		tc := kafka.TopicConfig{Topic: t.Name, NumPartitions: orDefault(t.Partitions), ReplicationFactor: orDefault(t.ReplicationFactor)}
		for k, v := range t.Config {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: v})
		}
		req.Topics = append(req.Topics, tc)
	}
	b := retry.Backoff(50*time.Millisecond, 2*time.Second)
	b.MaxElapsedTime = ensureTopicsTimeout
	var last error
	err := backoff.Retry(func() error {
		last = createTopics(ctx, client, req)
		if last == nil {
			last = topicsReady(ctx, client, names)
		}
		return last
	}, backoff.WithContext(b, ctx))
	if err != nil {
		if last != nil && !errors.Is(last, err) {
			err = fmt.Errorf("%w (last attempt: %w)", err, last)
		}
		return fmt.Errorf("ensure topics %v: %w", names, err)
	}
	return nil
}

// orDefault maps "unset" to -1, which asks the broker for its default.
func orDefault(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

func createTopics(ctx context.Context, client *kafka.Client, req *kafka.CreateTopicsRequest) error {
	resp, err := client.CreateTopics(ctx, req)
	if err != nil {
		return retriable(ctx, fmt.Errorf("create topics: %w", err))
	}
	var errs []error
	permanent := false
	for name, err := range resp.Errors {
		if err == nil || errors.Is(err, kafka.TopicAlreadyExists) {
			continue
		}
		errs = append(errs, fmt.Errorf("create topic %s: %w", name, err))
		var kerr kafka.Error
		if !errors.As(err, &kerr) || !kerr.Temporary() {
			permanent = true
		}
	}
	err = errors.Join(errs...)
	if permanent {
		return backoff.Permanent(err)
	}
	return err
}

// topicsReady fails while a topic or one of its partitions is not yet
// served: a broker may answer CreateTopics before every broker knows, and
// Apache Kafka lists a new partition's leader in its metadata a moment
// before that leader serves it (it answers NOT_LEADER_OR_FOLLOWER
// meanwhile), so every partition must also answer a ListOffsets.
func topicsReady(ctx context.Context, client *kafka.Client, names []string) error {
	resp, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
	if err != nil {
		return retriable(ctx, fmt.Errorf("topic metadata: %w", err))
	}
	offsets := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	seen := map[string]bool{}
	for _, t := range resp.Topics {
		if t.Error != nil {
			return fmt.Errorf("topic %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			if p.Error != nil || p.Leader.ID < 0 {
				return fmt.Errorf("topic %s partition %d has no leader yet", t.Name, p.ID)
			}
			offsets.Topics[t.Name] = append(offsets.Topics[t.Name], kafka.FirstOffsetOf(p.ID))
		}
		seen[t.Name] = len(t.Partitions) > 0
	}
	for _, n := range names {
		if !seen[n] {
			return fmt.Errorf("topic %s is not in the metadata yet", n)
		}
	}
	listed, err := client.ListOffsets(ctx, offsets)
	if err != nil {
		return retriable(ctx, fmt.Errorf("list offsets: %w", err))
	}
	for name, parts := range listed.Topics {
		for _, p := range parts {
			if p.Error != nil {
				return fmt.Errorf("topic %s partition %d is not served yet: %w", name, p.Partition, p.Error)
			}
		}
	}
	return nil
}

// retriable keeps an error retriable unless ctx ended, which no retry fixes.
func retriable(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return backoff.Permanent(err)
	}
	return err
}

// PingConfig reports whether any seed broker accepts a connection, with
// the configuration's TLS and SASL, and answers a metadata request, within
// ctx's deadline (2 s a broker without one).
func PingConfig(ctx context.Context, cfg Config) error {
	brokers := cfg.Brokers
	if len(brokers) == 0 {
		return ErrNoBrokers
	}
	dialer := cfg.dialer(2 * time.Second)
	var errs []error
	for _, b := range brokers {
		conn, err := dialer.DialContext(ctx, "tcp", b)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// The dialer's timeout covers only the dial: a broker that accepts
		// and never answers would hold the metadata request forever.
		if dl, ok := ctx.Deadline(); ok {
			_ = conn.SetDeadline(dl)
		} else {
			_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
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
