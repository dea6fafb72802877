package testutil

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/leadscore/leads/pkg/embedded"
)

// KafkaEnv chooses the broker of the tests that use Kafka:
//
//	embedded (or unset)  the in-process kfake broker, one per test
//	real                 an Apache Kafka broker (scripts/kafka.sh), one per
//	                     test binary, shared through random topic names;
//	                     the tests fail when it cannot start
//	auto                 the real broker when Java (and Maven or the fetched
//	                     jars) are there, else the embedded one, saying so
//
// KafkaBrokersEnv, with real or auto, names a broker that already runs
// (host:port, comma-separated), so that several test binaries share one.
const (
	KafkaEnv        = "LEADS_IT_KAFKA"
	KafkaBrokersEnv = "LEADS_IT_KAFKA_BROKERS"
)

// realStartTimeout bounds fetching the jars (first run) and starting.
const realStartTimeout = 5 * time.Minute

var real struct {
	once    sync.Once
	brokers []string
	err     error
}

// RealKafka returns the seed brokers of the Apache Kafka broker the tests
// share, or nil when they use embedded brokers (see KafkaEnv). The broker
// is started by the first call and stops after the test binary exits.
func RealKafka(t testing.TB) []string {
	t.Helper()
	mode := strings.ToLower(strings.TrimSpace(os.Getenv(KafkaEnv)))
	switch mode {
	case "", "embedded":
		return nil
	case "real", "auto":
	default:
		t.Fatalf("%s=%q: want embedded, real or auto", KafkaEnv, mode)
	}
	real.once.Do(func() {
		real.brokers, real.err = startReal()
		if real.err == nil {
			real.err = warmGroups(real.brokers)
		}
	})
	if real.err != nil {
		if mode == "auto" {
			t.Logf("%s=auto: no Apache Kafka broker (%v); using the embedded broker", KafkaEnv, real.err)
			return nil
		}
		t.Fatalf("%s=real: %v", KafkaEnv, real.err)
	}
	return real.brokers
}

func startReal() ([]string, error) {
	if s := strings.TrimSpace(os.Getenv(KafkaBrokersEnv)); s != "" {
		return strings.Split(s, ","), nil
	}
	if _, err := exec.LookPath("java"); err != nil {
		return nil, errors.New("java is not installed; the Apache Kafka broker needs Java 17 or later (Debian: apt-get install -y openjdk-17-jre-headless maven)")
	}
	script, err := findScript()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "leads-kafka-")
	if err != nil {
		return nil, err
	}
	// kafka.sh refuses a directory that exists and is not empty; it
	// removes this one when the broker stops.
	ctx, cancel := context.WithTimeout(context.Background(), realStartTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script, "start", "--dir", dir, "--owner", strconv.Itoa(os.Getpid()))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("%s start: %w\n%s", script, err, strings.TrimSpace(stderr.String()))
	}
	addr := strings.TrimSpace(stdout.String())
	if addr == "" {
		return nil, fmt.Errorf("%s start printed no address\n%s", script, strings.TrimSpace(stderr.String()))
	}
	return []string{addr}, nil
}

// offsetsPartitions is offsets.topic.num.partitions in scripts/kafka.sh.
const offsetsPartitions = 8

// warmGroups waits until the broker coordinates consumer groups on every
// partition of __consumer_offsets. A fresh broker creates that topic when
// a group is first used and answers COORDINATOR_NOT_AVAILABLE, then
// NOT_COORDINATOR, until it has loaded it; kafka-go backs off 5 s per
// failed join, longer than the tests wait for their first records.
func warmGroups(brokers []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second, Transport: transport}
	for _, group := range groupPerPartition(offsetsPartitions) {
		for {
			resp, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group})
			if err == nil {
				err = resp.Error
			}
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("the broker at %v did not coordinate consumer groups within a minute: %w", brokers, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// groupPerPartition names a group for each partition of an n-partition
// __consumer_offsets: Kafka places a group by the Java hashCode of its id.
func groupPerPartition(n int) []string {
	out := make([]string, n)
	found := 0
	for i := 0; found < n; i++ {
		id := "leads-test-warmup-" + strconv.Itoa(i)
		var h int32
		for _, c := range id {
			h = 31*h + int32(c)
		}
		if p := int(h&0x7fffffff) % n; out[p] == "" {
			out[p] = id
			found++
		}
	}
	return out
}

// findScript looks for scripts/kafka.sh in the working directory (a
// package directory while testing) and its parents.
func findScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "scripts", "kafka.sh")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("scripts/kafka.sh not found above the working directory")
		}
		dir = parent
	}
}

