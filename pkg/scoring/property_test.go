package scoring

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
)

var genTypes = []struct {
	typ   string
	props props
}{
	{"email.opened", nil}, {"email.clicked", nil}, {"webinar.attended", nil}, {"meeting.booked", nil},
	{"web.page_viewed", props{"url": "https://x.io/pricing"}}, {"web.page_viewed", props{"url": "https://x.io/careers"}},
	{"web.page_viewed", props{"url": "https://x.io/products/analytics"}}, {"content.downloaded", props{"asset_type": "whitepaper"}},
	{"video.watched", props{"percent": 80.0}}, {"email.unsubscribed", nil}, {"sales.disqualified", nil},
	{"contact.updated", props{"title": "VP Sales"}}, {"contact.updated", props{"title": "Intern"}},
	{"score.adjusted", props{"points": 33.0}},
}

// genHistory draws events for one contact with increasing times: gaps from
// minutes to two months, so decay steps and dormancy happen in between.
func genHistory(t *rapid.T, contact string, late bool) []event.Event {
	n := rapid.IntRange(1, 30).Draw(t, "n")
	at := t0
	evs := make([]event.Event, 0, n)
	for i := range n {
		g := genTypes[rapid.IntRange(0, len(genTypes)-1).Draw(t, "type")]
		at = at.Add(time.Duration(rapid.Int64Range(60, 70*86400).Draw(t, "gap")) * time.Second)
		when := at
		if late && rapid.IntRange(0, 4).Draw(t, "late") == 0 {
			when = at.Add(-time.Duration(rapid.Int64Range(0, 40*86400).Draw(t, "back")) * time.Second)
		}
		evs = append(evs, event.Event{ID: fmt.Sprintf("%s-e%d", contact, i), Type: g.typ, ContactID: contact, Time: when, Properties: g.props})
	}
	return evs
}

func lastTime(evs []event.Event) time.Time {
	var last time.Time
	for _, e := range evs {
		if e.Time.After(last) {
			last = e.Time
		}
	}
	return last
}

// TestDecayPathIndependence: a decayer running at arbitrary moments between
// events leaves the same state, ledger and crossings as no decayer at all,
// once both are decayed to the same instant.
func TestDecayPathIndependence(t *testing.T) {
	t.Parallel()
	e := New(model.Default())
	rapid.Check(t, func(t *rapid.T) {
		evs := genHistory(t, "c-1", false)
		end := lastTime(evs).Add(time.Duration(rapid.Int64Range(0, 400*86400).Draw(t, "tail")) * time.Second)
		a1, c1, a2, c2 := &Account{}, &Contact{ID: "c-1"}, &Account{}, &Contact{ID: "c-1"}
		var r1, r2 Result
		for i := range evs {
			// Live: decay daily up to this event.
			from := time.Unix(max(c1.DecayedTo, t0.Unix()), 0)
			for d := from.Add(24 * time.Hour); d.Before(evs[i].Time); d = d.Add(24 * time.Hour) {
				e.Decay(a1, c1, d, &r1)
			}
			require.NoError(t, e.Apply(a1, c1, &evs[i], &r1))
			require.NoError(t, e.Apply(a2, c2, &evs[i], &r2))
		}
		e.Decay(a1, c1, end, &r1)
		e.Decay(a2, c2, end, &r2)
		require.Equal(t, c2, c1)
		require.Equal(t, r2.Ledger, r1.Ledger)
		require.Equal(t, r2.Crossings, r1.Crossings)
		// Idempotent: a second decay at the same instant changes nothing.
		before := c1.Clone()
		n := len(r1.Ledger) + len(r1.Crossings)
		e.Decay(a1, c1, end, &r1)
		require.Equal(t, before, c1)
		require.Equal(t, n, len(r1.Ledger)+len(r1.Crossings))
	})
}

