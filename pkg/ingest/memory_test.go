package ingest

import (
	"bytes"
	"context"
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

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/event/eventtest"
	"github.com/leadscore/leads/pkg/stream"
)

func postBody(h http.Handler, b eventtest.Body) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/v1/events", bytes.NewReader(b.Bytes))
	req.Header.Set("Content-Type", b.ContentType)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// discard takes records as a Kafka writer would, and drops them.
type discard struct{}

func (discard) Publish(context.Context, ...stream.Record) error { return nil }

// defaultService runs at the default limits and encodes what it accepts
// into records, as the ingestor does.
func defaultService(t testing.TB) http.Handler {
	t.Helper()
	svc, err := New(DefaultConfig(), zap.NewNop(), &StreamPublisher{Sink: discard{}, Topic: "events"}, prometheus.NewRegistry(),
		WithClock(func() time.Time { return now }))
	require.NoError(t, err)
	return svc.Handler()
}

// heaviest is the 5 MiB body of one-key objects and long strings that
// holds the most the decoder allows, its strings of a character that
// encoding/json escapes, so that its records take the most too.
func heaviest(t testing.TB) eventtest.Body {
	t.Helper()
	largest := eventtest.Largest(5 << 20)
	mix, ok := eventtest.UpTo(largest[0], largest[4], 5<<20, func(b eventtest.Body) bool {
		_, err := event.DecodeBytes(b.Bytes, b.ContentType, event.DefaultLimits)
		return err == nil
	})
	require.True(t, ok)
	return mix
}

// TestHostileBodiesCostAboutTheirSize: each 5 MiB hostile body is refused,
// at the default limits, having allocated at most three times its size,
// whatever its shape. Not parallel: it measures the process's allocations.
func TestHostileBodiesCostAboutTheirSize(t *testing.T) {
	eventtest.SkipUnderRace(t)
	const size = 5 << 20
	h := defaultService(t)
	for _, b := range eventtest.Hostile(size) {
		var rec *httptest.ResponseRecorder
		got := eventtest.Allocated(func() { rec = postBody(h, b) })
		t.Logf("%-40s %6.1f MiB allocated (%4.1f× the body): %d %.80s", b.Name, float64(got)/(1<<20), float64(got)/float64(len(b.Bytes)), rec.Code, rec.Body)
		assert.Contains(t, []int{http.StatusBadRequest, http.StatusRequestEntityTooLarge}, rec.Code, b.Name)
		assert.LessOrEqual(t, got, uint64(3*size), b.Name)
	}
}

// TestNoRequestCostsMoreThanItsBudget: answering the bodies that hold the
// most once decoded, accepted or refused, and encoding them into records,
// allocates at most event.HeldPerByte+8 times their size: the body, what
// its events hold, and their records, where a < takes six bytes (measured:
// 21 times at most). Not parallel: it measures the process's allocations.
func TestNoRequestCostsMoreThanItsBudget(t *testing.T) {
	eventtest.SkipUnderRace(t)
	const size = 5 << 20
	h := defaultService(t)
	for _, b := range append(eventtest.Largest(size), heaviest(t)) {
		var rec *httptest.ResponseRecorder
		got := eventtest.Allocated(func() { rec = postBody(h, b) })
		t.Logf("%-55s %4.1f MiB: %6.1f MiB allocated (%4.1f× the body): %d %.60s", b.Name, float64(len(b.Bytes))/(1<<20),
			float64(got)/(1<<20), float64(got)/float64(len(b.Bytes)), rec.Code, rec.Body)
		assert.LessOrEqual(t, got, uint64((event.HeldPerByte+8)*len(b.Bytes)), b.Name)
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

// BenchmarkConcurrentPosts posts a 5 MiB body 16 times at once, as in the
// bug report (the worst hostile body, refused; the heaviest body the
// decoder accepts), and reports the largest heap seen above the heap
// before (sampled every millisecond) and how many were let in rather
// than answered 503.
func BenchmarkConcurrentPosts(b *testing.B) {
	h := defaultService(b)
	sample := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	heap := func() float64 { rtmetrics.Read(sample); return float64(sample[0].Value.Uint64()) }
	for _, body := range []eventtest.Body{eventtest.Hostile(5 << 20)[0], heaviest(b)} {
		b.Run(body.Name, func(b *testing.B) {
			var peak, in float64
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
				var mu sync.Mutex
				for range 16 {
					wg.Go(func() {
						if postBody(h, body).Code != http.StatusServiceUnavailable {
							mu.Lock()
							in++
							mu.Unlock()
						}
					})
				}
				wg.Wait()
				close(stop)
				peak = max(peak, <-sampled)
			}
			b.ReportMetric(peak/(1<<20), "peak-heap-MiB")
			b.ReportMetric(in/float64(b.N), "let-in/op")
		})
	}
}
