package suggest

import (
	"errors"
	"math"
)

// logistic is a fitted logistic regression: log-odds = Intercept + x·Beta,
// with the standard error of each coefficient (from the inverse of the
// penalised Hessian at the optimum).
type logistic struct {
	Intercept float64
	Beta, SE  []float64
	Iter      int
}

// errSingular means the penalised Hessian was not positive definite, which
// a positive penalty rules out unless the data hold NaNs or infinities.
var errSingular = errors.New("logistic fit: Hessian not positive definite")

// fitLogistic fits y ~ x by Newton's method (iteratively reweighted least
// squares) with an L2 penalty lambda on the standardised coefficients (not
// on the intercept). x is row-major, n rows of p columns. Columns are
// standardised for the fit, so that the penalty weighs a rare rule and a
// frequent one alike, and the coefficients are returned on the original
// scale. Constant columns get a coefficient of 0.
func fitLogistic(x []float32, y []bool, p int, lambda float64) (*logistic, error) {
	n := len(y)
	mean, sd := make([]float64, p), make([]float64, p)
	for i := range n {
		row := x[i*p : (i+1)*p]
		for j, v := range row {
			mean[j] += float64(v)
		}
	}
	for j := range mean {
		mean[j] /= float64(max(n, 1))
	}
	for i := range n {
		row := x[i*p : (i+1)*p]
		for j, v := range row {
			d := float64(v) - mean[j]
			sd[j] += d * d
		}
	}
	for j := range sd {
		sd[j] = math.Sqrt(sd[j] / float64(max(n, 1)))
	}
	q := p + 1 // the intercept is column p of the standardised problem
	beta := make([]float64, q)
	hess := make([]float64, q*q)
	grad := make([]float64, q)
	z := make([]float64, q)
	var iter int
	for iter = 1; iter <= 50; iter++ {
		clear(hess)
		clear(grad)
		for i := range n {
			row := x[i*p : (i+1)*p]
			eta := beta[p]
			for j, v := range row {
				if sd[j] > 0 {
					z[j] = (float64(v) - mean[j]) / sd[j]
				} else {
					z[j] = 0
				}
				eta += z[j] * beta[j]
			}
			z[p] = 1
			mu := 1 / (1 + math.Exp(-eta))
			w := max(mu*(1-mu), 1e-12)
			r := -mu
			if y[i] {
				r = 1 - mu
			}
			for a := range q {
				grad[a] += z[a] * r
				za := z[a] * w
				if za == 0 {
					continue
				}
				h := hess[a*q : a*q+a+1]
				for b := range h {
					h[b] += za * z[b]
				}
			}
		}
		for a := range p {
			grad[a] -= lambda * beta[a]
			hess[a*q+a] += lambda
			if sd[a] == 0 {
				hess[a*q+a] += 1 // keeps the system definite; its gradient is 0
			}
		}
		for a := range q { // mirror the lower triangle
			for b := a + 1; b < q; b++ {
				hess[a*q+b] = hess[b*q+a]
			}
		}
		l, err := cholesky(hess, q)
		if err != nil {
			return nil, err
		}
		step := cholSolve(l, q, grad)
		most := 0.0
		for a := range q {
			beta[a] += step[a]
			most = max(most, math.Abs(step[a]))
		}
		if most < 1e-8 {
			break
		}
	}
	// Standard errors from the inverse Hessian at the optimum (the last
	// iteration's Hessian; the step taken after it was negligible).
	l, err := cholesky(hess, q)
	if err != nil {
		return nil, err
	}
	fit := &logistic{Beta: make([]float64, p), SE: make([]float64, p), Iter: iter}
	fit.Intercept = beta[p]
	e := make([]float64, q)
	for j := range p {
		if sd[j] == 0 {
			continue
		}
		clear(e)
		e[j] = 1
		inv := cholSolve(l, q, e)
		fit.Beta[j] = beta[j] / sd[j]
		fit.SE[j] = math.Sqrt(inv[j]) / sd[j]
		fit.Intercept -= fit.Beta[j] * mean[j]
	}
	return fit, nil
}

// cholesky returns the lower-triangular L with L·Lᵀ = a (q×q, row-major).
func cholesky(a []float64, q int) ([]float64, error) {
	l := make([]float64, q*q)
	for i := range q {
		for j := 0; j <= i; j++ {
			s := a[i*q+j]
			for k := range j {
				s -= l[i*q+k] * l[j*q+k]
			}
			if i == j {
				if !(s > 0) {
					return nil, errSingular
				}
				l[i*q+i] = math.Sqrt(s)
			} else {
				l[i*q+j] = s / l[j*q+j]
			}
		}
	}
	return l, nil
}

// cholSolve solves L·Lᵀ·x = b.
func cholSolve(l []float64, q int, b []float64) []float64 {
	y := make([]float64, q)
	for i := range q {
		s := b[i]
		for k := range i {
			s -= l[i*q+k] * y[k]
		}
		y[i] = s / l[i*q+i]
	}
	x := make([]float64, q)
	for i := q - 1; i >= 0; i-- {
		s := y[i]
		for k := i + 1; k < q; k++ {
			s -= l[k*q+i] * x[k]
		}
		x[i] = s / l[i*q+i]
	}
	return x
}
