package scoring

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
)

// withModel returns the default model changed by edit, under a new version.
func withModel(t *testing.T, version string, edit func(f *model.File)) *model.Model {
	t.Helper()
	f := model.Default().File
	f.Rules = append([]model.RuleSpec(nil), f.Rules...)
	f.AccountFit = append([]model.FitRule(nil), f.AccountFit...)
	f.Version = version
	edit(&f)
	return mustModel(t, f)
}

func ruleIndex(t *testing.T, f *model.File, id string) int {
	t.Helper()
	for i := range f.Rules {
		if f.Rules[i].ID == id {
			return i
		}
	}
	t.Fatalf("no rule %s", id)
	return -1
}

// TestCapWindowChange: a model that makes a cap's window longer starts a
// new count; the rule keeps scoring.
func TestCapWindowChange(t *testing.T) {
	t.Parallel()
	for _, per := range []time.Duration{7 * 24 * time.Hour, time.Hour} {
		t.Run(per.String(), func(t *testing.T) {
			t.Parallel()
			v2 := withModel(t, "next", func(f *model.File) {
				i := ruleIndex(t, f, "email-open")
				cp := *f.Rules[i].Cap
				cp.Per = model.Duration(per)
				f.Rules[i].Cap = &cp
			})
			a, c := &Account{}, &Contact{ID: "c-1"}
			var out Result
			first := ev("email.opened", 0, nil)
			require.NoError(t, New(model.Default()).Apply(a, c, &first, &out))
			require.Equal(t, int32(5), c.Behavior)
			for i := range 3 {
				next := ev("email.opened", day(10)+time.Duration(i)*time.Minute, nil)
				require.NoError(t, New(v2).Apply(a, c, &next, &out))
			}
			assert.Equal(t, int32(20), c.Behavior, "three more opens score under the new window")
			over := ev("email.opened", day(10)+time.Hour/2, nil)
			require.NoError(t, New(v2).Apply(a, c, &over, &out))
			assert.Equal(t, int32(20), c.Behavior, "and the cap of 3 still holds")
		})
	}
}

// TestCapCountStoredUnderTheBareRuleID: a count stored before counts were
// keyed by window still counts for the same window.
func TestCapCountStoredUnderTheBareRuleID(t *testing.T) {
	t.Parallel()
	c := &Contact{ID: "c-1", Caps: []CapCount{{Rule: "email-open", Period: t0.Unix() / 86400, Count: 3}}}
	open := ev("email.opened", time.Hour, nil)
	var out Result
	require.NoError(t, New(model.Default()).Apply(&Account{}, c, &open, &out))
	assert.Equal(t, int32(0), c.Behavior, "the fourth open of the day")
	assert.Equal(t, []CapCount{{Rule: "email-open@86400", Period: t0.Unix() / 86400, Count: 4}}, c.Caps)
}

func TestTierIgnoresCase(t *testing.T) {
	t.Parallel()
	for _, tier := range []string{"named", "Named", " NAMED "} {
		e := New(model.Default())
		a := &Account{ID: "acme.io"}
		var out Result
		x := event.Event{ID: "a1", Type: "account.updated", AccountID: a.ID, Time: t0, Properties: props{"tier": tier}}
		require.NoError(t, e.ApplyAccount(a, &x, &out))
		assert.Equal(t, int32(10), a.Fit, "tier %q", tier)
	}
}

// TestCompetitorContactDoesNotMakeItsAccountMQA: a competitor's behavior
// under a customer's account is not that account's interest.
func TestCompetitorContactDoesNotMakeItsAccountMQA(t *testing.T) {
	t.Parallel()
	e := New(model.Default())
	a := &Account{ID: "acme.io"}
	var out Result
	acc := event.Event{ID: "a1", Type: "account.updated", AccountID: a.ID, Time: t0, Properties: props{"employees": 5000.0}}
	require.NoError(t, e.ApplyAccount(a, &acc, &out))
	spy := &Contact{ID: "spy"}
	for i, x := range []event.Event{
		{Type: "contact.updated", Properties: props{"email": "x@rivalscore.io"}},
		{Type: "meeting.booked"}, {Type: "webinar.attended"}, {Type: "meeting.booked"}, {Type: "tradeshow.visited"},
	} {
		x.ID, x.ContactID, x.AccountID, x.Time = fmt.Sprint("s", i), spy.ID, a.ID, t0.Add(time.Duration(i)*time.Hour)
		require.NoError(t, e.Apply(a, spy, &x, &out))
	}
	assert.Equal(t, int32(120), spy.Behavior)
	assert.Equal(t, int32(0), a.Engagement)
	assert.False(t, a.MQA)
	assert.NotContains(t, types(out.Crossings), BecameMQA)
	// Once its email is no longer a competitor's, it counts.
	fix := event.Event{ID: "fix", Type: "contact.updated", ContactID: spy.ID, AccountID: a.ID, Time: t0.Add(day(1)),
		Properties: props{"email": "x@acme.io"}}
	require.NoError(t, e.Apply(a, spy, &fix, &out))
	assert.Equal(t, int32(120), a.Engagement)
}