// Kafka returns seed brokers holding the topics, each with the given
// partitions: an embedded broker of the caller's own, stopped at cleanup,
// or the shared Apache Kafka broker (see KafkaEnv), where the topics are
// created now and deleted at cleanup. With no topics, the embedded broker
// creates topics with partitions partitions by default; the real one with
// its num.partitions (1).
func Kafka(t testing.TB, partitions int32, topics ...string) []string {
	t.Helper()
	if brokers := RealKafka(t); brokers != nil {
		CreateTopics(t, brokers, partitions, topics...)
		return brokers
	}
	k, err := embedded.StartKafka(zap.NewNop(), embedded.KafkaOptions{Partitions: partitions, Topics: topics})
	if err != nil {
		t.Fatalf("start kafka: %v", err)
	}
	t.Cleanup(k.Close)
	return k.Addrs()
}

// CreateTopics creates the topics on brokers, waits until every partition
// has a leader, and deletes them at cleanup.
func CreateTopics(t testing.TB, brokers []string, partitions int32, topics ...string) {
	t.Helper()
	if len(topics) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A transport of its own: kafka-go answers Metadata from a transport's
	// cache, and the default one may hold this broker's older topic list.
	transport := &kafka.Transport{}
	t.Cleanup(transport.CloseIdleConnections)
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second, Transport: transport}
	req := &kafka.CreateTopicsRequest{}
	for _, name := range topics {
		req.Topics = append(req.Topics, kafka.TopicConfig{Topic: name, NumPartitions: int(max(partitions, 1)), ReplicationFactor: -1})
	}
	resp, err := client.CreateTopics(ctx, req)
	if err != nil {
		t.Fatalf("create topics %v: %v", topics, err)
	}
	for name, err := range resp.Errors {
		if err != nil {
			t.Fatalf("create topic %s: %v", name, err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: topics}); err != nil {
			t.Logf("delete topics %v: %v", topics, err)
		}
	})
	// The controller answers CreateTopics before the partitions have
	// leaders and before the broker's metadata knows them.
	var last error
	for ctx.Err() == nil {
		if last = topicsReady(ctx, client, topics, int(max(partitions, 1))); last == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("topics %v not ready within 30s: %v", topics, last)
}

func topicsReady(ctx context.Context, client *kafka.Client, topics []string, partitions int) error {
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return err
	}
	ready := 0
	offsets := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, tp := range md.Topics {
		if tp.Error != nil {
			return fmt.Errorf("topic %s: %w", tp.Name, tp.Error)
		}
		if len(tp.Partitions) != partitions {
			return fmt.Errorf("topic %s has %d of %d partitions", tp.Name, len(tp.Partitions), partitions)
		}
		for _, p := range tp.Partitions {
			if p.Error != nil || p.Leader.ID < 0 || p.Leader.Host == "" {
				return fmt.Errorf("topic %s partition %d has no leader yet", tp.Name, p.ID)
			}
			offsets.Topics[tp.Name] = append(offsets.Topics[tp.Name], kafka.FirstOffsetOf(p.ID))
		}
		ready++
	}
	if ready != len(topics) {
		return fmt.Errorf("%d of %d topics in the metadata", ready, len(topics))
	}
	// Apache Kafka names a new partition's leader in its metadata a moment
	// before the leader serves it (NOT_LEADER_OR_FOLLOWER meanwhile).
	listed, err := client.ListOffsets(ctx, offsets)
	if err != nil {
		return err
	}
	for name, parts := range listed.Topics {
		for _, p := range parts {
			if p.Error != nil {
				return fmt.Errorf("topic %s partition %d: %w", name, p.Partition, p.Error)
			}
		}
	}
	return nil
}
