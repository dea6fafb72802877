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

var t0 = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

type props = map[string]any

// ev builds a contact event for c-1 at t0 plus the given offset.
func ev(typ string, at time.Duration, p props) event.Event {
	return event.Event{ID: fmt.Sprintf("%s@%s", typ, at), Type: typ, ContactID: "c-1", Time: t0.Add(at), Properties: p}
}

func day(n float64) time.Duration { return time.Duration(n * float64(24*time.Hour)) }

// run applies events to a fresh contact with no account.
func run(t *testing.T, m *model.Model, evs ...event.Event) (*Contact, *Result) {
	t.Helper()
	e := New(m)
	a, c := &Account{}, &Contact{ID: "c-1"}
	var out Result
	for i := range evs {
		require.NoError(t, e.Apply(a, c, &evs[i], &out))
	}
	return c, &out
}

func TestDefaultRules(t *testing.T) {
	t.Parallel()
	m := model.Default()
	view := func(url string, at time.Duration) event.Event {
		e := ev("web.page_viewed", at, props{"url": url})
		e.ID += url
		return e
	}
	tests := []struct {
		name     string
		events   []event.Event
		behavior int32
		fit      int32
	}{
		{"email open +5", []event.Event{ev("email.opened", 0, nil)}, 5, 0},
		{"email opens capped at 3 a day", []event.Event{
			ev("email.opened", 0, nil), ev("email.opened", 1*time.Hour, nil), ev("email.opened", 2*time.Hour, nil),
			ev("email.opened", 3*time.Hour, nil), ev("email.opened", 4*time.Hour, nil)}, 15, 0},
		{"cap resets the next day", []event.Event{
			ev("email.opened", 0, nil), ev("email.opened", 1*time.Hour, nil), ev("email.opened", 2*time.Hour, nil),
			ev("email.opened", 3*time.Hour, nil), ev("email.opened", day(1), nil)}, 20, 0},
		{"whitepaper +20", []event.Event{ev("content.downloaded", 0, props{"asset_type": "whitepaper"})}, 20, 0},
		{"other asset types score by their rule", []event.Event{ev("content.downloaded", 0, props{"asset_type": "Ebook"})}, 15, 0},
		{"unknown asset type scores 0", []event.Event{ev("content.downloaded", 0, props{"asset_type": "zip"})}, 0, 0},
		{"blog +10", []event.Event{view("https://acme.io/blog/scoring-101", 0)}, 10, 0},
		{"first pricing visit scores nothing", []event.Event{view("https://acme.io/pricing", 0)}, 0, 0},
		{"repeated pricing visit +30, once", []event.Event{
			view("https://acme.io/pricing", 0), view("https://acme.io/pricing?plan=pro", time.Hour),
			view("https://acme.io/pricing", 2*time.Hour)}, 30, 0},
		{"careers page is negative", []event.Event{view("https://acme.io/careers/sre", 0)}, -10, 0},
		{"jobs page is negative", []event.Event{view("https://acme.io/jobs", 0)}, -10, 0},
		{"unsubscribe is negative", []event.Event{ev("email.unsubscribed", 0, nil)}, -20, 0},
		{"sales disqualification is negative", []event.Event{ev("sales.disqualified", 0, nil)}, -50, 0},
		{"video 10% scores nothing", []event.Event{ev("video.watched", 0, props{"percent": 10.0})}, 0, 0},
		{"video 30% +3", []event.Event{ev("video.watched", 0, props{"percent": 30.0})}, 3, 0},
		{"video 80% +10", []event.Event{ev("video.watched", 0, props{"percent": 80.0})}, 10, 0},
		{"video 100% +15", []event.Event{ev("video.watched", 0, props{"percent": "100"})}, 15, 0},
		{"webinar attended", []event.Event{ev("webinar.attended", 0, nil)}, 25, 0},
		{"manual adjustment", []event.Event{ev("score.adjusted", 0, props{"points": -7.0, "reason": "spam"})}, -7, 0},
		{"unknown type scores 0", []event.Event{ev("chat.started", 0, nil)}, 0, 0},
		{"VP +10", []event.Event{ev("contact.updated", 0, props{"title": "VP of Marketing"})}, 0, 10},
		{"chief +10", []event.Event{ev("contact.updated", 0, props{"title": "Chief Revenue Officer"})}, 0, 10},
		{"manager +5", []event.Event{ev("contact.updated", 0, props{"title": "Marketing Manager"})}, 0, 5},
		{"other titles 0", []event.Event{ev("contact.updated", 0, props{"title": "Intern"})}, 0, 0},
		{"title change replaces title points", []event.Event{
			ev("contact.updated", 0, props{"title": "Marketing Manager"}),
			ev("contact.updated", time.Hour, props{"title": "SVP Marketing"})}, 0, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, out := run(t, m, tt.events...)
			assert.Equal(t, tt.behavior, c.Behavior, "behavior")
			assert.Equal(t, tt.fit, c.Fit, "fit")
			var sum int32
			for _, l := range out.Ledger {
				sum += l.Points
			}
			assert.Equal(t, c.Score(), sum, "the ledger adds up to the score")
		})
	}
}

