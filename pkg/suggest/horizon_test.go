package suggest

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestTheHorizonCountsContactsFollowedTooShortlyAsStillOpen: contacts
// arrive evenly over 150 days; half of them convert, an exponentially
// distributed time after they arrive (15 days on average: 99% within
// 15 ln 100 = 69 days). The opportunities seen before the cutoff come
// sooner (a contact first seen 20 days before it can only show a lag
// under 20), so their own 99th percentile is too short, yet the estimate
// finds the true one.
func TestTheHorizonCountsContactsFollowedTooShortlyAsStillOpen(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	const n, until = 100000, int64(150 * day)
	first, opp := make([]int64, n), make([]int64, n)
	var seen []float64
	for i := range n {
		first[i] = r.Int64N(until)
		if r.IntN(2) == 0 {
			if o := first[i] + int64(15*r.ExpFloat64()*day); o < until {
				opp[i] = o
				seen = append(seen, float64(o-first[i])/day)
			}
		}
	}
	horizon, plateau := conversionHorizon(first, opp, until)
	assert.InDelta(t, 15*math.Log(100), float64(horizon), 3)
	assert.InDelta(t, 135, float64(plateau), 1, "a tenth of the contacts are followed 135 days or more")
	slices.Sort(seen)
	naive := seen[int(0.99*float64(len(seen)))]
	t.Logf("horizon %d days, plateau %d; 99th percentile of the lags seen before the cutoff: %.1f days", horizon, plateau, naive)
	assert.Less(t, naive, 63.0)

	h, _ := conversionHorizon(nil, nil, until)
	assert.Zero(t, h)
}
