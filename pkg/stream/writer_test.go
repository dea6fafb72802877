package stream

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/leadscore/leads/pkg/testutil"
)

// TestKeyPartitionIsKafkaGos: a key lands on the partition kafka-go's
// Murmur2Balancer (the writer's before) picked, whatever its length and
// the partition count.
func TestKeyPartitionIsKafkaGos(t *testing.T) {
	t.Parallel()
	var balancer kafka.Murmur2Balancer
	for _, n := range []int{1, 2, 3, 7, 8, 64, 1000} {
		parts := make([]int, n)
		for i := range parts {
			parts[i] = i
		}
		for size := range 40 {
			for range 50 {
				key := make([]byte, size)
				_, _ = rand.Read(key)
				want := balancer.Balance(kafka.Message{Key: key}, parts...)
				require.Equal(t, want, int(keyPartition(key, n)), "key %x among %d", key, n)
			}
		}
	}
}

// produced is what a fake cluster received: the partitions of each produce
// request, by broker, in order.
type produced struct {
	mu   sync.Mutex
	reqs []producedRequest
}

type producedRequest struct {
	node  int32
	parts []int32
	bytes int
}

// fakeCluster starts a kfake cluster of brokers brokers holding the topic,
// and records its produce requests.
func fakeCluster(t *testing.T, brokers, parts int, topic string) (*kfake.Cluster, *produced) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(brokers), kfake.SeedTopics(int32(parts), topic))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	seen := &produced{}
	c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		r := producedRequest{node: c.CurrentNode()}
		for _, tp := range kreq.(*kmsg.ProduceRequest).Topics {
			for _, p := range tp.Partitions {
				r.parts = append(r.parts, p.Partition)
				r.bytes += len(p.Records)
			}
		}
		seen.mu.Lock()
		seen.reqs = append(seen.reqs, r)
		seen.mu.Unlock()
		return nil, nil, false // observed only: the broker answers
	})
	return c, seen
}

func (p *produced) requests() []producedRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.reqs)
}

// fakeRig is a writer of a topic on a fake cluster that records its
// produce requests.
type fakeRig struct {
	ctx   context.Context
	topic string
	c     *kfake.Cluster
	seen  *produced
	w     *Writer
}

func newFakeRig(t *testing.T, brokers, parts int, edit func(*Config)) *fakeRig {
	t.Helper()
	r := &fakeRig{topic: testutil.Prefix(t)}
	r.c, r.seen = fakeCluster(t, brokers, parts, r.topic)
	cfg := Config{Brokers: r.c.ListenAddrs()}
	if edit != nil {
		edit(&cfg)
	}
	r.w = NewWriter(cfg, testutil.Logger(t))
	t.Cleanup(func() { assert.NoError(t, r.w.Close()) })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	r.ctx = ctx
	return r
}

// readAll reads the topic from its start until it holds n records, and
// fails on any more within a moment.
func readAll(t *testing.T, ctx context.Context, c *kfake.Cluster, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	var out []*kgo.Record
	for len(out) < n {
		f := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "read %d of %d records", len(out), n)
		require.Empty(t, f.Errors())
		out = append(out, f.Records()...)
	}
	more, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	out = append(out, cl.PollFetches(more).Records()...)
	require.Len(t, out, n, "no record written twice")
	return out
}

func keyed(topic string, n, keys int) []Record {
	recs := make([]Record, n)
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	for i := range recs {
		recs[i] = Record{Topic: topic, Key: fmt.Appendf(nil, "contact-%d", i%keys), Value: fmt.Append(nil, i),
			Headers: []Header{{"n", fmt.Sprint(i)}, {"ce_type", "lead.event"}}, Time: at.Add(time.Duration(i) * time.Millisecond)}
	}
	return recs
}

