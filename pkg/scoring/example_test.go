package scoring

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
)

// TestWorkedExample replays the worked example of docs/model.md ("How a
// score is computed") and checks the numbers it shows.
func TestWorkedExample(t *testing.T) {
	t.Parallel()
	e := New(model.Default())
	a, c := &Account{ID: "acme.com"}, &Contact{ID: "c-42"}
	at := func(s string) time.Time {
		v, err := time.Parse("01-02 15:04", s)
		require.NoError(t, err)
		return v.AddDate(2026, 0, 0)
	}
	var out Result
	acc := event.Event{ID: "evt-1", Type: "account.updated", AccountID: a.ID, Time: at("03-02 09:00"),
		Properties: props{"employees": 5000.0, "industry": "Software", "country": "US"}}
	require.NoError(t, e.ApplyAccount(a, &acc, &out))
	require.Equal(t, int32(30), a.Fit)
	type row struct {
		ledger                      string
		behavior, fit, total, acctS int32
		crossings                   string
	}
	steps := []struct {
		ev   event.Event
		want row
	}{
		{event.Event{ID: "evt-2", Type: "contact.updated", Time: at("03-02 10:00"), Properties: props{"first_name": "Ada",
			"last_name": "Lovelace", "email": "ada@acme.com", "company": "Acme", "title": "VP Engineering"}},
			row{"vp-plus +10, account +30", 0, 40, 40, 30, ""}},
		{event.Event{ID: "evt-3", Type: "content.downloaded", Time: at("03-02 11:00"), Properties: props{"asset_type": "whitepaper"}},
			row{"whitepaper +20", 20, 40, 60, 50, ""}},
		{event.Event{ID: "evt-4", Type: "webinar.attended", Time: at("03-03 11:00")},
			row{"webinar-attended +25", 45, 40, 85, 75, "lead.stage_changed, lead.became_mql, lead.became_aql"}},
		{event.Event{ID: "evt-5", Type: "web.page_viewed", Time: at("03-04 11:00"), Properties: props{"url": "https://acme.com/pricing"}},
			row{"pricing-repeat +0", 45, 40, 85, 75, ""}},
		{event.Event{ID: "evt-6", Type: "web.page_viewed", Time: at("03-04 13:00"), Properties: props{"url": "https://acme.com/pricing?plan=pro"}},
			row{"pricing-repeat +30", 75, 40, 115, 105, "lead.stage_changed"}},
	}
	for _, st := range steps {
		out.Reset()
		x := st.ev
		x.ContactID, x.AccountID = c.ID, a.ID
		require.NoError(t, e.Apply(a, c, &x, &out))
		assert.Equal(t, st.want, row{ledgerText(out.Ledger), c.Behavior, c.Fit, c.Score(), a.Score(), crossingText(out.Crossings)}, x.ID)
	}
	assert.Equal(t, "A", c.Grade)
	assert.Equal(t, model.Late, c.Stage)
	assert.True(t, c.MQL)
	assert.True(t, c.AQL)
	assert.False(t, a.MQA)
	assert.Equal(t, int64(1772629200), c.DecayFrom)
	assert.Equal(t, "07f34613f9d90f76f2d8fffdb292f319", (&Crossing{Type: BecameMQL, ContactID: "c-42", Cause: "evt-4"}).ID())

	// Idle: one row per 30 days.
	for _, tt := range []struct {
		days                   int
		behavior, total, acctS int32
		crossings, stage       string
		mql, aql, dormant      bool
	}{
		{29, 75, 115, 105, "", "late", true, true, false},
		{30, 65, 105, 95, "", "late", true, true, false},
		{60, 55, 95, 85, "lead.stage_changed", "mid", true, true, false},
		{90, 45, 85, 75, "lead.went_dormant, lead.nurture_changed", "mid", true, true, true},
		{120, 35, 75, 65, "lead.left_aql", "mid", true, false, true},
		{150, 25, 65, 55, "lead.left_mql", "mid", false, false, true},
		{180, 15, 55, 45, "lead.stage_changed", "early", false, false, true},
		{210, 10, 50, 40, "", "early", false, false, true},
		{400, 10, 50, 40, "", "early", false, false, true},
	} {
		out.Reset()
		e.Decay(a, c, time.Unix(c.DecayFrom, 0).Add(time.Duration(tt.days)*24*time.Hour), &out)
		assert.Equal(t, []any{tt.behavior, tt.total, tt.acctS, tt.crossings, tt.stage, tt.mql, tt.aql, tt.dormant},
			[]any{c.Behavior, c.Score(), a.Score(), crossingText(out.Crossings), c.Stage.String(), c.MQL, c.AQL, c.Dormant}, "day %d", tt.days)
	}
}

func ledgerText(ls []Entry) string {
	var parts []string
	for _, l := range ls {
		parts = append(parts, fmt.Sprintf("%s %+d", l.Rule, l.Points))
	}
	return strings.Join(parts, ", ")
}

func crossingText(xs []Crossing) string {
	var parts []string
	for _, x := range xs {
		parts = append(parts, x.Type)
	}
	return strings.Join(parts, ", ")
}
