package embedded

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// KafkaOptions configures the embedded broker.
type KafkaOptions struct {
	// Port to listen on (127.0.0.1); 0 picks a free one.
	Port int
	// Partitions of each seeded topic, and of topics created with the
	// broker's default partition count; 0 means 1.
	Partitions int32
	// Topics to create at start.
	Topics []string
	// DataDir, when set, keeps the broker's data (records, committed
	// offsets) on disk there, so a broker closed and started again on the
	// same Port and DataDir has it all back, as after a real broker's
	// restart.
	DataDir string
}

// Kafka is an in-process Kafka-protocol broker (kfake) holding everything
// in memory. Topics are not created by producing or fetching, as on a
// production cluster with auto-creation off.
type Kafka struct{ c *kfake.Cluster }

// StartKafka starts a one-broker cluster with the topics created.
func StartKafka(log *zap.Logger, opts KafkaOptions) (*Kafka, error) {
	parts := max(opts.Partitions, 1)
	kopts := []kfake.Opt{
		// kfake starts three brokers unless told otherwise.
		kfake.NumBrokers(1),
		// kfake, like Kafka, rejects session timeouts under 6 s; tests use
		// short ones so a killed member's partitions move quickly.
		kfake.GroupMinSessionTimeout(100 * time.Millisecond),
		kfake.DefaultNumPartitions(int(parts)),
		kfake.WithLogger(kfakeLogger{log.Named("kfake")}),
	}
	if opts.Port != 0 {
		kopts = append(kopts, kfake.Ports(opts.Port))
	}
	if opts.DataDir != "" {
		kopts = append(kopts, kfake.DataDir(opts.DataDir))
	}
	if len(opts.Topics) > 0 {
		kopts = append(kopts, kfake.SeedTopics(parts, opts.Topics...))
	}
	c, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("start embedded Kafka: %w", err)
	}
	log.Info("embedded Kafka broker started", zap.Strings("addrs", c.ListenAddrs()),
		zap.Strings("topics", opts.Topics), zap.Int32("partitions", parts))
	return &Kafka{c: c}, nil
}

// Addrs are the seed broker addresses.
func (k *Kafka) Addrs() []string { return k.c.ListenAddrs() }

// Close stops the broker and drops its data.
func (k *Kafka) Close() { k.c.Close() }

// kfakeLogger routes kfake's logs into zap; it logs every request at Info,
// so those go to Debug.
type kfakeLogger struct{ log *zap.Logger }

func (l kfakeLogger) Logf(level kfake.LogLevel, msg string, args ...any) {
	zl := zapcore.DebugLevel
	switch level {
	case kfake.LogLevelError:
		zl = zapcore.ErrorLevel
	case kfake.LogLevelWarn:
		zl = zapcore.WarnLevel
	}
	if ce := l.log.Check(zl, ""); ce != nil {
		ce.Message = fmt.Sprintf(msg, args...)
		ce.Write()
	}
}
