// Package parallel splits CPU-bound work on independent items over the
// processors.
package parallel

import (
	"runtime"
	"sync"
)

// MinRun is the fewest items worth a goroutine of their own: below it the
// goroutine costs more than it saves.
const MinRun = 256

// Each calls f for 0 ≤ i < n: in as many goroutines as there are
// processors, each with a run of at least MinRun consecutive indices, or
// in the caller's for fewer. It returns the error of the lowest index that
// failed (a run stops at its first error, so the error is the one calling
// f in order would have met). The calls must write nothing the others read
// or write.
func Each(n int, f func(i int) error) error {
	runs := min(runtime.GOMAXPROCS(0), n/MinRun)
	if runs <= 1 {
		for i := range n {
			if err := f(i); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make([]error, runs)
	var wg sync.WaitGroup
	for r := range runs {
		from, to := r*n/runs, (r+1)*n/runs
		wg.Go(func() {
			for i := from; i < to; i++ {
				if err := f(i); err != nil {
					errs[r] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