func TestLedgerExplains(t *testing.T) {
	t.Parallel()
	c, out := run(t, model.Default(),
		ev("contact.updated", 0, props{"title": "VP Sales"}),
		ev("content.downloaded", time.Hour, props{"asset_type": "whitepaper"}),
		ev("email.opened", 2*time.Hour, nil))
	require.Len(t, out.Ledger, 3)
	assert.Equal(t, Entry{ContactID: "c-1", Time: t0.Unix(), Cause: "contact.updated@0s", Kind: KindFit, Rule: "vp-plus", Points: 10,
		Reason: `title "VP Sales"`, Score: 10, Fit: 10}, out.Ledger[0])
	assert.Equal(t, "whitepaper", out.Ledger[1].Rule)
	assert.Equal(t, int32(30), out.Ledger[1].Score)
	assert.Equal(t, "email-open", out.Ledger[2].Rule)
	assert.Equal(t, int32(35), out.Ledger[2].Score)
	assert.Equal(t, int32(35), c.Score())
}

func TestProductScores(t *testing.T) {
	t.Parallel()
	c, _ := run(t, model.Default(),
		ev("web.page_viewed", 0, props{"url": "https://acme.io/products/analytics/overview"}),
		ev("web.page_viewed", time.Minute, props{"url": "https://acme.io/products/analytics/pricing"}),
		ev("web.page_viewed", 2*time.Minute, props{"url": "https://acme.io/products/platform"}),
		ev("email.opened", 3*time.Minute, nil))
	assert.Equal(t, []Product{{Name: "analytics", Anchor: 10, Score: 10}, {Name: "platform", Anchor: 5, Score: 5}}, c.Products)
	assert.Equal(t, int32(20), c.Behavior)
}

// qualified builds a contact and account where AQL's gates can be toggled.
func TestAQLGates(t *testing.T) {
	t.Parallel()
	full := props{"first_name": "Ada", "last_name": "Byron", "email": "ada@acme.io", "phone": "+1 555 0100",
		"company": "Acme", "title": "VP Engineering"}
	without := func(keys ...string) props {
		p := props{}
		for k, v := range full {
			p[k] = v
		}
		for _, k := range keys {
			delete(p, k)
		}
		return p
	}
	big := props{"employees": 5000.0, "revenue": 2e8, "industry": "software", "country": "US"}
	small := props{"employees": 50.0, "industry": "retail", "country": "BR"}
	tests := []struct {
		name             string
		profile, account props
		engagement       int // webinars attended (+25 each)
		aql              bool
	}{
		{"all pass", full, big, 2, true},
		{"missing title", without("title"), big, 2, false},
		{"non-target title", without("title"), big, 2, false},
		{"missing phone and email", without("phone", "email"), big, 2, false},
		{"phone alone is enough", without("email"), big, 2, true},
		{"missing last name", without("last_name"), big, 2, false},
		{"missing company", without("company"), big, 2, false},
		{"behavior short", full, big, 1, false},
		{"account short", full, small, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := New(model.Default())
			a, c := &Account{ID: "acme.io"}, &Contact{ID: "c-1"}
			var out Result
			acc := event.Event{ID: "a1", Type: "account.updated", AccountID: "acme.io", Time: t0, Properties: tt.account}
			require.NoError(t, e.ApplyAccount(a, &acc, &out))
			evs := []event.Event{ev("contact.updated", time.Minute, tt.profile)}
			for i := range tt.engagement {
				evs = append(evs, ev("webinar.attended", time.Hour*time.Duration(i+1), nil))
				evs[len(evs)-1].ID += fmt.Sprint(i)
			}
			for i := range evs {
				require.NoError(t, e.Apply(a, c, &evs[i], &out))
			}
			assert.Equal(t, tt.aql, c.AQL)
			target, behavior, account := e.Gates(a, c)
			assert.Equal(t, tt.aql, target && behavior && account)
			assert.Equal(t, tt.aql, hasCrossing(out.Crossings, BecameAQL, "c-1"))
		})
	}
}

