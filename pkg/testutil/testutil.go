package testutil

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/leadscore/leads/pkg/embedded"
)

// Redis starts a Redis of its own for the caller (a redis-server child on a
// free port takes about 20 ms; miniredis when redis-server is not
// installed) and stops it at cleanup. The *embedded.Redis lets outage
// tests Stop and Start it.
func Redis(t testing.TB) (string, *embedded.Redis) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	r, err := embedded.StartRedis(ctx, zap.NewNop(), embedded.RedisOptions{})
	if err != nil {
		t.Fatalf("start redis: %v", err)
	}
	if r.Kind() != embedded.KindRedisServer {
		t.Logf("redis-server is not installed: using miniredis at %s", r.Addr())
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("stop redis: %v", err)
		}
	})
	return r.Addr(), r
}

// Prefix returns a prefix for topic, group and key names: the test's name,
// lower-cased, letters and digits only, then 8 random hex digits, so tests
// sharing a broker or a Redis never collide.
func Prefix(t testing.TB) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, strings.ToLower(t.Name()))
	if len(name) > 20 {
		name = name[:20]
	}
	return name + "-" + hex.EncodeToString(b)
}

// Logger returns a logger that writes Info and above through t.
func Logger(t testing.TB) *zap.Logger { return zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)) }

// RedisInfo reads one numeric field of INFO section, e.g. ("memory",
// "used_memory"); fields listed together are summed ("cpu", "used_cpu_sys",
// "used_cpu_user").
func RedisInfo(tb testing.TB, rdb *redis.Client, section string, fields ...string) float64 {
	tb.Helper()
	info, err := rdb.Info(context.Background(), section).Result()
	if err != nil {
		tb.Fatalf("INFO %s: %v", section, err)
	}
	var total float64
	for _, line := range strings.Split(info, "\r\n") {
		for _, f := range fields {
			if v, ok := strings.CutPrefix(line, f+":"); ok {
				n, _ := strconv.ParseFloat(v, 64)
				total += n
			}
		}
	}
	return total
}

// RedisClient starts a Redis of its own for the caller (see Redis) and
// returns a client of it, closed at cleanup.
func RedisClient(tb testing.TB) *redis.Client {
	tb.Helper()
	addr, _ := Redis(tb)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	tb.Cleanup(func() { rdb.Close() })
	return rdb
}

// CPU returns the CPU time (user and system) this process has used, and
// redis-server's as INFO reports it, for benchmarks that report CPU per
// unit of work: the rate alone depends on what else the machine runs.
func CPU(tb testing.TB, rdb *redis.Client) (process, redisServer time.Duration) {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatalf("getrusage: %v", err)
	}
	process = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	redisServer = time.Duration(RedisInfo(tb, rdb, "cpu", "used_cpu_sys", "used_cpu_user") * float64(time.Second))
	return process, redisServer
}