// checkRead: every record once, on its key's partition, with its headers
// and time, and the records of a key in their order.
func checkRead(t *testing.T, got []*kgo.Record, recs []Record, parts int) {
	t.Helper()
	want := map[string]Record{}
	for _, r := range recs {
		want[string(r.Value)] = r
	}
	last := map[string]int{}
	for _, g := range got {
		r, ok := want[string(g.Value)]
		require.True(t, ok, "unknown record %s", g.Value)
		delete(want, string(g.Value))
		assert.Equal(t, string(r.Key), string(g.Key))
		assert.Equal(t, keyPartition(r.Key, parts), g.Partition, "key %s", r.Key)
		var hs []Header
		for _, h := range g.Headers {
			hs = append(hs, Header{h.Key, string(h.Value)})
		}
		assert.Equal(t, r.Headers, hs)
		assert.True(t, r.Time.Equal(g.Timestamp), "time %v, want %v", g.Timestamp, r.Time)
		var i int
		_, err := fmt.Sscan(string(g.Value), &i)
		require.NoError(t, err)
		if prev, ok := last[string(g.Key)]; ok {
			assert.Less(t, prev, i, "key %s in order", g.Key)
		}
		last[string(g.Key)] = i
	}
	assert.Empty(t, want, "records not read")
}

func TestPublishSendsOneRequestPerBroker(t *testing.T) {
	t.Parallel()
	const parts = 8
	r := newFakeRig(t, 3, parts, nil)
	c, seen, w, ctx, topic := r.c, r.seen, r.w, r.ctx, r.topic
	recs := keyed(topic, 1000, 200)
	require.NoError(t, w.Publish(ctx, recs...))

	leaders := map[int32]bool{}
	for p := range int32(parts) {
		leaders[c.LeaderFor(topic, p)] = true
	}
	reqs := seen.requests()
	require.Len(t, reqs, len(leaders), "one request per broker leading a partition")
	var all []int32
	for _, r := range reqs {
		assert.True(t, leaders[r.node], "broker %d", r.node)
		delete(leaders, r.node)
		for _, p := range r.parts {
			assert.Equal(t, r.node, c.LeaderFor(topic, p), "partition %d sent to its leader", p)
		}
		all = append(all, r.parts...)
	}
	slices.Sort(all)
	assert.Equal(t, []int32{0, 1, 2, 3, 4, 5, 6, 7}, all, "each partition in one request")
	checkRead(t, readAll(t, ctx, c, topic, len(recs)), recs, parts)
}

func TestPublishRetriesOnlyThePartitionsThatFailed(t *testing.T) {
	t.Parallel()
	const parts = 4
	r := newFakeRig(t, 1, parts, nil)
	c, seen, w, ctx, topic := r.c, r.seen, r.w, r.ctx, r.topic
	fault := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Partitions: []int32{1, 3},
		Err: kerr.NotLeaderForPartition})
	recs := keyed(topic, 400, 40)
	require.NoError(t, w.Publish(ctx, recs...))
	assert.Equal(t, 1, fault.Hits())

	reqs := seen.requests()
	require.Len(t, reqs, 2)
	assert.ElementsMatch(t, []int32{0, 1, 2, 3}, reqs[0].parts)
	assert.ElementsMatch(t, []int32{1, 3}, reqs[1].parts, "only the failed partitions again")
	checkRead(t, readAll(t, ctx, c, topic, len(recs)), recs, parts)
}

func TestPublishFailsOnANonRetriableError(t *testing.T) {
	t.Parallel()
	r := newFakeRig(t, 1, 2, nil)
	c, seen, w, ctx, topic := r.c, r.seen, r.w, r.ctx, r.topic
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Partitions: []int32{1}, Err: kerr.InvalidRecord})
	err := w.Publish(ctx, keyed(topic, 100, 10)...)
	require.ErrorIs(t, err, kafka.InvalidRecord)
	assert.Contains(t, err.Error(), fmt.Sprintf("topic %s partition 1", topic))
	assert.Len(t, seen.requests(), 1, "not retried")
}

