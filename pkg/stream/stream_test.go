package stream

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/testutil"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	ok := Config{Brokers: []string{"localhost:9092"}}
	for _, tt := range []struct {
		name string
		edit func(*Config)
		want []error
	}{
		{"zero values take defaults", func(*Config) {}, nil},
		{"all set", func(c *Config) {
			*c = Config{Brokers: []string{"a:1", "b:2"}, ClientID: "x", BatchSize: 5, BatchTimeout: time.Second,
				Compression: "zstd", SessionTimeout: time.Second, HeartbeatInterval: 300 * time.Millisecond}
		}, nil},
		{"no brokers", func(c *Config) { c.Brokers = nil }, []error{ErrNoBrokers}},
		{"broker without port", func(c *Config) { c.Brokers = []string{"kafka"} }, []error{ErrInvalidBroker}},
		{"negative batch", func(c *Config) { c.BatchSize, c.BatchTimeout = -1, -time.Second },
			[]error{ErrInvalidBatchSize, ErrInvalidBatchTimeout}},
		{"unknown compression", func(c *Config) { c.Compression = "brotli" }, []error{ErrInvalidCompression}},
		{"heartbeat not under session", func(c *Config) { c.SessionTimeout, c.HeartbeatInterval = time.Second, time.Second },
			[]error{ErrInvalidHeartbeatInterval}},
		{"negative session", func(c *Config) { c.SessionTimeout = -time.Second }, []error{ErrInvalidSessionTimeout}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := ok
			tt.edit(&c)
			err := c.Validate()
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			for _, w := range tt.want {
				assert.ErrorIs(t, err, w)
			}
		})
	}
}

func TestRegisterFlags(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name        string
		ownBrokers  bool
		args        []string
		wantBrokers []string
	}{
		{"defaults", false, nil, []string{"localhost:9092"}},
		{"brokers list", false, []string{"--kafka-brokers", "a:1, b:2,"}, []string{"a:1", "b:2"}},
		// The programs' common flags own --kafka-brokers: no duplicate.
		{"brokers flag defined elsewhere", true, []string{"--kafka-brokers", "a:1"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			if tt.ownBrokers {
				fs.String("kafka-brokers", "", "")
			}
			var c Config
			c.RegisterFlags(fs)
			require.NoError(t, fs.Parse(append(tt.args, "--session-timeout=2s", "--kafka-compression=zstd")))
			assert.Equal(t, tt.wantBrokers, c.Brokers)
			assert.Equal(t, 2*time.Second, c.SessionTimeout)
			assert.Equal(t, "zstd", c.Compression)
			assert.Equal(t, DefaultBatchTimeout, c.BatchTimeout)
		})
	}
}

// rig is one embedded broker with a topic of parts partitions.
type rig struct {
	ctx   context.Context
	topic string
	cfg   Config
	w     *Writer
}

