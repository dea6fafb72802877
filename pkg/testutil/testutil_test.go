package testutil

import (
	"context"
	"regexp"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/stream"
)

func TestPrefix(t *testing.T) {
	t.Parallel()
	a, b := Prefix(t), Prefix(t)
	assert.NotEqual(t, a, b)
	assert.Regexp(t, regexp.MustCompile(`^testprefix-[0-9a-f]{8}$`), a)
	t.Run("Sub Test/with.odd_chars", func(t *testing.T) {
		assert.Regexp(t, regexp.MustCompile(`^testprefixsubtestwit-[0-9a-f]{8}$`), Prefix(t))
	})
}

func TestRedis(t *testing.T) {
	t.Parallel()
	addr, r := Redis(t)
	assert.Equal(t, addr, r.Addr())
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	require.NoError(t, rdb.Set(context.Background(), Prefix(t)+":k", "v", 0).Err())
	assert.Positive(t, RedisInfo(t, rdb, "memory", "used_memory"))
}

func TestKafka(t *testing.T) {
	t.Parallel()
	topic := Prefix(t)
	brokers := Kafka(t, 2, topic)
	require.NoError(t, stream.PingConfig(context.Background(), stream.Config{Brokers: brokers}))
	w := stream.NewWriter(stream.Config{Brokers: brokers}, Logger(t))
	defer w.Close()
	require.NoError(t, w.Publish(context.Background(), stream.Record{Topic: topic, Value: []byte("v")}))
}
