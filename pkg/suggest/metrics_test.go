package suggest

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestPrecisionAndRecallCountAnMQLAfterItsOpportunityAsAMiss(t *testing.T) {
	t.Parallel()
	xs := []outcome{
		{Before: 90, Ever: 90, Opp: true},  // MQL before the opportunity: a hit
		{Before: 50, Ever: 95, Opp: true},  // MQL only after it: an MQL, not a hit
		{Before: 85, Ever: 85, Opp: false}, // an MQL without opportunity
		{Before: 10, Ever: 10, Opp: true},  // missed
		{Before: noScore, Ever: noScore},   // a competitor
	}
	c := count(xs, 80, nil)
	assert.Equal(t, counts{mqls: 3, hits: 1, opps: 3}, c)
}

func TestAUCIsTheShareOfPositiveNegativePairsOrderedRightTiesHalf(t *testing.T) {
	t.Parallel()
	xs := []outcome{{Before: 3, Opp: true}, {Before: 1}, {Before: 2, Opp: true}, {Before: 2}, {Before: noScore}}
	// pairs (pos, neg): (3,1) (3,2) (3,-inf) (2,1) (2,2: half) (2,-inf) = 5.5 of 6
	assert.InDelta(t, 5.5/6, auc(xs, byBefore(xs), nil), 1e-12)
}

func TestBootstrapIntervalsCoverTheValueAndNarrowWithMoreContacts(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	gen := func(n int) []outcome {
		xs := make([]outcome, n)
		for i := range xs {
			s := r.Float64() * 100
			xs[i] = outcome{Before: s, Ever: s, Opp: r.Float64() < s/200}
		}
		return xs
	}
	small, _, _ := evaluate([][]outcome{gen(2000)}, []int{60}, 200, 1)
	large, _, _ := evaluate([][]outcome{gen(20000)}, []int{60}, 200, 1)
	for _, m := range []Metrics{small[0], large[0]} {
		for _, e := range []Estimate{m.Precision, m.Recall, m.AUC} {
			assert.LessOrEqual(t, e.Lo, e.Value)
			assert.GreaterOrEqual(t, e.Hi, e.Value)
		}
	}
	assert.Less(t, large[0].AUC.Hi-large[0].AUC.Lo, small[0].AUC.Hi-small[0].AUC.Lo)
}
