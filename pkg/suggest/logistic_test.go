package suggest

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLogisticFitRecoversKnownCoefficientsWithHonestIntervals draws data
// from a known logistic model (a count, a binary, a useless and a constant
// column) and checks that the fit finds each coefficient within about two
// standard errors, and the constant column at 0.
func TestLogisticFitRecoversKnownCoefficientsWithHonestIntervals(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	const n, p = 40000, 4
	truth := []float64{math.Log(3), -math.Log(2), 0, 0}
	const intercept = -3.0
	x := make([]float32, n*p)
	y := make([]bool, n)
	for i := range n {
		row := x[i*p : (i+1)*p]
		row[0] = float32(r.IntN(3))
		row[1] = float32(r.IntN(2))
		row[2] = float32(r.IntN(5))
		row[3] = 1
		eta := intercept
		for j, v := range row {
			eta += truth[j] * float64(v)
		}
		y[i] = r.Float64() < 1/(1+math.Exp(-eta))
	}
	fit, err := fitLogistic(x, y, p, 1)
	require.NoError(t, err)
	for j := range 3 {
		assert.InDelta(t, truth[j], fit.Beta[j], 3*fit.SE[j], "column %d: %.3f ± %.3f", j, fit.Beta[j], fit.SE[j])
		assert.Less(t, fit.SE[j], 0.1, "column %d", j)
	}
	assert.Zero(t, fit.Beta[3])
	assert.InDelta(t, intercept, fit.Intercept, 0.2)
}

func TestCholeskySolvesASymmetricPositiveDefiniteSystem(t *testing.T) {
	t.Parallel()
	a := []float64{4, 2, 0, 2, 5, 1, 0, 1, 3}
	l, err := cholesky(a, 3)
	require.NoError(t, err)
	x := cholSolve(l, 3, []float64{2, 3, 4})
	for i := range 3 {
		s := 0.0
		for j := range 3 {
			s += a[i*3+j] * x[j]
		}
		assert.InDelta(t, []float64{2, 3, 4}[i], s, 1e-12)
	}
	_, err = cholesky([]float64{1, 2, 2, 1}, 2)
	assert.ErrorIs(t, err, errSingular)
}