// TestModelChangeRecomputesAccountFit: the first event under a new model
// recomputes the account's fit and asks for its members to be refreshed.
func TestModelChangeRecomputesAccountFit(t *testing.T) {
	t.Parallel()
	v2 := withModel(t, "next", func(f *model.File) {
		for i := range f.AccountFit {
			if f.AccountFit[i].ID == "employees-1000" {
				f.AccountFit[i].Points = 25
			}
		}
	})
	mem := NewMemory()
	w := mem.Workspace(New(model.Default()))
	for _, x := range []event.Event{
		{ID: "a1", Type: "account.updated", AccountID: "acme.io", Time: t0, Properties: props{"employees": 5000.0}},
		{ID: "e1", Type: "webinar.attended", ContactID: "c-1", AccountID: "acme.io", Time: t0.Add(time.Hour)},
		{ID: "e2", Type: "webinar.attended", ContactID: "c-2", AccountID: "acme.io", Time: t0.Add(time.Hour)},
	} {
		require.NoError(t, w.Apply(&x))
	}
	mem.Commit(w)
	require.Equal(t, int32(15+25), mem.Contact("c-2").Score())

	w = mem.Workspace(New(v2))
	x := event.Event{ID: "e3", Type: "email.opened", ContactID: "c-1", AccountID: "acme.io", Time: t0.Add(2 * time.Hour)}
	require.NoError(t, w.Apply(&x))
	mem.Commit(w)
	assert.Equal(t, int32(25), mem.Homes["a:acme.io"].Account.Fit)
	assert.Equal(t, "next", mem.Homes["a:acme.io"].Account.Model)
	assert.Equal(t, int32(25+30), mem.Contact("c-1").Score())
	assert.Equal(t, int32(25+25), mem.Contact("c-2").Score(), "the other member is refreshed too")
	assert.Equal(t, "next", mem.Contact("c-2").Model)
}

// TestZeroAndNegativePointsDoNotRestartTheIdleClock: "idle" is no
// engagement; a careers-page visit or an adjustment of 0 is not engagement.
func TestZeroAndNegativePointsDoNotRestartTheIdleClock(t *testing.T) {
	t.Parallel()
	adjust := func(points float64, at time.Duration) event.Event {
		x := ev("score.adjusted", at, props{"points": points})
		x.ID = fmt.Sprint("adj", at)
		return x
	}
	careers := ev("web.page_viewed", day(45), props{"url": "https://x.io/careers"})
	tests := []struct {
		name   string
		events []event.Event
		want   map[float64]int32 // day → behavior
	}{
		{"no activity", []event.Event{adjust(100, 0)}, map[float64]int32{29: 100, 31: 90, 61: 80, 91: 70}},
		{"zero points", []event.Event{adjust(100, 0), adjust(0, day(20))}, map[float64]int32{29: 100, 31: 90, 61: 80, 91: 70}},
		{"negative points after a step", []event.Event{adjust(100, 0), careers}, map[float64]int32{31: 90, 46: 80, 61: 70, 91: 60}},
		{"negative points before a step", []event.Event{adjust(100, 0), adjust(-10, day(20))}, map[float64]int32{21: 90, 31: 80, 61: 70}},
		{"negative points below the floor", []event.Event{adjust(15, 0), adjust(-10, day(40))}, map[float64]int32{31: 10, 41: 0, 400: 0}},
		{"positive points restart it", []event.Event{adjust(100, 0), adjust(10, day(20))}, map[float64]int32{31: 110, 49: 110, 51: 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for d, want := range tt.want {
				e := New(model.Default())
				a, c := &Account{}, &Contact{ID: "c-1"}
				var out Result
				for i := range tt.events {
					if !tt.events[i].Time.After(t0.Add(day(d))) {
						require.NoError(t, e.Apply(a, c, &tt.events[i], &out))
					}
				}
				e.Decay(a, c, t0.Add(day(d)), &out)
				assert.Equal(t, want, c.Behavior, "day %g", d)
				assert.Equal(t, c.Score(), ledgerSum(out.Ledger, "c-1"), "day %g: the ledger adds up", d)
			}
		})
	}
}

func ledgerSum(ls []Entry, contact string) int32 {
	var sum int32
	for _, l := range ls {
		if l.ContactID == contact {
			sum += l.Points
		}
	}
	return sum
}

// TestAssistantToTheCEOIsNotAnAQL: a senior word as the object of a title
// makes neither fit nor the target-contact gate.
func TestAssistantToTheCEOIsNotAnAQL(t *testing.T) {
	t.Parallel()
	c, _ := run(t, model.Default(), ev("contact.updated", 0, props{"title": "Executive Assistant to the CEO",
		"first_name": "A", "last_name": "B", "email": "a@acme.io", "company": "Acme"}))
	assert.Equal(t, int32(0), c.TitleFit)
	assert.False(t, New(model.Default()).isTarget(c))
}

// TestLateEventRecountsDecayInTheLedger: an event dated after the anchor
// but before decay steps already applied re-anchors at its time; the ledger
// says so with a line that gives back the recounted steps.
func TestLateEventRecountsDecayInTheLedger(t *testing.T) {
	t.Parallel()
	e := New(model.Default())
	a, c := &Account{}, &Contact{ID: "c-1"}
	var out Result
	first := ev("score.adjusted", 0, props{"points": 75.0})
	require.NoError(t, e.Apply(a, c, &first, &out))
	e.Decay(a, c, t0.Add(day(61)), &out)
	require.Equal(t, int32(55), c.Behavior)
	late := ev("email.clicked", day(40), nil)
	require.NoError(t, e.Apply(a, c, &late, &out))
	assert.Equal(t, int32(75), c.Behavior, "65 at day 40, +10, no step due by day 61")
	n := len(out.Ledger)
	assert.Equal(t, []string{"email-click +10", "decay +10"}, []string{
		fmt.Sprintf("%s %+d", out.Ledger[n-2].Rule, out.Ledger[n-2].Points), fmt.Sprintf("%s %+d", out.Ledger[n-1].Rule, out.Ledger[n-1].Points)})
	assert.Equal(t, "decay recounted for an event dated 2026-02-14T09:00:00Z", out.Ledger[n-1].Reason)
	assert.Equal(t, c.Score(), ledgerSum(out.Ledger, "c-1"))
}
