package ingest

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"runtime"
	rtmetrics "runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/leadscore/leads/pkg/event/eventtest"
)

// allocated is how many bytes f allocates: an upper bound of how much it
// adds to the heap at its peak. The caller must not run in parallel with
// anything that allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func postBody(h http.Handler, b eventtest.Body) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/v1/events", bytes.NewReader(b.Bytes))
	req.Header.Set("Content-Type", b.ContentType)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func defaultService(t testing.TB) http.Handler {
	t.Helper()
	svc, err := New(DefaultConfig(), zap.NewNop(), nopPublisher{}, prometheus.NewRegistry(), WithClock(func() time.Time { return now }))
	require.NoError(t, err)
	return svc.Handler()
}

// TestHostileBodiesCostAboutTheirSize: each 5 MiB hostile body is refused,
// at the default limits, having allocated at most three times its size,
// whatever its shape. Not parallel: it measures the process's allocations.
func TestHostileBodiesCostAboutTheirSize(t *testing.T) {
	const size = 5 << 20
	h := defaultService(t)
	for _, b := range eventtest.Hostile(size) {
		var rec *httptest.ResponseRecorder
		got := allocated(func() { rec = postBody(h, b) })
		t.Logf("%-40s %6.1f MiB allocated (%4.1f× the body): %d %.80s", b.Name, float64(got)/(1<<20), float64(got)/float64(len(b.Bytes)), rec.Code, rec.Body)
		assert.Contains(t, []int{http.StatusBadRequest, http.StatusRequestEntityTooLarge}, rec.Code, b.Name)
		assert.LessOrEqual(t, got, uint64(3*size), b.Name)
	}
}

// BenchmarkPostHostile reports what answering each 5 MiB hostile body
// allocates (B/op).
func BenchmarkPostHostile(b *testing.B) {
	h := defaultService(b)
	for _, body := range eventtest.Hostile(5 << 20) {
		b.Run(body.Name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body.Bytes)))
			for b.Loop() {
				if rec := postBody(h, body); rec.Code == http.StatusAccepted {
					b.Fatal("accepted")
				}
			}
		})
	}
}

// BenchmarkConcurrentHostilePosts posts the worst hostile body 16 times at
// once, as in the bug report, and reports the largest heap seen (sampled
// every millisecond) above the heap before.
func BenchmarkConcurrentHostilePosts(b *testing.B) {
	h := defaultService(b)
	body := eventtest.Hostile(5 << 20)[0]
	sample := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	heap := func() float64 { rtmetrics.Read(sample); return float64(sample[0].Value.Uint64()) }
	var peak float64
	for b.Loop() {
		runtime.GC()
		base := heap()
		stop := make(chan struct{})
		sampled := make(chan float64)
		go func() {
			most := 0.0
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for {
				most = max(most, heap()-base)
				select {
				case <-stop:
					sampled <- most
					return
				case <-tick.C:
				}
			}
		}()
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() { postBody(h, body) })
		}
		wg.Wait()
		close(stop)
		peak = max(peak, <-sampled)
	}
	b.ReportMetric(peak/(1<<20), "peak-heap-MiB")
}