func hasCrossing(xs []Crossing, typ, subject string) bool {
	for i := range xs {
		if xs[i].Type == typ && xs[i].Subject() == subject {
			return true
		}
	}
	return false
}

func types(xs []Crossing) []string {
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		out = append(out, x.Type)
	}
	return out
}

func TestGradeBoundaries(t *testing.T) {
	t.Parallel()
	m := model.Default()
	for _, tt := range []struct {
		fit   int
		grade byte
	}{{100, 'A'}, {40, 'A'}, {39, 'B'}, {25, 'B'}, {24, 'C'}, {15, 'C'}, {14, 'D'}, {5, 'D'}, {4, 'F'}, {-20, 'F'}} {
		assert.Equal(t, string(tt.grade), string(m.Grade(tt.fit, false)), "fit %d", tt.fit)
		assert.Equal(t, "F", string(m.Grade(tt.fit, true)), "competitor with fit %d", tt.fit)
	}
}

func TestCompetitorIsFAndNeverQualified(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		account props
		email   string
	}{
		{"competitor email domain", props{"employees": 5000.0}, "spy@mail.rivalscore.io"},
		{"competitor account flag", props{"employees": 5000.0, "competitor": true}, "x@acme.io"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := New(model.Default())
			a, c := &Account{ID: "acme.io"}, &Contact{ID: "c-1"}
			var out Result
			acc := event.Event{ID: "a1", Type: "account.updated", AccountID: "acme.io", Time: t0, Properties: tt.account}
			require.NoError(t, e.ApplyAccount(a, &acc, &out))
			evs := []event.Event{ev("contact.updated", 0, props{"title": "CEO", "first_name": "A", "last_name": "B",
				"email": tt.email, "company": "X"}), ev("meeting.booked", time.Hour, nil), ev("webinar.attended", 2*time.Hour, nil),
				ev("form.submitted", 3*time.Hour, props{"form": "demo-request"})}
			for i := range evs {
				require.NoError(t, e.Apply(a, c, &evs[i], &out))
			}
			assert.Equal(t, "F", c.Grade)
			assert.GreaterOrEqual(t, c.Score(), int32(80))
			assert.False(t, c.MQL)
			assert.False(t, c.AQL)
			assert.NotContains(t, types(out.Crossings), BecameMQL)
		})
	}
}

func TestCompetitorDomainOfAccount(t *testing.T) {
	t.Parallel()
	m := model.Default()
	assert.True(t, m.IsCompetitorDomain("rivalscore.io"))
	assert.True(t, m.IsCompetitorDomain("eu.rivalscore.io"))
	assert.True(t, m.IsCompetitorDomain("Jo@RivalScore.io"))
	assert.False(t, m.IsCompetitorDomain("notrivalscore.io"))
}

