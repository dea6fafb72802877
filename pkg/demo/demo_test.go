package demo

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
)

// TestOutcomesFollowTheScore: with outcomes on, contacts the default model
// made MQL reach an opportunity far more often than the others, so the
// effectiveness report of the run command shows a signal.
func TestOutcomesFollowTheScore(t *testing.T) {
	t.Parallel()
	g := New(3, 1000, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), "")
	g.Outcomes = true
	evs := append(g.Accounts(), g.Next(10000, 2*time.Minute)...)
	mem, e := scoring.NewMemory(), scoring.New(model.Default())
	types := map[string]int{}
	for i := range evs {
		types[evs[i].Type]++
		ws := mem.Workspace(e)
		require.NoError(t, ws.Apply(&evs[i]))
		mem.Commit(ws)
	}
	var mql, mqlOpp, other, otherOpp float64
	for _, h := range mem.Homes {
		for _, c := range h.Contacts {
			opp := c.OppAt > 0
			if c.MQLAt > 0 && (!opp || c.MQLAt <= c.OppAt) {
				mql++
				if opp {
					mqlOpp++
				}
			} else {
				other++
				if opp {
					otherOpp++
				}
			}
		}
	}
	t.Logf("%v; MQL → opportunity %.0f/%.0f, others %.0f/%.0f", types, mqlOpp, mql, otherOpp, other)
	require.Positive(t, mql)
	require.Positive(t, other)
	assert.Positive(t, types["opportunity.created"])
	assert.Positive(t, types["deal.won"]+types["deal.lost"])
	assert.Positive(t, types["sales.feedback"])
	assert.Greater(t, mqlOpp/mql, 2*otherOpp/other, "MQLs convert much more often")

	plain := New(3, 400, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), "")
	for _, ev := range plain.Next(5000, time.Minute) {
		assert.NotEqual(t, "opportunity.created", ev.Type, "outcomes only when asked")
	}
}
