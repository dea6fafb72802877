package suggest

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
)

// outcome is what a model made of one contact: its highest score before
// its first opportunity (over its whole history when it had none), its
// highest score ever, and whether it reached an opportunity. A contact is
// an MQL at threshold θ when Ever ≥ θ, and a hit when it had an
// opportunity and Before ≥ θ: it became an MQL at or before the
// opportunity. These are the definitions of `scorer compare`
// (MQLAt ≤ OppAt), for any threshold.
type outcome struct {
	Before, Ever float64
	Opp          bool
}

// noScore is the peak of a contact that never had a score that could
// qualify (a competitor): below every threshold.
var noScore = math.Inf(-1)

// Metrics are a model's MQL precision and recall at one threshold and the
// ROC AUC of its scores, each with a bootstrap 95% interval.
type Metrics struct {
	Threshold int      `json:"threshold"`
	MQLs      int      `json:"mqls"`
	Hits      int      `json:"hits"`
	Opps      int      `json:"opportunities"`
	Precision Estimate `json:"precision"`
	Recall    Estimate `json:"recall"`
	AUC       Estimate `json:"roc_auc"`
}

// Estimate is a value with its 95% interval.
type Estimate struct {
	Value float64 `json:"value"`
	Lo    float64 `json:"lo"`
	Hi    float64 `json:"hi"`
}

// counts are the weighted counts behind precision and recall.
type counts struct{ mqls, hits, opps float64 }

func count(xs []outcome, th float64, w []float64) counts {
	var c counts
	for i, x := range xs {
		wi := 1.0
		if w != nil {
			wi = w[i]
		}
		if x.Ever >= th {
			c.mqls += wi
		}
		if x.Opp {
			c.opps += wi
			if x.Before >= th {
				c.hits += wi
			}
		}
	}
	return c
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// auc is the probability that a contact with an opportunity scored above
// one without (ties count half), by one pass over the contacts in order of
// score (order holds their indexes, ascending by Before).
func auc(xs []outcome, order []int, w []float64) float64 {
	var negBelow, pos, neg, sum float64
	for i := 0; i < len(order); {
		j := i
		var p, n float64
		for ; j < len(order) && xs[order[j]].Before == xs[order[i]].Before; j++ {
			wi := 1.0
			if w != nil {
				wi = w[order[j]]
			}
			if xs[order[j]].Opp {
				p += wi
			} else {
				n += wi
			}
		}
		sum += p * (negBelow + n/2)
		negBelow += n
		pos += p
		neg += n
		i = j
	}
	return ratio(sum, pos*neg)
}

func byBefore(xs []outcome) []int {
	order := make([]int, len(xs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(xs[a].Before, xs[b].Before) })
	return order
}

// evaluate scores several models on the same contacts (models[k][i] is
// model k's outcome for contact i) at their thresholds, with intervals
// from a paired Poisson bootstrap of the contacts: each replicate weighs
// every contact by a Poisson(1) draw, the same for all models, so the
// intervals of their differences are honest too. diff and aucDiff hold,
// per model after the first, its precision and its ROC AUC minus the
// first's, with their intervals.
func evaluate(models [][]outcome, thresholds []int, replicates int, seed uint64) (ms []Metrics, diff, aucDiff []Estimate) {
	orders := make([][]int, len(models))
	for k, xs := range models {
		orders[k] = byBefore(xs)
		c := count(xs, float64(thresholds[k]), nil)
		ms = append(ms, Metrics{Threshold: thresholds[k], MQLs: int(c.mqls), Hits: int(c.hits), Opps: int(c.opps),
			Precision: Estimate{Value: ratio(c.hits, c.mqls)}, Recall: Estimate{Value: ratio(c.hits, c.opps)},
			AUC: Estimate{Value: auc(xs, orders[k], nil)}})
	}
	if len(models) == 0 || len(models[0]) == 0 {
		return ms, make([]Estimate, max(len(models)-1, 0)), make([]Estimate, max(len(models)-1, 0))
	}
	r := rand.New(rand.NewPCG(seed, 23))
	n := len(models[0])
	w := make([]float64, n)
	prec := make([][]float64, len(models))
	rec := make([][]float64, len(models))
	aucs := make([][]float64, len(models))
	diffs := make([][]float64, len(models))
	aucDiffs := make([][]float64, len(models))
	for range replicates {
		for i := range w {
			w[i] = poisson1(r)
		}
		var p0, a0 float64
		for k, xs := range models {
			c := count(xs, float64(thresholds[k]), w)
			p, a := ratio(c.hits, c.mqls), auc(xs, orders[k], w)
			prec[k] = append(prec[k], p)
			rec[k] = append(rec[k], ratio(c.hits, c.opps))
			aucs[k] = append(aucs[k], a)
			if k == 0 {
				p0, a0 = p, a
			} else {
				diffs[k] = append(diffs[k], p-p0)
				aucDiffs[k] = append(aucDiffs[k], a-a0)
			}
		}
	}
	for k := range ms {
		ms[k].Precision.Lo, ms[k].Precision.Hi = interval(prec[k])
		ms[k].Recall.Lo, ms[k].Recall.Hi = interval(rec[k])
		ms[k].AUC.Lo, ms[k].AUC.Hi = interval(aucs[k])
		if k > 0 {
			d := Estimate{Value: ms[k].Precision.Value - ms[0].Precision.Value}
			d.Lo, d.Hi = interval(diffs[k])
			diff = append(diff, d)
			a := Estimate{Value: ms[k].AUC.Value - ms[0].AUC.Value}
			a.Lo, a.Hi = interval(aucDiffs[k])
			aucDiff = append(aucDiff, a)
		}
	}
	return ms, diff, aucDiff
}

// interval is the 2.5th and 97.5th percentile.
func interval(xs []float64) (lo, hi float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	at := func(q float64) float64 { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return at(0.025), at(0.975)
}

// poisson1 draws from Poisson(1) by inverting its distribution.
func poisson1(r *rand.Rand) float64 {
	u := r.Float64()
	p := math.Exp(-1)
	c := p
	k := 0.0
	for u > c && k < 20 {
		k++
		p /= k
		c += p
	}
	return k
}
