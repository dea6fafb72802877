package stream

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// Defaults used for zero fields, so a Config literal with only Brokers works.
const (
	DefaultClientID = "leads"
	// DefaultBatchSize bounds the records of one partition in one produce
	// request; a publish of more sends the rest in the requests that
	// follow. Requests are bounded to 1 MiB of records besides.
	DefaultBatchSize = 500
	// DefaultBatchTimeout is the default of a setting the writer no longer
	// reads: a publish sends its records at once, without waiting for
	// others to fill its batches. It was the time kafka-go's Writer waited
	// for a batch to fill, which each publish paid when its records did
	// not fill one; --kafka-batch-timeout is still accepted so that
	// command lines that set it keep working.
	DefaultBatchTimeout   = time.Microsecond
	DefaultCompression    = "lz4"
	DefaultSessionTimeout = 10 * time.Second
)

// Validation errors, joined by Validate.
var (
	ErrNoBrokers                = errors.New("at least one Kafka broker is required")
	ErrInvalidBroker            = errors.New("a Kafka broker address must be host:port")
	ErrInvalidBatchSize         = errors.New("the Kafka batch size must not be negative")
	ErrInvalidBatchTimeout      = errors.New("the Kafka batch timeout must not be negative")
	ErrInvalidCompression       = errors.New("the Kafka compression must be one of none, gzip, snappy, lz4, zstd")
	ErrInvalidSessionTimeout    = errors.New("the consumer group session timeout must not be negative")
	ErrInvalidHeartbeatInterval = errors.New("the consumer group heartbeat interval must be shorter than the session timeout")
)

// Config configures the Kafka clients. Zero fields take the defaults above.
type Config struct {
	Brokers  []string
	ClientID string

	// Producer: a publish sends one produce request to each broker leading
	// a partition its records go to, with at most BatchSize records of a
	// partition, compressed with Compression. BatchTimeout is not read
	// (see DefaultBatchTimeout).
	BatchSize    int
	BatchTimeout time.Duration
	Compression  string

	// Consumer group: SessionTimeout is how long a crashed member keeps its
	// partitions; HeartbeatInterval defaults to a fifth of it.
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration

	// TLS and SASL apply to every connection: producer, consumer, pings.
	TLS  TLSConfig
	SASL SASLConfig
}

// RegisterFlags adds every Kafka client flag: RegisterConnectionFlags,
// RegisterProducerFlags and RegisterGroupFlags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.RegisterConnectionFlags(fs)
	c.RegisterProducerFlags(fs)
	c.RegisterGroupFlags(fs)
}

// RegisterConnectionFlags adds the flags of every connection to the
// brokers: the client ID, TLS and SASL. --kafka-brokers is added only when
// no other Config (such as the programs' common flags) added it first.
func (c *Config) RegisterConnectionFlags(fs *flag.FlagSet) {
	if fs.Lookup("kafka-brokers") == nil {
		if len(c.Brokers) == 0 {
			c.Brokers = []string{"localhost:9092"}
		}
		fs.Var((*brokerList)(&c.Brokers), "kafka-brokers", "comma-separated seed brokers")
	}
	fs.StringVar(&c.ClientID, "kafka-client-id", DefaultClientID, "client ID sent to the brokers")
	c.registerSecurityFlags(fs)
}

// RegisterProducerFlags adds the flags of a command that publishes.
func (c *Config) RegisterProducerFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.BatchSize, "kafka-batch-size", DefaultBatchSize, "most records per produce request per partition")
	fs.DurationVar(&c.BatchTimeout, "kafka-batch-timeout", DefaultBatchTimeout, "not used: a publish is sent at once (accepted for existing command lines)")
	fs.StringVar(&c.Compression, "kafka-compression", DefaultCompression, "produce compression: none, gzip, snappy, lz4 or zstd")
}

// RegisterGroupFlags adds the flags of a consumer group member.
func (c *Config) RegisterGroupFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.SessionTimeout, "session-timeout", DefaultSessionTimeout, "consumer group session timeout: how long a crashed member keeps its partitions (Kafka brokers refuse less than group.min.session.timeout.ms, 6s by default)")
	fs.DurationVar(&c.HeartbeatInterval, "heartbeat-interval", 0, "consumer group heartbeat interval (0: a fifth of --session-timeout)")
}

// Validate checks the configuration and returns every problem found.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, ErrNoBrokers)
	}
	for _, b := range c.Brokers {
		if i := strings.LastIndexByte(b, ':'); i <= 0 || i == len(b)-1 {
			errs = append(errs, fmt.Errorf("%w: %q", ErrInvalidBroker, b))
		}
	}
	if c.BatchSize < 0 {
		errs = append(errs, ErrInvalidBatchSize)
	}
	if c.BatchTimeout < 0 {
		errs = append(errs, ErrInvalidBatchTimeout)
	}
	if _, err := compression(c.Compression); err != nil {
		errs = append(errs, err)
	}
	if c.SessionTimeout < 0 {
		errs = append(errs, ErrInvalidSessionTimeout)
	}
	if c.HeartbeatInterval < 0 || c.HeartbeatInterval > 0 && c.HeartbeatInterval >= c.sessionTimeout() {
		errs = append(errs, ErrInvalidHeartbeatInterval)
	}
	errs = append(errs, c.validateSecurity()...)
	return errors.Join(errs...)
}

func (c *Config) clientID() string {
	if c.ClientID == "" {
		return DefaultClientID
	}
	return c.ClientID
}

func (c *Config) batchSize() int {
	if c.BatchSize <= 0 {
		return DefaultBatchSize
	}
	return c.BatchSize
}

func (c *Config) sessionTimeout() time.Duration {
	if c.SessionTimeout <= 0 {
		return DefaultSessionTimeout
	}
	return c.SessionTimeout
}

func (c *Config) heartbeatInterval() time.Duration {
	if c.HeartbeatInterval > 0 {
		return c.HeartbeatInterval
	}
	return max(c.sessionTimeout()/5, 50*time.Millisecond)
}

func compression(name string) (kafka.Compression, error) {
	switch strings.ToLower(name) {
	case "", "lz4":
		return kafka.Lz4, nil
	case "none":
		return 0, nil
	case "gzip":
		return kafka.Gzip, nil
	case "snappy":
		return kafka.Snappy, nil
	case "zstd":
		return kafka.Zstd, nil
	}
	return 0, fmt.Errorf("%w: %q", ErrInvalidCompression, name)
}

// brokerList is a comma-separated flag value.
type brokerList []string

func (l *brokerList) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}

func (l *brokerList) Set(s string) error {
	*l = nil
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			*l = append(*l, b)
		}
	}
	return nil
}
