package suggest

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/model"
)

// effectOf names, per rule of the default model, the synthetic effect that
// moves the odds when it scores (DefaultEffects); a rule not listed has
// none (its true weight is 0).
var effectOf = map[string]string{
	"email-open": "email.opened", "email-click": "email.clicked", "pricing-repeat": "pricing", "blog": "blog",
	"careers": "careers", "whitepaper": "whitepaper", "form-demo": "form.demo", "webinar-registered": "webinar.registered",
	"webinar-attended": "webinar.attended", "video": "video", "meeting": "meeting.booked", "vp-plus": "title.vp",
	"manager": "title.manager", "employees-1000": "employees.1000", "industry": "industry.listed",
	"country": "country.listed", "tier-named": "tier.named", "tier-non-icp": "tier.non_icp",
}

// replayDefault replays a synthetic history under the default model.
func replayDefault(t *testing.T, syn *Synthetic) (*replayer, *columns) {
	t.Helper()
	cols := newColumns(model.Default())
	a, err := replayHistory(context.Background(), cols.m, cols, syn.TrainUntil(), syn.Source())
	require.NoError(t, err)
	return a, cols
}

// TestTheReplaysColumnsAreWhatMovedTheSyntheticOdds: for every contact
// whose events all came before the cutoff, the columns the replay fits
// on are exactly the counts the generator applied its effects to (caps,
// repeated pricing views, video steps, the rules' lists): a rule's weight
// can carry its effect.
func TestTheReplaysColumnsAreWhatMovedTheSyntheticOdds(t *testing.T) {
	t.Parallel()
	syn := NewSynthetic(3000, 7)
	a, cols := replayDefault(t, syn)
	until := syn.TrainUntil()
	l := learn(a, cols, until, -1)
	span := time.Duration(syn.Weeks) * 7 * 24 * time.Hour
	checked := 0
	for k, i := range l.mature {
		id := l.train[i]
		var n int
		_, err := fmt.Sscanf(id, "c-%d", &n)
		require.NoError(t, err)
		tally := map[string]float64{}
		evs, _ := syn.contact(n, syn.Start.Add(time.Duration(float64(span)*float64(n)/float64(syn.Contacts))), nil, nil, tally)
		if !evs[len(evs)-1].Time.Before(until) {
			continue
		}
		checked++
		row := l.x[k*cols.n : (k+1)*cols.n]
		for j, v := range row {
			if effect, ok := effectOf[cols.names[j]]; ok {
				assert.InDelta(t, tally[effect], float64(v), 1e-5, "%s %s", id, cols.names[j])
			}
		}
	}
	assert.Greater(t, checked, 500)
}

// TestAtScaleTheWeightsIntervalsCoverTheTrueEffects: from 100,000 synthetic
// contacts, the 95% interval of every rule's weight covers the effect the
// generator gave it (0 for a rule with none), but for one, as chance
// allows among 21 intervals, and that one within 4 standard errors. Fitted
// on every training contact instead, those first seen shortly before the
// cutoff counting as "no opportunity" though theirs was still to come,
// about half the intervals miss: the strong effects pulled toward 0
// (webinar attendance +0.99 for +1.10, meetings +0.94 for +1.20), and
// frequent weak events raised (email opens +0.10 for +0.02), since their
// counts, like the chance that an opportunity is seen, grow with the time
// a contact has been followed. This is what the horizon corrects.
func TestAtScaleTheWeightsIntervalsCoverTheTrueEffects(t *testing.T) {
	t.Parallel()
	syn := NewSynthetic(100000, 1)
	a, cols := replayDefault(t, syn)
	until := syn.TrainUntil()
	misses := func(horizon int) (missed []string) {
		l := learn(a, cols, until, horizon)
		fit, err := fitLogistic(l.x, l.y, cols.n, 1)
		require.NoError(t, err)
		var report strings.Builder
		for j, name := range cols.names {
			if fit.SE[j] == 0 {
				continue // no contact triggered it
			}
			truth := syn.Effects[effectOf[name]]
			b, se := fit.Beta[j], fit.SE[j]
			fmt.Fprintf(&report, "\n  %-20s %+.3f [%+.3f, %+.3f] truth %+.3f", name, b, b-1.96*se, b+1.96*se, truth)
			if math.Abs(b-truth) > 1.96*se {
				missed = append(missed, name)
				report.WriteString(" MISS")
				if horizon < 0 {
					assert.InDelta(t, truth, b, 4*se, name)
				}
			}
		}
		t.Logf("horizon %d days, %d contacts (%d opportunities):%s", l.horizon, len(l.mature), l.opps, report.String())
		return missed
	}
	missed := misses(-1)
	assert.LessOrEqual(t, len(missed), 1, "misses %v", missed)
	missed = misses(0)
	assert.GreaterOrEqual(t, len(missed), 8, "without the horizon: misses %v", missed)
}