func TestPublishGivesUpWhenItsContextEnds(t *testing.T) {
	t.Parallel()
	r := newFakeRig(t, 1, 2, nil)
	c, seen, w, topic := r.c, r.seen, r.w, r.topic
	// The context ends once the broker has refused two attempts and seen
	// a third: a fixed deadline ended before the first answer on a busy
	// machine (with -race), leaving no attempt's error to report.
	ctx, cancel := context.WithCancelCause(r.ctx)
	defer cancel(nil)
	stop := errors.New("stopped after three attempts")
	go func() {
		for len(seen.requests()) < 3 && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		cancel(stop)
	}()
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Err: kerr.NotEnoughReplicas, Count: -1})
	err := w.Publish(ctx, keyed(topic, 100, 10)...)
	require.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, context.Cause(ctx), stop, "ended by the third attempt, not by the rig's deadline")
	assert.ErrorIs(t, err, kafka.NotEnoughReplicas, "the last attempt's error")
	assert.Greater(t, len(seen.requests()), 1, "retried meanwhile")
}

func TestPublishFollowsALeaderMove(t *testing.T) {
	t.Parallel()
	const parts = 6
	r := newFakeRig(t, 3, parts, nil)
	c, seen, w, ctx, topic := r.c, r.seen, r.w, r.ctx, r.topic
	first := keyed(topic, 300, 30)
	require.NoError(t, w.Publish(ctx, first...))

	// Partition 0 moves to another broker: the writer, which knows the
	// old leader, is refused there and finds the new one.
	from := c.LeaderFor(topic, 0)
	to := (from + 1) % 3
	require.NoError(t, c.MoveTopicPartition(topic, 0, to))
	before := len(seen.requests())
	second := keyed(topic, 300, 30)
	for i := range second {
		second[i].Value = fmt.Append(nil, 300+i)
	}
	require.NoError(t, w.Publish(ctx, second...))

	refused, moved := false, false
	for _, r := range seen.requests()[before:] {
		if slices.Contains(r.parts, 0) {
			refused = refused || r.node == from
			moved = moved || r.node == to
		}
	}
	assert.True(t, refused, "partition 0 first sent to its old leader")
	assert.True(t, moved, "then to its new one")
	checkRead(t, readAll(t, ctx, c, topic, 600), append(first, second...), parts)
}

func TestPublishRefusesAnUnknownTopic(t *testing.T) {
	t.Parallel()
	r := newFakeRig(t, 1, 2, nil)
	c, seen, w, ctx, topic := r.c, r.seen, r.w, r.ctx, r.topic
	err := w.Publish(ctx, Record{Topic: topic, Value: []byte("a")}, Record{Topic: topic + ".typo", Value: []byte("b")})
	require.ErrorIs(t, err, kafka.UnknownTopicOrPartition)
	assert.Contains(t, err.Error(), topic+".typo")
	assert.Empty(t, seen.requests(), "nothing sent, not even to the known topic")

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	require.NoError(t, err)
	defer cl.Close()
	md := kmsg.NewPtrMetadataRequest()
	md.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr(topic + ".typo")}}
	res, err := md.RequestWith(ctx, cl)
	require.NoError(t, err)
	require.Len(t, res.Topics, 1)
	assert.Equal(t, kerr.UnknownTopicOrPartition.Code, res.Topics[0].ErrorCode, "not created")
}

