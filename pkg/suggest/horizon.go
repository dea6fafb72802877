package suggest

// Opportunities come some time after a contact is first seen, so the
// outcome of a contact first seen just before the training cutoff is not
// known yet: it counts as "no opportunity" though it may well have one
// later, and its events are cut short too. Fitting on such contacts pulls
// every weight toward 0 (on the synthetic history, webinar attendance's
// ln 3 = 1.10 came out as 0.98 from 100,000 contacts, outside its
// interval), so the fit learns only from contacts first seen long enough
// before the cutoff: the horizon.

// day is the unit of ages and the horizon, in seconds.
const day = 24 * 3600

// horizonShare is the share of the opportunities that contacts followed
// long enough eventually have which must have come by the horizon.
const horizonShare = 0.99

// conversionHorizon is the age (whole days since a contact was first
// seen) by which horizonShare of the opportunities have come, estimated
// from the training contacts: each is followed from its first event to
// until, and the Kaplan–Meier estimate of the share converted by each
// age uses every contact for the ages it was followed. The eventual share
// is taken at the oldest age at which a tenth of the contacts are still
// followed (plateau, in days): beyond it the estimate rests on few
// contacts. first and opp are Unix seconds (opp 0: none before until).
func conversionHorizon(first, opp []int64, until int64) (horizon, plateau int) {
	n := len(first)
	if n == 0 {
		return 0, 0
	}
	maxAge := 0
	for _, f := range first {
		maxAge = max(maxAge, int((until-f)/day))
	}
	// ends[d]: contacts whose time (conversion, else end of follow-up)
	// is at age d; events[d]: those that converted then; stops[d]: those
	// followed exactly d whole days, converted or not.
	ends, events, stops := make([]int, maxAge+1), make([]int, maxAge+1), make([]int, maxAge+1)
	for i, f := range first {
		stops[int((until-f)/day)]++
		if o := opp[i]; o != 0 && o < until {
			a := min(int((o-f)/day), maxAge)
			ends[a]++
			events[a]++
		} else {
			ends[int((until-f)/day)]++
		}
	}
	followed := n // contacts followed at least d days
	atRisk := n
	surv := 1.0
	converted := make([]float64, maxAge+1)
	for d := 0; d <= maxAge; d++ {
		if followed*10 >= n {
			plateau = d
		}
		if atRisk > 0 {
			surv *= 1 - float64(events[d])/float64(atRisk)
		}
		converted[d] = 1 - surv
		atRisk -= ends[d]
		followed -= stops[d]
	}
	final := converted[plateau]
	for d := 0; d <= plateau; d++ {
		if converted[d] >= horizonShare*final {
			return d, plateau
		}
	}
	return plateau, plateau
}
