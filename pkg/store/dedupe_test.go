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

// TestDedupeWindow: an id delivered again at another offset is a duplicate
// within the window of its first delivery, and still is up to the end of
// the bucket after its own; at twice the window it counts again. A record
// delivered again at its own offset (a redelivery) is never a duplicate, on
// another partition the same id is another event's, and a forgotten
// bucket is forgotten.
func TestDedupeWindow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	const w = time.Hour
	t0 := time.Date(2030, 1, 1, 10, 59, 0, 0, time.UTC) // late in its bucket
	id := func(i int) string { return fmt.Sprintf("e-%d", i) }
	check := func(ds []Delivery, want ...bool) {
		t.Helper()
		got, err := s.Dedupe(ctx, w, ds)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	one := func(id string, partition int32, offset int64, at time.Time) []Delivery {
		return []Delivery{{ID: id, Partition: partition, Offset: offset, At: at}}
	}
	check(deliveries(0, 100, 2, t0, id), false, false)
	check(deliveries(0, 100, 2, t0, id), false, false) // redelivered: the same offsets
	check(one("e-0", 0, 200, t0.Add(w)), true)         // within the window, in the next bucket
	check(one("e-1", 0, 201, t0.Add(2*w+time.Minute)), false)
	check(one("e-1", 1, 0, t0), false) // another partition
	// Between once and twice the window, it depends on the buckets: an id
	// first seen early in its bucket is found until the next one ends.
	early := t0.Add(-58 * time.Minute)
	check(one("y", 0, 300, early), false)
	check(one("y", 0, 301, early.Add(2*w-2*time.Minute)), true)
	check(one("y", 0, 302, early.Add(2*w)), false)
	// In one call: the first copy, then the copy after it.
	check([]Delivery{{ID: "x", Partition: 0, Offset: 500, At: t0}, {ID: "x", Partition: 0, Offset: 501, At: t0}}, false, true)

	require.NoError(t, s.ForgetDeliveries(ctx, 0, DedupeBucket(t0, w)))
	check(deliveries(0, 600, 1, t0, func(int) string { return "x" }), false)
	n, err := s.Client().Keys(ctx, s.ns+":dd:*").Result()
	require.NoError(t, err)
	for _, k := range n {
		ttl, err := s.Client().PTTL(ctx, k).Result()
		require.NoError(t, err)
		assert.Greater(t, ttl, 2*w, "%s expires, after the window", k)
	}
}

// BenchmarkDedupeMemory reports the Redis memory a delivery's id holds,
// for a partition receiving b.N deliveries within one window.
func BenchmarkDedupeMemory(b *testing.B) {
	ctx := context.Background()
	rdb := testutil.RedisClient(b)
	s := New(rdb, "bench")
	before := testutil.RedisInfo(b, rdb, "memory", "used_memory")
	at := time.Now()
	const chunk = 10000
	b.ResetTimer()
	for from := 0; from < b.N; from += chunk {
		n := min(chunk, b.N-from)
		_, err := s.Dedupe(ctx, 24*time.Hour, deliveries(0, from, n, at, func(i int) string {
			return fmt.Sprintf("evt-%08d-%s", from+i, "7f3a9c21")
		}))
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	after := testutil.RedisInfo(b, rdb, "memory", "used_memory")
	b.ReportMetric((after-before)/float64(b.N), "bytes/id")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ids/s")
}
