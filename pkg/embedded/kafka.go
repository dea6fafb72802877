package embedded

import (
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
)

// KafkaOptions configures the embedded broker.
type KafkaOptions struct {
	// Port to listen on (127.0.0.1); 0 picks a free one.
	Port       int
	Partitions int32
	Topics     []string
}

// Kafka is an in-process Kafka-protocol broker.
type Kafka struct{ c *kfake.Cluster }

// StartKafka starts a one-broker cluster with the topics created. Group
// session timeouts down to 250ms are allowed so crash tests need not wait.
func StartKafka(log *zap.Logger, opts KafkaOptions) (*Kafka, error) {
	kopts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.GroupMinSessionTimeout(250 * time.Millisecond),
		kfake.DefaultNumPartitions(int(max(opts.Partitions, 1))),
	}
	if opts.Port != 0 {
		kopts = append(kopts, kfake.Ports(opts.Port))
	}
	if len(opts.Topics) > 0 {
		kopts = append(kopts, kfake.SeedTopics(max(opts.Partitions, 1), opts.Topics...))
	}
	c, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, err
	}
	log.Info("embedded Kafka broker started", zap.Strings("addrs", c.ListenAddrs()), zap.Strings("topics", opts.Topics),
		zap.Int32("partitions", opts.Partitions))
	return &Kafka{c: c}, nil
}

// Addrs are the seed broker addresses.
func (k *Kafka) Addrs() []string { return k.c.ListenAddrs() }

// Close stops the broker.
func (k *Kafka) Close() { k.c.Close() }
