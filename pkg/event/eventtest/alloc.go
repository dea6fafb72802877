package eventtest

import "runtime"

// Allocated is how many bytes f allocates: an upper bound of how much it
// adds to the heap at its peak. The caller must not run in parallel with
// anything that allocates.
func Allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