func TestMQLHysteresis(t *testing.T) {
	t.Parallel()
	adjust := func(points float64, at time.Duration) event.Event {
		e := ev("score.adjusted", at, props{"points": points})
		e.ID = fmt.Sprintf("adj-%s", at)
		return e
	}
	// Enter at 80, stay at 75, leave below 70.
	c, _ := run(t, model.Default(), adjust(79, 0))
	assert.False(t, c.MQL, "79 is below 80")
	c, _ = run(t, model.Default(), adjust(79, 0), adjust(1, time.Minute))
	assert.True(t, c.MQL, "80 enters")
	c, _ = run(t, model.Default(), adjust(80, 0), adjust(-5, time.Minute))
	assert.True(t, c.MQL, "75 stays")
	c, _ = run(t, model.Default(), adjust(80, 0), adjust(-10, time.Minute))
	assert.True(t, c.MQL, "70 stays")
	c, out := run(t, model.Default(), adjust(80, 0), adjust(-10, time.Minute), adjust(-1, 2*time.Minute))
	assert.False(t, c.MQL, "69 leaves")
	assert.Equal(t, []string{StageChanged, BecameMQL, LeftMQL}, types(out.Crossings), "early→late once, then in and out of MQL")
	c, _ = run(t, model.Default(), adjust(75, 0))
	assert.False(t, c.MQL, "75 does not enter from below")
}

func TestStages(t *testing.T) {
	t.Parallel()
	c, out := run(t, model.Default(),
		ev("webinar.attended", 0, nil),             // 25: mid
		ev("meeting.booked", time.Hour, nil),       // 65: late
		ev("sales.disqualified", 2*time.Hour, nil)) // 15: early
	assert.Equal(t, model.Early, c.Stage)
	var got []string
	for _, x := range out.Crossings {
		if x.Type == StageChanged {
			got = append(got, x.From+"->"+x.Stage)
		}
	}
	assert.Equal(t, []string{"early->mid", "mid->late", "late->early"}, got)
}

// TestDecayWithFloor: the default decays −10 per 30 idle days (DOMAIN.md),
// never taking behavior below the floor of 10.
func TestDecayWithFloor(t *testing.T) {
	t.Parallel()
	adj := func(points float64) event.Event {
		return event.Event{ID: "adj", Type: "score.adjusted", ContactID: "c-1", Time: t0, Properties: props{"points": points}}
	}
	tests := []struct {
		name   string
		start  float64
		idle   float64 // days
		expect int32
	}{
		{"29 days idle: nothing", 100, 29, 100},
		{"31 days idle: one step", 100, 31, 90},
		{"61 days idle: two steps", 100, 61, 80},
		{"400 days idle: stops at the floor", 100, 400, 10},
		{"below the floor: never raised, never lowered", 8, 400, 8},
		{"just above the floor: stops at it", 15, 61, 10},
		{"negative: never raised", -30, 400, -30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := New(model.Default())
			a, c := &Account{}, &Contact{ID: "c-1"}
			var out Result
			first := adj(tt.start)
			require.NoError(t, e.Apply(a, c, &first, &out))
			e.Decay(a, c, t0.Add(day(tt.idle)), &out)
			assert.Equal(t, tt.expect, c.Behavior)
			var sum int32
			for _, l := range out.Ledger {
				sum += l.Points
			}
			assert.Equal(t, c.Score(), sum, "ledger adds up")
		})
	}
}

// TestDecayFloorIsOnBehavior: the floor bounds behavior, whatever the fit;
// a contact with low or negative fit decays as far as any other.
func TestDecayFloorIsOnBehavior(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		title   string
		account props
		fit     int32
	}{
		{"fit 10", "VP Sales", nil, 10},
		{"fit 0", "Intern", nil, 0},
		{"non-ICP fit -15", "Marketing Manager", props{"tier": "non_icp"}, -15},
		{"fit 40", "VP Sales", props{"employees": 5000.0, "industry": "software", "country": "US"}, 40},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := New(model.Default())
			a, c := &Account{ID: "acme.io"}, &Contact{ID: "c-1"}
			var out Result
			acc := event.Event{ID: "a1", Type: "account.updated", AccountID: a.ID, Time: t0, Properties: tt.account}
			require.NoError(t, e.ApplyAccount(a, &acc, &out))
			for _, x := range []event.Event{ev("contact.updated", 0, props{"title": tt.title}),
				{ID: "adj", Type: "score.adjusted", ContactID: "c-1", Time: t0, Properties: props{"points": 70.0}}} {
				require.NoError(t, e.Apply(a, c, &x, &out))
			}
			e.Decay(a, c, t0.Add(day(1000)), &out)
			assert.Equal(t, tt.fit, c.Fit)
			assert.Equal(t, int32(10), c.Behavior)
			assert.Equal(t, model.Early, c.Stage)
			assert.False(t, c.MQL)
			assert.False(t, c.AQL)
		})
	}
}