func newRig(t *testing.T, parts int32, extra ...string) *rig {
	t.Helper()
	topic := testutil.Prefix(t)
	// First: the first test to ask may wait for an Apache Kafka to start.
	brokers := testutil.Kafka(t, parts, append([]string{topic}, extra...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	cfg := Config{Brokers: brokers, SessionTimeout: time.Second}
	w := NewWriter(cfg, testutil.Logger(t))
	t.Cleanup(func() { assert.NoError(t, w.Close()) })
	return &rig{ctx: ctx, topic: topic, cfg: cfg, w: w}
}

func (r *rig) consumer(t *testing.T, group, topic string) *Consumer {
	t.Helper()
	c := NewConsumer(r.cfg, group, topic, testutil.Logger(t))
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// fetch reads until it holds n records.
func fetch(t *testing.T, ctx context.Context, c *Consumer, n int) []Record {
	t.Helper()
	var out []Record
	for len(out) < n {
		batch, err := c.FetchBatch(ctx, n-len(out), 20*time.Millisecond)
		require.NoError(t, err, "got %d of %d records", len(out), n)
		out = append(out, batch...)
	}
	return out
}

type tp struct {
	topic     string
	partition int
}

func TestPublishConsumeCommitResume(t *testing.T) {
	t.Parallel()
	r := newRig(t, 4)
	const n = 400
	var recs []Record
	for i := range n {
		recs = append(recs, Record{Topic: r.topic, Key: fmt.Appendf(nil, "contact-%d", i%25), Value: fmt.Append(nil, i),
			Headers: []Header{{"n", fmt.Sprint(i)}, {"ce_type", "lead.event"}}})
	}
	require.NoError(t, r.w.Publish(r.ctx, recs...))

	group := testutil.Prefix(t) + "-g"
	start := time.Now()
	c1 := r.consumer(t, group, r.topic)
	first := fetch(t, r.ctx, c1, 1)
	t.Logf("first record %v after joining the group", time.Since(start))
	got := append(first, fetch(t, r.ctx, c1, n-1)...)

	// Every record once, with its headers; one key, one partition, in order.
	seen := map[string]bool{}
	partOfKey := map[string]int{}
	next := map[int]int64{}
	for _, rec := range got {
		assert.False(t, seen[string(rec.Value)], "duplicate %s", rec.Value)
		seen[string(rec.Value)] = true
		assert.Equal(t, string(rec.Value), rec.HeaderValue("n"))
		assert.Equal(t, "lead.event", rec.HeaderValue("ce_type"))
		assert.False(t, rec.Time.IsZero())
		if p, ok := partOfKey[string(rec.Key)]; ok {
			assert.Equal(t, p, rec.Partition, "key %s", rec.Key)
		}
		partOfKey[string(rec.Key)] = rec.Partition
		assert.Equal(t, next[rec.Partition], rec.Offset, "partition %d in offset order", rec.Partition)
		next[rec.Partition] = rec.Offset + 1
	}
	assert.Len(t, seen, n)
	assert.Len(t, next, 4, "25 keys spread over all 4 partitions")

	// Commit about half of each partition, as a handler that stopped
	// midway would, then leave.
	committed := map[tp]int64{}
	var done []Record
	for _, rec := range got {
		if rec.Offset < next[rec.Partition]/2 {
			done = append(done, rec)
			committed[tp{rec.Topic, rec.Partition}] = max(committed[tp{rec.Topic, rec.Partition}], rec.Offset+1)
		}
	}
	require.NoError(t, c1.Commit(r.ctx, done))
	require.NoError(t, c1.Close())
	caught, err := GroupCaughtUp(r.ctx, r.cfg, group, r.topic)
	require.NoError(t, err)
	assert.False(t, caught, "half of each partition committed")

	// A new member resumes exactly after the committed offsets.
	start = time.Now()
	c2 := r.consumer(t, group, r.topic)
	rest := fetch(t, r.ctx, c2, n-len(done))
	t.Logf("second member resumed in %v", time.Since(start))
	for _, rec := range rest {
		k := tp{rec.Topic, rec.Partition}
		assert.Equal(t, committed[k], rec.Offset, "partition %d resumes at its committed offset", rec.Partition)
		committed[k] = rec.Offset + 1
	}
	for p, off := range next {
		assert.Equal(t, off, committed[tp{r.topic, p}], "partition %d read to its end", p)
	}
	require.NoError(t, c2.Commit(r.ctx, rest))
	caught, err = GroupCaughtUp(r.ctx, r.cfg, group, r.topic)
	require.NoError(t, err)
	assert.True(t, caught, "every partition committed to its end")
}

// TestKeysPartitionLikeJava: a key lands on the partition the Java client
// (and librdkafka's murmur2 partitioner) would pick, so other producers of
// the same topics keep one contact on one partition.
func TestKeysPartitionLikeJava(t *testing.T) {
	t.Parallel()
	const parts = 7
	r := newRig(t, parts)
	javaMurmur2 := map[string]uint32{ // Utils.murmur2 of the Java client
		"kafka": 0xd067cf64, "giberish123456789": 0x8f552b0c, "1234": 0x9fc97b14, "234": 0xe7c009ca,
		"34": 0x873930da, "4": 0x5a4b5ca1, "PreAmbleWillBeRemoved,ThePrePartThatIs": 0x78424f1c,
	}
	var recs []Record
	for k := range javaMurmur2 {
		recs = append(recs, Record{Topic: r.topic, Key: []byte(k), Value: []byte(k)})
	}
	require.NoError(t, r.w.Publish(r.ctx, recs...))
	for _, rec := range fetch(t, r.ctx, r.consumer(t, testutil.Prefix(t), r.topic), len(recs)) {
		want := int((javaMurmur2[string(rec.Key)] & 0x7fffffff) % parts)
		assert.Equal(t, want, rec.Partition, "key %s", rec.Key)
	}
}

// tenRecords publishes ten records (values "0" to "9") to the rig's topic,
// one partition, and returns a consumer of it in a group of its own.
func (r *rig) tenRecords(t *testing.T) *Consumer {
	t.Helper()
	var recs []Record
	for i := range 10 {
		recs = append(recs, Record{Topic: r.topic, Value: fmt.Append(nil, i)})
	}
	require.NoError(t, r.w.Publish(r.ctx, recs...))
	return r.consumer(t, testutil.Prefix(t), r.topic)
}

func TestFetchBatchStopsAtLimitAndLinger(t *testing.T) {
	t.Parallel()
	r := newRig(t, 1)
	c := r.tenRecords(t)

	batch, err := c.FetchBatch(r.ctx, 4, time.Second)
	require.NoError(t, err)
	require.Len(t, batch, 4, "stops at the limit")

	batch = fetch(t, r.ctx, c, 6)
	assert.Len(t, batch, 6)
	assert.Equal(t, int64(9), batch[5].Offset)

	// Nothing more: the call blocks for the first record until ctx ends.
	ctx, cancel := context.WithTimeout(r.ctx, 100*time.Millisecond)
	defer cancel()
	batch, err = c.FetchBatch(ctx, 100, 10*time.Millisecond)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Empty(t, batch)

	// One record arrives: it is handed out once linger has passed.
	require.NoError(t, r.w.Publish(r.ctx, Record{Topic: r.topic, Value: []byte("late")}))
	start := time.Now()
	batch, err = c.FetchBatch(r.ctx, 100, 50*time.Millisecond)
	require.NoError(t, err)
	require.Len(t, batch, 1)
	assert.Equal(t, "late", string(batch[0].Value))
	assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)
	assert.Less(t, time.Since(start), 2*time.Second)
	s := c.Stats()
	assert.Equal(t, int64(11), s.Messages)
}

// TestWaitedSaysWhetherTheFirstRecordWasQueued: a fetch whose first record
// was already fetched from the broker waits for it next to nothing; a
// fetch that has to wait for a record to be published waits about as long.
func TestWaitedSaysWhetherTheFirstRecordWasQueued(t *testing.T) {
	t.Parallel()
	r := newRig(t, 1)
	c := r.tenRecords(t)
	fetch(t, r.ctx, c, 4)
	// The other six came with the first four, and wait in the reader.
	fetch(t, r.ctx, c, 6)
	assert.Less(t, c.Waited(), 50*time.Millisecond, "queued")

	go func() {
		time.Sleep(300 * time.Millisecond)
		assert.NoError(t, r.w.Publish(r.ctx, Record{Topic: r.topic, Value: []byte("late")}))
	}()
	fetch(t, r.ctx, c, 1)
	assert.GreaterOrEqual(t, c.Waited(), 250*time.Millisecond, "waited for")
}

func TestSendToDLQ(t *testing.T) {
	t.Parallel()
	r := newRig(t, 2, "dlq")
	orig := Record{Topic: r.topic, Key: []byte("c-1"), Value: []byte("{broken"), Headers: []Header{{"trace", "t1"}}}
	require.NoError(t, r.w.Publish(r.ctx, orig))
	c := r.consumer(t, testutil.Prefix(t), r.topic)
	got := fetch(t, r.ctx, c, 1)[0]

	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	require.NoError(t, SendToDLQ(r.ctx, r.w, "dlq", got, errors.New("invalid JSON"), now))
	require.NoError(t, c.Commit(r.ctx, []Record{got}))

	d := fetch(t, r.ctx, r.consumer(t, testutil.Prefix(t), "dlq"), 1)[0]
	assert.Equal(t, "dlq", d.Topic)
	assert.Equal(t, orig.Key, d.Key)
	assert.Equal(t, orig.Value, d.Value)
	assert.Equal(t, "t1", d.HeaderValue("trace"))
	assert.Equal(t, "invalid JSON", d.HeaderValue(HeaderDLQError))
	assert.Equal(t, r.topic, d.HeaderValue(HeaderDLQTopic))
	assert.Equal(t, fmt.Sprint(got.Partition), d.HeaderValue(HeaderDLQPartition))
	assert.Equal(t, "0", d.HeaderValue(HeaderDLQOffset))
	assert.Equal(t, "2026-11-24T10:00:00Z", d.HeaderValue(HeaderDLQTime))
}

func TestDLQRecord(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 24, 10, 0, 0, 5e8, time.FixedZone("CET", 3600))
	rec := Record{Topic: "leads.events", Partition: 3, Offset: 42, Key: []byte("k"), Value: []byte("{"),
		Headers: []Header{{"trace", "t1"}, {HeaderDLQError, "failed before"}}}
	for _, tt := range []struct {
		name    string
		cause   error
		wantErr string
	}{
		{"cause", errors.New("invalid JSON"), "invalid JSON"},
		{"no cause", nil, "unknown error"},
		{"long cause cut on a rune boundary", errors.New(strings.Repeat("é", 600)), strings.Repeat("é", 512)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := DLQRecord(rec, "leads.events.dlq", tt.cause, now)
			assert.Equal(t, "leads.events.dlq", d.Topic)
			assert.Equal(t, rec.Key, d.Key)
			assert.Equal(t, rec.Value, d.Value)
			assert.Equal(t, "t1", d.HeaderValue("trace"))
			assert.Equal(t, tt.wantErr, d.HeaderValue(HeaderDLQError))
			assert.Len(t, d.Headers, 6, "an earlier dlq.error is replaced")
			assert.Equal(t, "leads.events", d.HeaderValue(HeaderDLQTopic))
			assert.Equal(t, "3", d.HeaderValue(HeaderDLQPartition))
			assert.Equal(t, "42", d.HeaderValue(HeaderDLQOffset))
			assert.Equal(t, "2026-11-24T09:00:00.5Z", d.HeaderValue(HeaderDLQTime))
		})
	}
}

