package parallel

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// withProcs runs the test with n processors, so that Each splits work on
// any machine.
func withProcs(t *testing.T, n int) {
	before := runtime.GOMAXPROCS(n)
	t.Cleanup(func() { runtime.GOMAXPROCS(before) })
}

func TestEachCallsEveryIndexOnce(t *testing.T) {
	withProcs(t, 4)
	for _, n := range []int{0, 1, MinRun - 1, 2 * MinRun, 10_007} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			calls := make([]atomic.Int32, n)
			require.NoError(t, Each(n, func(i int) error {
				calls[i].Add(1)
				return nil
			}))
			for i := range calls {
				require.Equal(t, int32(1), calls[i].Load(), "index %d", i)
			}
		})
	}
}

func TestEachSplitsWorkOverGoroutines(t *testing.T) {
	withProcs(t, 4)
	// Each of four runs waits until all four have started: one goroutine
	// doing them in turn would never get past the first.
	var started atomic.Int32
	err := Each(4*MinRun, func(i int) error {
		if i%MinRun != 0 {
			return nil
		}
		started.Add(1)
		deadline := time.Now().Add(10 * time.Second)
		for started.Load() < 4 {
			if time.Now().After(deadline) {
				return errors.New("the runs did not run at once")
			}
			time.Sleep(time.Millisecond)
		}
		return nil
	})
	require.NoError(t, err)
}

func TestEachReturnsTheErrorOfTheLowestIndex(t *testing.T) {
	withProcs(t, 4)
	n := 8 * MinRun
	for _, failing := range [][]int{{3}, {n - 1}, {6 * MinRun, 3*MinRun + 1}, {5, 7 * MinRun}, {10, 11}} {
		t.Run(fmt.Sprint(failing), func(t *testing.T) {
			var after atomic.Int32
			err := Each(n, func(i int) error {
				for _, f := range failing {
					if i == f {
						return fmt.Errorf("item %d", i)
					}
				}
				if i > failing[0] && i < failing[0]+MinRun/2 && i/(2*MinRun) == failing[0]/(2*MinRun) {
					after.Add(1) // in the failing run, past its error
				}
				return nil
			})
			want := failing[0]
			for _, f := range failing {
				want = min(want, f)
			}
			assert.EqualError(t, err, fmt.Sprintf("item %d", want))
			if len(failing) == 1 {
				assert.Zero(t, after.Load(), "a run stops at its first error")
			}
		})
	}
}