// TestLoweringFitNeverRaisesBehavior: an account update that lowers fit
// lowers the total by as much, and moves neither behavior nor stage.
func TestLoweringFitNeverRaisesBehavior(t *testing.T) {
	t.Parallel()
	e := New(model.Default())
	a, c := &Account{ID: "acme.io"}, &Contact{ID: "c-1"}
	var out Result
	big := event.Event{ID: "a1", Type: "account.updated", AccountID: a.ID, Time: t0,
		Properties: props{"employees": 5000.0, "industry": "software", "country": "US"}}
	require.NoError(t, e.ApplyAccount(a, &big, &out))
	for _, x := range []event.Event{ev("contact.updated", 0, props{"title": "VP Sales"}), ev("webinar.attended", time.Hour, nil)} {
		require.NoError(t, e.Apply(a, c, &x, &out))
	}
	e.Decay(a, c, t0.Add(day(400)), &out)
	require.Equal(t, int32(10), c.Behavior)
	stage := c.Stage
	out.Reset()
	shrink := event.Event{ID: "a2", Type: "account.updated", AccountID: a.ID, Time: t0.Add(day(401)),
		Properties: props{"employees": 10.0, "industry": "retail", "country": "BR", "tier": "non_icp"}}
	require.NoError(t, e.ApplyAccount(a, &shrink, &out))
	require.Equal(t, []string{"acme.io"}, out.Refresh)
	e.Refresh(a, c, shrink.ID, shrink.Time, &out)
	assert.Equal(t, int32(10), c.Behavior, "behavior unchanged")
	assert.Equal(t, int32(-10), c.Fit)
	assert.Equal(t, stage, c.Stage)
	assert.NotContains(t, types(out.Crossings), StageChanged)
	require.Len(t, out.Ledger, 1)
	assert.Equal(t, Entry{ContactID: "c-1", Time: shrink.Time.Unix(), Cause: "a2", Kind: KindFit, Rule: "account", Points: -50,
		Reason: `account "acme.io" fit -20`, Score: 0, Behavior: 10, Fit: -10}, out.Ledger[0])
}

// TestAtTheFloorStillGoesDormant: a contact whose behavior never decays (at
// or below the floor) still goes dormant when it stops engaging.
func TestAtTheFloorStillGoesDormant(t *testing.T) {
	t.Parallel()
	e := New(model.Default())
	a, c := &Account{}, &Contact{ID: "c-1"}
	var out Result
	open := ev("email.opened", 0, nil)
	require.NoError(t, e.Apply(a, c, &open, &out))
	require.Equal(t, int32(5), c.Behavior)
	assert.Equal(t, t0.Add(day(90)).Unix(), e.NextDue(c), "nothing decays, dormancy is due")
	e.Decay(a, c, t0.Add(day(91)), &out)
	assert.Equal(t, int32(5), c.Behavior)
	assert.True(t, c.Dormant)
	assert.Equal(t, []string{WentDormant, NurtureChanged}, types(filter(out.Crossings, StageChanged)))
	assert.Zero(t, e.NextDue(c))
}

func TestDecayCrossingsAtTheirStep(t *testing.T) {
	t.Parallel()
	c, _ := run(t, model.Default(),
		event.Event{ID: "adj", Type: "score.adjusted", ContactID: "c-1", Time: t0, Properties: props{"points": 85.0}})
	require.True(t, c.MQL)
	e := New(model.Default())
	var out Result
	e.Decay(&Account{}, c, t0.Add(day(300)), &out)
	// 85 → 75 (day 30, still MQL) → 65 (day 60: left MQL, mid) → 55 (day 90,
	// then dormant, so into reactivation) → … → 15 → 10 (day 240, the floor).
	assert.Equal(t, int32(10), c.Behavior)
	require.Equal(t, []string{LeftMQL, WentDormant, NurtureChanged}, types(filter(out.Crossings, StageChanged)))
	assert.Equal(t, "other", filter(out.Crossings, StageChanged)[2].From)
	assert.Equal(t, "reactivation", filter(out.Crossings, StageChanged)[2].Nurture)
	left := filter(out.Crossings, StageChanged)[0]
	assert.Equal(t, t0.Add(day(60)).Unix(), left.Time)
	assert.Equal(t, "decay:c-1:"+fmt.Sprint(t0.Unix())+":2", left.Cause)
	dormant := filter(out.Crossings, StageChanged)[1]
	assert.Equal(t, t0.Add(day(90)).Unix(), dormant.Time)
	assert.Equal(t, int32(55), dormant.Behavior, "dormancy due at a step's instant comes after that step")
}