// TestPublishSplitsBigPublishes: records over 1 MiB a request, or over the
// batch size a partition, go in several requests, a partition's in their
// order; a record over 1 MiB alone is refused.
func TestPublishSplitsBigPublishes(t *testing.T) {
	t.Parallel()
	const parts = 2
	r := newFakeRig(t, 1, parts, func(cfg *Config) { cfg.BatchSize = 100 })
	c, seen, w, ctx, topic := r.c, r.seen, r.w, r.ctx, r.topic

	// 3.2 MB that lz4 cannot shrink, on two partitions.
	recs := keyed(topic, 200, 2)
	for i := range recs {
		v := make([]byte, 16000)
		_, _ = rand.Read(v)
		recs[i].Value = append(fmt.Appendf(nil, "%d ", i), v...)
	}
	require.NoError(t, w.Publish(ctx, recs...))
	reqs := seen.requests()
	assert.GreaterOrEqual(t, len(reqs), 4, "3.2 MB in requests of 1 MiB at most")
	for _, r := range reqs {
		assert.LessOrEqual(t, r.bytes, 1<<20+4096)
	}
	got := readAll(t, ctx, c, topic, len(recs))
	sort.SliceStable(got, func(i, j int) bool { return got[i].Partition < got[j].Partition })
	last := map[string]int{}
	for _, g := range got {
		var i int
		_, err := fmt.Sscan(strings.SplitN(string(g.Value), " ", 2)[0], &i)
		require.NoError(t, err)
		if prev, ok := last[string(g.Key)]; ok {
			assert.Less(t, prev, i, "key %s in order", g.Key)
		}
		last[string(g.Key)] = i
	}

	// The batch size: 250 small records of one key, 100 a request.
	before := len(seen.requests())
	small := keyed(topic, 250, 1)
	for i := range small {
		small[i].Value = fmt.Append(nil, 1000+i)
	}
	require.NoError(t, w.Publish(ctx, small...))
	assert.Len(t, seen.requests()[before:], 3)

	err := w.Publish(ctx, Record{Topic: topic, Value: make([]byte, 1<<20)})
	require.ErrorIs(t, err, kafka.MessageSizeTooLarge)
	assert.Len(t, seen.requests(), before+3, "not sent")
}

func TestPublishAfterCloseFails(t *testing.T) {
	t.Parallel()
	topic := testutil.Prefix(t)
	c, _ := fakeCluster(t, 1, 1, topic)
	w := NewWriter(Config{Brokers: c.ListenAddrs()}, testutil.Logger(t))
	require.NoError(t, w.Publish(context.Background(), Record{Topic: topic, Value: []byte("a")}))
	require.NoError(t, w.Close())
	assert.ErrorIs(t, w.Publish(context.Background(), Record{Topic: topic, Value: []byte("b")}), ErrWriterClosed)
}

// TestPublishToSeveralTopics: one publish to two topics of different
// partition counts, some partitions needing several requests, on three
// brokers: each topic's records on their key's partition, in order.
func TestPublishToSeveralTopics(t *testing.T) {
	t.Parallel()
	a, b := testutil.Prefix(t)+".a", testutil.Prefix(t)+".b"
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(1, a))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	require.NoError(t, err)
	defer cl.Close()
	create := kmsg.NewPtrCreateTopicsRequest()
	create.Topics = []kmsg.CreateTopicsRequestTopic{{Topic: b, NumPartitions: 3, ReplicationFactor: 1}}
	res, err := create.RequestWith(ctx, cl)
	require.NoError(t, err)
	require.Zero(t, res.Topics[0].ErrorCode)

	core, logs := observer.New(zapcore.WarnLevel)
	w := NewWriter(Config{Brokers: c.ListenAddrs(), BatchSize: 100}, zap.New(core))
	t.Cleanup(func() { assert.NoError(t, w.Close()) })
	// Topic a: 250 records of one partition. Topic b: 250 of a key of
	// partition 2, after one record of a key of partition 0, which is
	// done after one request: the rounds after it start on topic b with
	// a partition done.
	key := func(p int32) []byte {
		for i := 0; ; i++ {
			if k := fmt.Appendf(nil, "contact-%d", i); keyPartition(k, 3) == p {
				return k
			}
		}
	}
	recs := keyed(a, 250, 1)
	recs = append(recs, Record{Topic: b, Key: key(0), Value: []byte("b-first")})
	for i := range 250 {
		recs = append(recs, Record{Topic: b, Key: key(2), Value: fmt.Appendf(nil, "b-%d", i)})
	}
	require.NoError(t, w.Publish(ctx, recs...))
	checkRead(t, readAll(t, ctx, c, a, 250), recs[:250], 1)
	got := readAll(t, ctx, c, b, 251)
	n := 0
	for _, g := range got {
		assert.Equal(t, keyPartition(g.Key, 3), g.Partition)
		if string(g.Key) == string(key(2)) {
			assert.Equal(t, fmt.Sprintf("b-%d", n), string(g.Value), "in order")
			n++
		}
	}
	assert.Equal(t, 250, n)
	assert.Zero(t, logs.Len(), "no retry: each partition sent to its leader")
}
