package event_test

import (
	"bytes"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/event"
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

// judge decodes and validates a body as the ingestor does, and returns why
// it is refused (nil when accepted).
func judge(b eventtest.Body) error {
	evs, err := event.Decode(bytes.NewReader(b.Bytes), b.ContentType, event.DefaultLimits)
	if err != nil {
		return err
	}
	for i := range evs {
		if errs := evs[i].Validate(time.Time{}); len(errs) > 0 {
			return errs[0]
		}
	}
	return nil
}

// TestHostileBodiesCostAboutTheirSize: each 5 MiB hostile body is refused
// having allocated at most three times its size (reading it takes two),
// whatever its shape. Not parallel: it measures the process's allocations.
func TestHostileBodiesCostAboutTheirSize(t *testing.T) {
	const size = 5 << 20
	for _, b := range eventtest.Hostile(size) {
		var err error
		got := allocated(func() { err = judge(b) })
		require.Error(t, err, b.Name)
		t.Logf("%-40s %6.1f MiB allocated (%4.1f× the body): %.80v", b.Name, float64(got)/(1<<20), float64(got)/float64(len(b.Bytes)), err)
		assert.LessOrEqual(t, got, uint64(3*size), b.Name)
	}
}

// BenchmarkDecodeHostile reports what decoding each 5 MiB hostile body
// allocates (B/op).
func BenchmarkDecodeHostile(b *testing.B) {
	for _, body := range eventtest.Hostile(5 << 20) {
		b.Run(body.Name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body.Bytes)))
			for b.Loop() {
				if judge(body) == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}