func filter(xs []Crossing, drop string) []Crossing {
	var out []Crossing
	for _, x := range xs {
		if x.Type != drop {
			out = append(out, x)
		}
	}
	return out
}

func TestDormantAndReactivated(t *testing.T) {
	t.Parallel()
	e := New(model.Default())
	a, c := &Account{}, &Contact{ID: "c-1"}
	var out Result
	first := ev("webinar.attended", 0, nil)
	require.NoError(t, e.Apply(a, c, &first, &out))
	e.Decay(a, c, t0.Add(day(89)), &out)
	assert.False(t, c.Dormant)
	e.Decay(a, c, t0.Add(day(91)), &out)
	assert.True(t, c.Dormant)
	// A non-engagement (negative) event does not wake it.
	careers := ev("web.page_viewed", day(95), props{"url": "https://x.io/careers"})
	require.NoError(t, e.Apply(a, c, &careers, &out))
	assert.True(t, c.Dormant)
	back := ev("email.clicked", day(100), nil)
	require.NoError(t, e.Apply(a, c, &back, &out))
	assert.False(t, c.Dormant)
	assert.Equal(t, []string{WentDormant, NurtureChanged, Reactivated, NurtureChanged}, types(filter(out.Crossings, StageChanged)))
	assert.Equal(t, "other", c.Nurture, "back from reactivation")
}

func TestDecayIdempotentAtSameInstant(t *testing.T) {
	t.Parallel()
	c, _ := run(t, model.Default(), ev("meeting.booked", 0, nil), ev("webinar.attended", time.Hour, nil))
	e := New(model.Default())
	var out Result
	e.Decay(&Account{}, c, t0.Add(day(70)), &out)
	before := c.Clone()
	n := len(out.Ledger) + len(out.Crossings)
	e.Decay(&Account{}, c, t0.Add(day(70)), &out)
	assert.Equal(t, before, c)
	assert.Equal(t, n, len(out.Ledger)+len(out.Crossings))
}

func TestLateEventDoesNotRewindTime(t *testing.T) {
	t.Parallel()
	c, _ := run(t, model.Default(),
		ev("webinar.attended", day(10), nil),
		ev("email.clicked", day(2), nil)) // late
	assert.Equal(t, int32(35), c.Behavior)
	assert.Equal(t, t0.Add(day(10)).Unix(), c.DecayFrom, "decay still counts from the latest activity")
	assert.Equal(t, t0.Add(day(10)).Unix(), c.LastEngaged)
}

func TestAccountEngagementAndMQA(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		agg    string
		topN   int
		expect int32
	}{{"sum", 0, 25 + 40 + 10 + 5}, {"max", 0, 40}, {"top_n", 2, 65}} {
		t.Run(tt.agg, func(t *testing.T) {
			t.Parallel()
			f := model.Default().File
			f.Account = model.AccountSpec{Engagement: tt.agg, TopN: tt.topN}
			m := mustModel(t, f)
			e := New(m)
			a := &Account{ID: "acme.io"}
			var out Result
			for i, typ := range []string{"webinar.attended", "meeting.booked", "email.clicked", "email.opened"} {
				c := &Contact{ID: fmt.Sprintf("c-%d", i)}
				x := event.Event{ID: fmt.Sprint("e", i), Type: typ, ContactID: c.ID, AccountID: a.ID, Time: t0}
				require.NoError(t, e.Apply(a, c, &x, &out))
			}
			assert.Equal(t, tt.expect, a.Engagement)
			assert.Len(t, a.Members, 4)
		})
	}
}

func mustModel(t *testing.T, f model.File) *model.Model {
	t.Helper()
	data, err := yamlMarshal(f)
	require.NoError(t, err)
	m, err := model.Parse(data)
	require.NoError(t, err)
	return m
}