func TestEnsureTopics(t *testing.T) {
	t.Parallel()
	brokers := testutil.Kafka(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p := testutil.Prefix(t)
	specs := []TopicSpec{
		{Name: p + ".events", Partitions: 6, Config: map[string]string{"retention.ms": "-1"}},
		{Name: p + ".dlq"}, // the broker's default partition count
	}
	require.NoError(t, EnsureTopics(ctx, Config{Brokers: brokers}, specs...))
	require.NoError(t, EnsureTopics(ctx, Config{Brokers: brokers}, specs...), "idempotent")
	require.NoError(t, EnsureTopics(ctx, Config{Brokers: brokers}, append(specs, TopicSpec{Name: p + ".new", Partitions: 2})...), "creates only the missing")

	// A transport of its own: kafka-go answers Metadata from a transport's
	// cache, refreshed every 6 s, and the default transport may have cached
	// this broker's topics before these were created (the broker is shared
	// when the tests run on Apache Kafka).
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: transport}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{p + ".events", p + ".dlq", p + ".new"}})
	require.NoError(t, err)
	parts := map[string]int{}
	for _, tp := range md.Topics {
		require.NoError(t, tp.Error, tp.Name)
		parts[tp.Name] = len(tp.Partitions)
	}
	assert.Equal(t, map[string]int{p + ".events": 6, p + ".dlq": defaultPartitions(t, client, md.Brokers[0].ID, 3), p + ".new": 2}, parts)

	// A replication factor over the broker count is not retried. (kfake,
	// unlike Kafka, accepts invalid topic names and config values.)
	start := time.Now()
	err = EnsureTopics(ctx, Config{Brokers: brokers}, TopicSpec{Name: p + ".rf", Partitions: 1, ReplicationFactor: 3})
	require.ErrorIs(t, err, kafka.InvalidReplicationFactor)
	assert.Less(t, time.Since(start), time.Second)
}