// TestDecayPathIndependenceWithLateEvents: late events and a decayer that
// runs ahead of them still converge on the same scores.
func TestDecayPathIndependenceWithLateEvents(t *testing.T) {
	t.Parallel()
	e := New(model.Default())
	rapid.Check(t, func(t *rapid.T) {
		evs := genHistory(t, "c-1", true)
		end := lastTime(evs).Add(time.Duration(rapid.Int64Range(0, 400*86400).Draw(t, "tail")) * time.Second)
		a1, c1, a2, c2 := &Account{}, &Contact{ID: "c-1"}, &Account{}, &Contact{ID: "c-1"}
		var r1, r2 Result
		for i := range evs {
			if rapid.Bool().Draw(t, "decay") {
				at := evs[i].Time.Add(time.Duration(rapid.Int64Range(0, 30*86400).Draw(t, "ahead")) * time.Second)
				e.Decay(a1, c1, at, &r1)
				if at.After(end) {
					end = at // compare both at an instant the decayer has reached
				}
			}
			require.NoError(t, e.Apply(a1, c1, &evs[i], &r1))
			require.NoError(t, e.Apply(a2, c2, &evs[i], &r2))
		}
		e.Decay(a1, c1, end, &r1)
		e.Decay(a2, c2, end, &r2)
		require.Equal(t, c2.Anchor, c1.Anchor)
		require.Equal(t, c2.Behavior, c1.Behavior)
		require.Equal(t, c2.Score(), c1.Score())
		require.Equal(t, c2.Products, c1.Products)
		require.Equal(t, c2.Dormant, c1.Dormant)
		require.Equal(t, c2.Stage, c1.Stage)
	})
}

func TestDecayDailyEqualsOnce(t *testing.T) {
	t.Parallel()
	e := New(model.Default())
	rapid.Check(t, func(t *rapid.T) {
		evs := genHistory(t, "c-1", false)
		a1, c1 := &Account{}, &Contact{ID: "c-1"}
		var r Result
		for i := range evs {
			require.NoError(t, e.Apply(a1, c1, &evs[i], &r))
		}
		c2 := c1.Clone()
		start := lastTime(evs)
		days := rapid.IntRange(1, 400).Draw(t, "days")
		var daily, once Result
		for d := 1; d <= days; d++ {
			e.Decay(a1, c1, start.Add(day(float64(d))), &daily)
		}
		e.Decay(&Account{}, c2, start.Add(day(float64(days))), &once)
		require.Equal(t, c2, c1)
		require.Equal(t, once.Ledger, daily.Ledger)
		require.Equal(t, once.Crossings, daily.Crossings)
	})
}

// TestIndependentContactsCommute: interleaving the histories of contacts
// without accounts in any order gives each the same state.
func TestIndependentContactsCommute(t *testing.T) {
	t.Parallel()
	e := New(model.Default())
	rapid.Check(t, func(t *rapid.T) {
		var hist [][]event.Event
		for i := range 3 {
			hist = append(hist, genHistory(t, fmt.Sprintf("c-%d", i), true))
		}
		apply := func(order []int) *Memory {
			m := NewMemory()
			w := m.Workspace(e)
			next := make([]int, len(hist))
			for _, who := range order {
				require.NoError(t, w.Apply(&hist[who][next[who]]))
				next[who]++
			}
			m.Commit(w)
			return m
		}
		var seq []int
		for who, h := range hist {
			for range h {
				seq = append(seq, who)
			}
		}
		shuffled := rapid.Permutation(seq).Draw(t, "order")
		m1, m2 := apply(seq), apply(shuffled)
		for i := range hist {
			id := fmt.Sprintf("c-%d", i)
			require.Equal(t, m1.Contact(id), m2.Contact(id))
		}
	})
}

