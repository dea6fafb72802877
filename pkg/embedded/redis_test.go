package embedded_test

import (
	"context"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/leadscore/leads/pkg/embedded"
)

func TestRedisStopStart(t *testing.T) {
	t.Parallel()
	_, lookErr := exec.LookPath("redis-server")
	for _, tt := range []struct {
		name     string
		opts     embedded.RedisOptions
		kind     string
		keepData bool
	}{
		{"redis-server", embedded.RedisOptions{}, embedded.KindRedisServer, false},
		{"redis-server with AOF", embedded.RedisOptions{AppendOnly: true}, embedded.KindRedisServer, true},
		{"miniredis", embedded.RedisOptions{ForceMiniredis: true}, embedded.KindMiniredis, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.kind == embedded.KindRedisServer && lookErr != nil {
				t.Skip("redis-server is not installed")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			r, err := embedded.StartRedis(ctx, zaptest.NewLogger(t), tt.opts)
			require.NoError(t, err)
			defer r.Close()
			assert.Equal(t, tt.kind, r.Kind())
			host, _, err := net.SplitHostPort(r.Addr())
			require.NoError(t, err)
			assert.Equal(t, "127.0.0.1", host)

			rdb := redis.NewClient(&redis.Options{Addr: r.Addr(), MaxRetries: -1, DialerRetries: 1})
			defer rdb.Close()
			require.NoError(t, rdb.Set(ctx, "k", "v", 0).Err())

			require.NoError(t, r.Stop())
			assert.Error(t, rdb.Ping(ctx).Err(), "down after Stop")
			require.NoError(t, r.Stop(), "Stop twice")
			require.NoError(t, r.Start(ctx))
			require.NoError(t, r.Start(ctx), "Start while running")
			v, err := rdb.Get(ctx, "k").Result()
			if tt.keepData {
				require.NoError(t, err)
				assert.Equal(t, "v", v)
			} else {
				assert.ErrorIs(t, err, redis.Nil, "no persistence without AOF")
			}

			require.NoError(t, rdb.Set(ctx, "k2", "v2", 0).Err())
			require.NoError(t, r.Restart(ctx))
			n, err := rdb.Exists(ctx, "k2").Result()
			require.NoError(t, err)
			assert.Equal(t, map[bool]int64{true: 1, false: 0}[tt.keepData], n)

			require.NoError(t, r.Close())
			assert.Error(t, rdb.Ping(ctx).Err(), "down after Close")
		})
	}
}

func TestRedisPortInUse(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed")
	}
	log := zaptest.NewLogger(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	// Cleanup, not defer: the parallel subtests run after this returns.
	t.Cleanup(func() { ln.Close() })
	other, err := embedded.StartRedis(context.Background(), log, embedded.RedisOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { other.Close() })
	_, otherPort, err := net.SplitHostPort(other.Addr())
	require.NoError(t, err)

	for name, port := range map[string]string{
		"by a silent listener": strconv.Itoa(ln.Addr().(*net.TCPAddr).Port),
		"by another redis":     otherPort,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, err := strconv.Atoi(port)
			require.NoError(t, err)
			start := time.Now()
			_, err = embedded.StartRedis(context.Background(), log, embedded.RedisOptions{Port: p})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "in use")
			assert.Contains(t, err.Error(), port)
			assert.Less(t, time.Since(start), 2*time.Second, "an exited redis-server is not waited for")
		})
	}
}
