package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/testutil"
)

func deliveries(partition int32, from, n int, at time.Time, id func(i int) string) []Delivery {
	ds := make([]Delivery, n)
	for i := range ds {
		ds[i] = Delivery{ID: id(i), Partition: partition, Offset: int64(from + i), At: at}
	}
	return ds
}

// TestDedupeWindow: an id marked seen is found again within the window of
// its first delivery, and up to the end of the bucket after its own; at
// twice the window it is not; on another partition the same id is another
// event's; a forgotten bucket is forgotten, and buckets expire.
func TestDedupeWindow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	const w = time.Hour
	t0 := time.Date(2030, 1, 1, 10, 59, 0, 0, time.UTC) // late in its bucket
	one := func(id string, partition int32, at time.Time) []Delivery {
		return []Delivery{{ID: id, Partition: partition, Offset: 1, At: at}}
	}
	check := func(ds []Delivery, want ...bool) {
		t.Helper()
		got, err := s.SeenBefore(ctx, w, ds)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	check(one("e-0", 0, t0), false)
	require.NoError(t, s.MarkSeen(ctx, w, append(one("e-0", 0, t0), one("e-1", 0, t0)...)))
	check(one("e-0", 0, t0), true)
	check(one("e-0", 0, t0.Add(w)), true) // within the window, in the next bucket
	check(one("e-1", 0, t0.Add(2*w+time.Minute)), false)
	check(one("e-1", 1, t0), false) // another partition
	check(append(one("e-1", 0, t0), one("new", 0, t0)...), true, false)
	// Between once and twice the window, it depends on the buckets: an id
	// first seen early in its bucket is found until the next one ends.
	early := t0.Add(-58 * time.Minute)
	require.NoError(t, s.MarkSeen(ctx, w, one("y", 0, early)))
	check(one("y", 0, early.Add(2*w-2*time.Minute)), true)
	check(one("y", 0, early.Add(2*w)), false)

	keys, err := s.Client().Keys(ctx, s.ns+":dd:*").Result()
	require.NoError(t, err)
	require.NotEmpty(t, keys)
	for _, k := range keys {
		ttl, err := s.Client().PTTL(ctx, k).Result()
		require.NoError(t, err)
		assert.Greater(t, ttl, 2*w, "%s expires, after the window", k)
	}
	require.NoError(t, s.ForgetDeliveries(ctx, 0, DedupeBucket(t0, w)))
	check(one("e-0", 0, t0), false)
}

// BenchmarkDedupeMemory reports the Redis memory and CPU a delivery's id
// takes (looked up, then marked), for a partition receiving b.N deliveries
// within one window.
func BenchmarkDedupeMemory(b *testing.B) {
	ctx := context.Background()
	rdb := testutil.RedisClient(b)
	s := New(rdb, "bench")
	before := testutil.RedisInfo(b, rdb, "memory", "used_memory")
	_, cpu0 := testutil.CPU(b, rdb)
	at := time.Now()
	const chunk = 10000
	b.ResetTimer()
	for from := 0; from < b.N; from += chunk {
		n := min(chunk, b.N-from)
		ds := deliveries(0, from, n, at, func(i int) string { return fmt.Sprintf("evt-%08d-%s", from+i, "7f3a9c21") })
		if _, err := s.SeenBefore(ctx, 24*time.Hour, ds); err != nil {
			b.Fatal(err)
		}
		if err := s.MarkSeen(ctx, 24*time.Hour, ds); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	_, cpu1 := testutil.CPU(b, rdb)
	b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(b.N), "redis-cpu-µs/id")
	after := testutil.RedisInfo(b, rdb, "memory", "used_memory")
	b.ReportMetric((after-before)/float64(b.N), "bytes/id")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ids/s")
}

// TestMarkingRemembersOnlyRecentBuckets: the store remembers which sets
// it gave an expiry for the buckets still in use only, whatever happens to
// the older ones (forgotten by the scorer, or left to expire when their
// partition moved to another scorer), so a long-running scorer's memory
// does not grow with the days it runs.
func TestMarkingRemembersOnlyRecentBuckets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	const w = time.Hour
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for b := range 30 {
		at := t0.Add(time.Duration(b) * w)
		require.NoError(t, s.MarkSeen(ctx, w, deliveries(0, b*100, 100, at, func(i int) string { return fmt.Sprintf("e-%d-%d", b, i) })))
	}
	assert.LessOrEqual(t, s.expiring.size(), 3*100, "at most three buckets' sets of 100 ids")
	got, err := s.SeenBefore(ctx, w, deliveries(0, 0, 1, t0.Add(29*w), func(int) string { return "e-29-0" }))
	require.NoError(t, err)
	assert.Equal(t, []bool{true}, got)
}
