package scoring

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
)

func TestOutcomesAreRecordedWithTheStatusAtThatMoment(t *testing.T) {
	t.Parallel()
	c, out := run(t, model.Default(),
		ev("score.adjusted", 0, props{"points": 85.0}),
		ev("opportunity.created", day(2), nil),
		ev("opportunity.created", day(3), nil),
		ev("sales.feedback", day(4), props{"rating": "good", "reason": "budget confirmed"}),
		ev("sales.feedback", day(4.5), props{"rating": "bad"}),
		ev("sales.feedback", day(4.6), props{"rating": "meh"}),
		ev("deal.won", day(30), nil),
	)
	assert.Equal(t, t0.Unix(), c.MQLAt)
	assert.Equal(t, t0.Add(day(2)).Unix(), c.OppAt, "the first opportunity counts")
	assert.True(t, c.Won)
	assert.False(t, c.Lost)
	assert.Equal(t, int32(1), c.Good)
	assert.Equal(t, int32(1), c.Bad, "an unknown rating is not feedback")
	assert.Equal(t, int32(75), c.Score(), "outcomes score nothing in the default model (85, one decay step)")
	var outcomes []Entry
	for _, l := range out.Ledger {
		if l.Kind == KindOutcome {
			outcomes = append(outcomes, l)
		}
	}
	require.Len(t, outcomes, 5)
	assert.Equal(t, Entry{ContactID: "c-1", Time: t0.Add(day(2)).Unix(), Cause: "opportunity.created@48h0m0s", Kind: KindOutcome,
		Rule: "opportunity.created", Reason: "opportunity created", Score: 85, Behavior: 85, Grade: "F", Stage: "late",
		MQL: true, Model: model.Default().Version}, outcomes[0])
	assert.Equal(t, "sales feedback: good (budget confirmed)", outcomes[2].Reason)
}

func TestFirstMQLTimeSurvivesLeavingAndReentering(t *testing.T) {
	t.Parallel()
	c, _ := run(t, model.Default(),
		ev("score.adjusted", 0, props{"points": 85.0}),
		ev("score.adjusted", day(1), props{"points": -30.0}),
		ev("score.adjusted", day(2), props{"points": 40.0}),
	)
	assert.True(t, c.MQL)
	assert.Equal(t, t0.Unix(), c.MQLAt)
}

func TestTriggeredRulesAreRememberedPerModel(t *testing.T) {
	t.Parallel()
	m := model.Default()
	c, _ := run(t, m, ev("webinar.attended", 0, nil), ev("email.opened", day(1), nil))
	idx := func(id string) int {
		for i := range m.Rules {
			if m.Rules[i].ID == id {
				return i
			}
		}
		t.Fatalf("no rule %s", id)
		return -1
	}
	assert.True(t, c.Triggered(idx("webinar-attended")))
	assert.True(t, c.Triggered(idx("email-open")))
	assert.False(t, c.Triggered(idx("email-click")))

	other, err := model.Parse([]byte(strings.Replace(string(model.DefaultYAML()), "version: \"3\"\nname", "version: \"4\"\nname", 1)))
	require.NoError(t, err)
	e := New(other)
	var out Result
	next := ev("email.clicked", day(2), nil)
	require.NoError(t, e.Apply(&Account{}, c, &next, &out))
	assert.False(t, c.Triggered(idx("webinar-attended")), "bits of the old model's rules are dropped")
	assert.True(t, c.Triggered(idx("email-click")))
}

func TestNurtureCategories(t *testing.T) {
	t.Parallel()
	m := model.Default()
	for _, tc := range []struct {
		title, industry string
		dormant         bool
		want            string
	}{
		{"Chief Marketing Officer", "retail", false, model.NurtureCLevel},
		{"CTO", "", false, model.NurtureCLevel},
		{"Assistant to the CEO", "retail", false, model.NurtureOther},
		{"Data Engineer", "Fintech", false, model.NurtureKeyVertical},
		{"CTO", "fintech", true, model.NurtureReactivation},
		{"", "", false, model.NurtureOther},
	} {
		assert.Equal(t, tc.want, m.NurtureOf(tc.title, tc.industry, tc.dormant), "%+v", tc)
	}
	e := New(m)
	a := &Account{ID: "acme.io", Industry: "software"}
	c := &Contact{ID: "c-1"}
	var out Result
	first := ev("webinar.attended", 0, nil)
	require.NoError(t, e.Apply(a, c, &first, &out))
	assert.Equal(t, model.NurtureKeyVertical, c.Nurture)
	assert.Empty(t, filterTypes(out.Crossings, NurtureChanged), "a first category is no change")
	profile := ev("contact.updated", day(1), props{"title": "CEO"})
	require.NoError(t, e.Apply(a, c, &profile, &out))
	got := filterTypes(out.Crossings, NurtureChanged)
	require.Len(t, got, 1)
	assert.Equal(t, "key_vertical", got[0].From)
	assert.Equal(t, "c_level", got[0].Nurture)
}

func filterTypes(xs []Crossing, keep string) []Crossing {
	var out []Crossing
	for _, x := range xs {
		if x.Type == keep {
			out = append(out, x)
		}
	}
	return out
}

func TestAccountRecordsItsContactsOutcomes(t *testing.T) {
	t.Parallel()
	e := New(model.Default())
	a := &Account{ID: "acme.io", MQA: true}
	c1, c2 := &Contact{ID: "c-1", AccountID: "acme.io"}, &Contact{ID: "c-2", AccountID: "acme.io"}
	var out Result
	for _, step := range []struct {
		c  *Contact
		ev event.Event
	}{
		{c1, ev("opportunity.created", day(1), nil)},
		{c1, ev("opportunity.created", day(2), nil)},
		{c2, event.Event{ID: "o2", Type: "deal.lost", ContactID: "c-2", Time: t0.Add(day(3))}},
		{c1, ev("deal.won", day(9), nil)},
	} {
		require.NoError(t, e.Apply(a, step.c, &step.ev, &out))
	}
	assert.Equal(t, t0.Add(day(1)).Unix(), a.FirstOppAt)
	assert.Equal(t, int32(2), a.Opportunities, "one per contact: c-1's second opportunity is not counted")
	assert.Equal(t, int32(1), a.Won)
	assert.Equal(t, int32(1), a.Lost)
	assert.False(t, a.MQAAtFirstOpp, "without engagement the account had left MQA before the opportunity")
}
