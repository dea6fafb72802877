package program

import (
	"context"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/leadscore/leads/pkg/embedded"
	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/testutil"
)

// TestScorerWarnsOfAListpackValueBelowWhatHomesNeed: the scorer warns,
// naming the setting and its cost, when Redis keeps homes as hash tables;
// says nothing at the setting shipped; and only mentions a Redis whose
// configuration it cannot read (miniredis, as a managed Redis with CONFIG
// disabled).
func TestScorerWarnsOfAListpackValueBelowWhatHomesNeed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, err := embedded.StartRedis(ctx, zap.NewNop(), embedded.RedisOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })
	if r.Kind() != embedded.KindRedisServer {
		t.Log("redis-server is not installed: only the unreadable case runs")
	}
	mini := miniredis.RunT(t)
	check := func(addr string) []observer.LoggedEntry {
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		defer rdb.Close()
		core, logs := observer.New(zapcore.InfoLevel)
		checkListpackValue(ctx, zap.New(core), store.New(rdb, testutil.Prefix(t)))
		return logs.All()
	}

	unreadable := check(mini.Addr())
	require.Len(t, unreadable, 1)
	assert.Equal(t, zapcore.InfoLevel, unreadable[0].Level)
	assert.Contains(t, unreadable[0].Message, "hash-max-listpack-value")
	if r.Kind() != embedded.KindRedisServer {
		return
	}
	assert.Empty(t, check(r.Addr()), "the setting shipped")
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer rdb.Close()
	require.NoError(t, rdb.ConfigSet(ctx, "hash-max-listpack-value", "64").Err())
	low := check(r.Addr())
	require.Len(t, low, 1)
	assert.Equal(t, zapcore.WarnLevel, low[0].Level)
	assert.Contains(t, low[0].Message, "hash-max-listpack-value")
	assert.Contains(t, low[0].Message, "60 bytes more a contact")
	assert.Equal(t, int64(64), low[0].ContextMap()["hash_max_listpack_value"])
}
