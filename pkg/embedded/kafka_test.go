package embedded_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/leadscore/leads/pkg/embedded"
	"github.com/leadscore/leads/pkg/stream"
)

func TestKafka(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	log := zaptest.NewLogger(t)
	// A port found free can be taken by a parallel test before the broker
	// binds it: try a few.
	var k *embedded.Kafka
	var port int
	var err error
	for range 5 {
		port, err = embedded.FreePort()
		require.NoError(t, err)
		if k, err = embedded.StartKafka(log, embedded.KafkaOptions{Port: port, Partitions: 3, Topics: []string{"a", "b"}}); err == nil {
			break
		}
	}
	require.NoError(t, err)
	defer k.Close()
	require.Len(t, k.Addrs(), 1)
	assert.Contains(t, k.Addrs()[0], ":"+strconv.Itoa(port))
	require.NoError(t, stream.PingConfig(ctx, stream.Config{Brokers: k.Addrs()}))

	w := stream.NewWriter(stream.Config{Brokers: k.Addrs()}, log)
	defer w.Close()
	require.NoError(t, w.Publish(ctx, stream.Record{Topic: "a", Key: []byte("k"), Value: []byte("v")}))
	// Producing does not create topics.
	pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
	defer pcancel()
	assert.Error(t, w.Publish(pctx, stream.Record{Topic: "nope", Value: []byte("v")}))

	// A session timeout far under Kafka's 6 s minimum is accepted, so crash
	// tests need not wait long for a dead member's partitions.
	c := stream.NewConsumer(stream.Config{Brokers: k.Addrs(), SessionTimeout: 500 * time.Millisecond}, "g", "a", log)
	defer c.Close()
	fctx, fcancel := context.WithTimeout(ctx, 5*time.Second)
	defer fcancel()
	recs, err := c.FetchBatch(fctx, 10, time.Millisecond)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, "v", string(recs[0].Value))

	// A topic created later, with the broker's default partition count,
	// reaches the writer with its next metadata refresh.
	require.NoError(t, stream.EnsureTopics(ctx, stream.Config{Brokers: k.Addrs()}, stream.TopicSpec{Name: "c"}))
	require.Eventually(t, func() bool {
		return w.Publish(ctx, stream.Record{Topic: "c", Value: []byte("v")}) == nil
	}, 5*time.Second, 50*time.Millisecond)

	k.Close()
	assert.Error(t, stream.PingConfig(ctx, stream.Config{Brokers: []string{"127.0.0.1:" + strconv.Itoa(port)}}), "closed")
}