func TestMQAHysteresisAndRefresh(t *testing.T) {
	t.Parallel()
	e := New(model.Default())
	a := &Account{ID: "acme.io"}
	var out Result
	acc := event.Event{ID: "a1", Type: "account.updated", AccountID: a.ID, Time: t0,
		Properties: props{"employees": 5000.0, "industry": "software", "country": "US", "revenue": 5e8}}
	require.NoError(t, e.ApplyAccount(a, &acc, &out))
	assert.Equal(t, int32(40), a.Fit)
	assert.Equal(t, []string{"acme.io"}, out.Refresh, "fit changed: members need refresh")
	out.Reset()
	// Fit 40 + top-3 engagement; MQA enters at 120.
	contacts := map[string]*Contact{}
	for i := range 3 {
		c := &Contact{ID: fmt.Sprintf("c-%d", i)}
		contacts[c.ID] = c
		x := event.Event{ID: fmt.Sprint("m", i), Type: "meeting.booked", ContactID: c.ID, AccountID: a.ID, Time: t0.Add(time.Hour)}
		require.NoError(t, e.Apply(a, c, &x, &out))
	}
	assert.True(t, a.MQA)
	assert.Equal(t, int32(160), a.Score())
	assert.Equal(t, []string{BecameMQA}, types(filterPrefix(out.Crossings, "account.")))
	// Engagement moved the account into MQA; no member's status depends on
	// it (AQL's account gate is the account's fit), so none is refreshed.
	assert.Empty(t, out.Refresh)
}

func filterPrefix(xs []Crossing, prefix string) []Crossing {
	var out []Crossing
	for _, x := range xs {
		if len(x.Type) >= len(prefix) && x.Type[:len(prefix)] == prefix {
			out = append(out, x)
		}
	}
	return out
}

func TestMoveAccount(t *testing.T) {
	t.Parallel()
	e := New(model.Default())
	oldA, newA := &Account{ID: "old.io"}, &Account{ID: "new.io"}
	c := &Contact{ID: "c-1"}
	var out Result
	x := event.Event{ID: "e1", Type: "webinar.attended", ContactID: "c-1", AccountID: "old.io", Time: t0}
	require.NoError(t, e.Apply(oldA, c, &x, &out))
	require.Equal(t, int32(25), oldA.Engagement)
	mv := event.Event{ID: "e2", Type: "contact.updated", ContactID: "c-1", AccountID: "new.io", Time: t0.Add(time.Hour)}
	e.Leave(oldA, c, mv.ID, mv.Time, &out)
	require.NoError(t, e.Apply(newA, c, &mv, &out))
	assert.Equal(t, int32(0), oldA.Engagement)
	assert.Empty(t, oldA.Members)
	assert.Equal(t, int32(25), newA.Engagement)
	assert.Equal(t, "new.io", c.AccountID)
}

func TestCrossingIDsAreDeterministic(t *testing.T) {
	t.Parallel()
	x := Crossing{Type: BecameMQL, ContactID: "c-42", AccountID: "acme.com", Cause: "evt-7f3a"}
	y := x
	y.Score = 99
	assert.Equal(t, x.ID(), y.ID(), "the id depends on subject, type and cause only")
	y.Cause = "evt-7f3b"
	assert.NotEqual(t, x.ID(), y.ID())
	assert.Len(t, x.ID(), 32)
}

// TestTheEngineKnowsTheModelsTypesOnly: the types with a rule and those
// the engine reads are known; types no rule scores, whatever their
// prefix, are not.
func TestTheEngineKnowsTheModelsTypesOnly(t *testing.T) {
	t.Parallel()
	e := New(model.Default())
	for typ, known := range map[string]bool{
		"webinar.attended": true, "web.page_viewed": true, "score.adjusted": true, "contact.updated": true,
		"account.updated": true, "deal.won": true, "deal.lost": true, "opportunity.created": true, "sales.feedback": true,
		"webinar.a.b": false, "webinar.attended.twice": false, "made.up": false, "account.renamed": false,
	} {
		assert.Equal(t, known, e.Knows(typ), typ)
	}
}
