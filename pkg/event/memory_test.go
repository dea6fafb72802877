package event_test

import (
	"bytes"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/event/eventtest"
)

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
	eventtest.SkipUnderRace(t)
	const size = 5 << 20
	for _, b := range eventtest.Hostile(size) {
		var err error
		got := eventtest.Allocated(func() { err = judge(b) })
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

// live is how much more heap is in use after f, holding what it returned,
// than before.
func live(f func() any) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	v := f()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(v)
	if after.HeapAlloc < before.HeapAlloc { // nothing held, and less of the rest
		return 0
	}
	return after.HeapAlloc - before.HeapAlloc
}

// TestNoBodyHoldsMoreThanTheBudget decodes and validates, as the
// ingestor does, 5 MiB bodies that the limits on fields allow, shaped to
// hold the most memory once decoded, and mixes of them up to the budget:
// none holds more than HeldPerByte times its size, and decoding none
// allocates more than HeldPerByte+3 times (the body read, the held events,
// and what decoding throws away). Not parallel: it measures the process's
// allocations.
func TestNoBodyHoldsMoreThanTheBudget(t *testing.T) {
	eventtest.SkipUnderRace(t)
	const size = 5 << 20
	largest := eventtest.Largest(size)
	bodies := slices.Clone(largest)
	for _, heavy := range largest[:3] {
		mix, ok := eventtest.UpTo(heavy, largest[3], size, func(b eventtest.Body) bool {
			_, err := event.Decode(bytes.NewReader(b.Bytes), b.ContentType, event.DefaultLimits)
			return err == nil
		})
		require.True(t, ok, heavy.Name)
		bodies = append(bodies, mix)
	}
	for _, b := range bodies {
		var evs []event.Event
		var err error
		got := eventtest.Allocated(func() { evs, err = event.Decode(bytes.NewReader(b.Bytes), b.ContentType, event.DefaultLimits) })
		for i := range evs {
			require.Empty(t, evs[i].Validate(time.Time{}), b.Name)
		}
		held := live(func() any {
			evs, _ := event.Decode(bytes.NewReader(b.Bytes), b.ContentType, event.DefaultLimits)
			return evs
		})
		t.Logf("%-55s %4.1f MiB %5d events: %6.1f MiB allocated (%4.1f×), %6.1f MiB held (%4.1f×) %.50v", b.Name,
			float64(len(b.Bytes))/(1<<20), len(evs), float64(got)/(1<<20), float64(got)/float64(len(b.Bytes)),
			float64(held)/(1<<20), float64(held)/float64(len(b.Bytes)), err)
		assert.LessOrEqual(t, held, uint64(event.HeldPerByte*len(b.Bytes)), b.Name)
		assert.LessOrEqual(t, got, uint64((event.HeldPerByte+3)*len(b.Bytes)), b.Name)
	}
}