func TestEnsureTopicsGivesUpWithCtx(t *testing.T) {
	t.Parallel()
	// Nothing listens there: EnsureTopics retries until ctx ends.
	port := freePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := EnsureTopics(ctx, Config{Brokers: []string{port}}, TopicSpec{Name: "t", Partitions: 1})
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 3*time.Second)
	assert.Error(t, PingConfig(context.Background(), Config{Brokers: []string{port}}))
}

func TestPing(t *testing.T) {
	t.Parallel()
	brokers := testutil.Kafka(t, 1)
	require.NoError(t, PingConfig(context.Background(), Config{Brokers: brokers}))
	require.ErrorIs(t, PingConfig(context.Background(), Config{}), ErrNoBrokers)
}

// defaultPartitions reads the broker's num.partitions (1 on the Apache Kafka
// of the tests). The embedded broker does not describe it: its default is
// what it was started with, given as embedded.
func defaultPartitions(t *testing.T, client *kafka.Client, broker, embedded int) int {
	t.Helper()
	resp, err := client.DescribeConfigs(context.Background(), &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeBroker, ResourceName: strconv.Itoa(broker), ConfigNames: []string{"num.partitions"}}}})
	require.NoError(t, err)
	require.Len(t, resp.Resources, 1)
	require.NoError(t, resp.Resources[0].Error)
	for _, e := range resp.Resources[0].ConfigEntries {
		if e.ConfigName == "num.partitions" {
			n, err := strconv.Atoi(e.ConfigValue)
			require.NoError(t, err)
			return n
		}
	}
	return embedded
}

// freePort returns a loopback address nothing listens on.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func BenchmarkPublish(b *testing.B) {
	value := []byte(`{"id":"evt-00000001","type":"email.opened","contact_id":"c-42","account_id":"acme.com","time":"2026-11-20T10:00:00Z","properties":{"campaign":"q4-launch"}}`)
	for _, size := range []int{1, 100, 1000, 10000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			ctx := context.Background()
			topic := testutil.Prefix(b)
			brokers := testutil.Kafka(b, 8, topic)
			w := NewWriter(Config{Brokers: brokers}, testutil.Logger(b))
			defer w.Close()
			batch := make([]Record, size)
			for i := range batch {
				batch[i] = Record{Topic: topic, Key: fmt.Appendf(nil, "contact-%d", i%997), Value: value,
					Headers: []Header{{"ce_type", "email.opened"}}}
			}
			for b.Loop() {
				if err := w.Publish(ctx, batch...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