// TestLedgerAddsUpToTheScore: under any history (events in and out of
// order, account updates that raise and lower fit, a decayer running at
// random moments, a model change half-way), each contact's ledger points add
// up to its score.
func TestLedgerAddsUpToTheScore(t *testing.T) {
	t.Parallel()
	v1 := model.Default()
	f := v1.File
	f.Version = "next"
	f.Rules = append([]model.RuleSpec(nil), f.Rules...)
	for i := range f.Rules {
		if f.Rules[i].Cap != nil {
			cp := *f.Rules[i].Cap
			cp.Per = model.Duration(7 * 24 * time.Hour)
			f.Rules[i].Cap = &cp
		}
	}
	f.AccountFit = append([]model.FitRule{{ID: "any-employees", Field: "employees", Min: ptr(1.0), Points: 7}}, f.AccountFit...)
	floor := 25
	f.Decay = model.DecaySpec{IdleAfter: model.Duration(20 * 24 * time.Hour), Every: model.Duration(10 * 24 * time.Hour), Percent: 15, Floor: &floor}
	f.ContactFit.Titles = append([]model.TitleRule{{ID: "vp-20", Pattern: `\bvp\b`, Points: 20}}, f.ContactFit.Titles...)
	data, err := yamlMarshal(f)
	require.NoError(t, err)
	v2, err := model.Parse(data)
	require.NoError(t, err)
	accounts := []props{
		{"employees": 5000.0, "industry": "software", "country": "US"},
		{"employees": 10.0, "tier": "non_icp"},
		{"tier": "Named", "revenue": 2e8},
		{},
	}
	rapid.Check(t, func(t *rapid.T) {
		ids := []string{"c-0", "c-1", "c-2"}
		var evs []event.Event
		for _, id := range ids {
			evs = append(evs, genHistory(t, id, true)...)
		}
		for i := range rapid.IntRange(0, 6).Draw(t, "accounts") {
			at := t0.Add(time.Duration(rapid.Int64Range(0, 400*86400).Draw(t, "at")) * time.Second)
			evs = append(evs, event.Event{ID: fmt.Sprint("acc-", i), Type: "account.updated", AccountID: "acme.io", Time: at,
				Properties: accounts[rapid.IntRange(0, len(accounts)-1).Draw(t, "firmo")]})
		}
		order := rapid.Permutation(evs).Draw(t, "order")
		switchAt := rapid.IntRange(0, len(order)).Draw(t, "switch")
		mem := NewMemory()
		ledger := map[string]int32{}
		var now time.Time
		for i := range order {
			x := order[i]
			if x.ContactID != "" {
				x.AccountID = "acme.io"
			}
			e := New(v1)
			if i >= switchAt {
				e = New(v2)
			}
			w := mem.Workspace(e)
			if rapid.IntRange(0, 3).Draw(t, "decay") == 0 {
				now = now.Add(time.Duration(rapid.Int64Range(0, 60*86400).Draw(t, "ahead")) * time.Second)
				if now.Before(x.Time) {
					now = x.Time
				}
				for _, id := range ids {
					_, err := w.Decay(id, now)
					require.NoError(t, err)
				}
			}
			require.NoError(t, w.Apply(&x))
			for _, h := range w.Homes {
				for _, l := range h.Ledger {
					ledger[l.ContactID] += l.Points
				}
			}
			mem.Commit(w)
			for _, h := range mem.Homes {
				h.Ledger = nil
			}
		}
		for _, id := range ids {
			if c := mem.Contact(id); c != nil {
				require.Equal(t, c.Score(), ledger[id], "contact %s: %+v", id, c)
			}
		}
	})
}

func ptr[T any](v T) *T { return &v }

// TestEngagementKeptEqualsAggregate: however members' behaviors change, one
// at a time or by leaving, the engagement Engine.engagement keeps equals an
// aggregate over every member, for each aggregation a model can choose
// (top_n beyond 16 takes the slow path).
func TestEngagementKeptEqualsAggregate(t *testing.T) {
	engines := map[string]*Engine{}
	for _, acct := range []string{"engagement: sum", "engagement: max", "engagement: top_n\n  top_n: 3", "engagement: top_n\n  top_n: 1",
		"engagement: top_n\n  top_n: 20"} {
		yaml := strings.Replace(string(model.DefaultYAML()), "engagement: top_n\n  top_n: 3", acct, 1)
		m, err := model.Parse([]byte(yaml))
		require.NoError(t, err)
		engines[acct] = New(m)
	}
	require.Equal(t, "sum", engines["engagement: sum"].m.Engagement)
	require.Equal(t, 20, engines["engagement: top_n\n  top_n: 20"].m.TopN)
	names := slices.Sorted(maps.Keys(engines))
	rapid.Check(t, func(t *rapid.T) {
		e := engines[rapid.SampledFrom(names).Draw(t, "aggregation")]
		a := &Account{ID: "acme.io", Members: map[string]int32{}}
		a.Engagement = e.aggregate(a)
		for range rapid.IntRange(1, 80).Draw(t, "steps") {
			id := "c" + strconv.Itoa(rapid.IntRange(0, 7).Draw(t, "member"))
			if rapid.IntRange(0, 9).Draw(t, "leaves") == 0 {
				delete(a.Members, id)
				a.Engagement = e.aggregate(a)
				continue
			}
			b := int32(rapid.IntRange(-20, 60).Draw(t, "behavior"))
			old, had := a.Members[id]
			a.Members[id] = b
			a.Engagement = e.engagement(a, old, had, b)
			if want := e.aggregate(&Account{ID: a.ID, Members: a.Members}); a.Engagement != want {
				t.Fatalf("%s: engagement %d, aggregate %d, members %v", e.m.Engagement, a.Engagement, want, a.Members)
			}
		}
	})
}
