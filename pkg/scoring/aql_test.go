package scoring

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
)

// firmographics sets every firmographic of an account: account.updated
// changes only the properties it names, so each of these is a whole
// picture of the account whatever came before.
func firmographics(employees, revenue float64, industry, country, tier string, technologies ...any) props {
	return props{"employees": employees, "revenue": revenue, "industry": industry, "country": country, "tier": tier,
		"technologies": append([]any{}, technologies...)}
}

// The default model's AQL account gate is set between these two accounts:
// the named 5,000-person US software account qualifies its target contacts,
// and a 4-employee non-ICP retail shop, even with every other firmographic
// that scores (a listed country, a cloud stack, revenue above 100M), never
// does.
var (
	namedSoftwareUS  = firmographics(5000, 0, "software", "US", "named")       // 15 + 10 + 5 + 10 = 40
	tinyRetailNonICP = firmographics(4, 0, "retail", "", "non_icp")            // -20
	tinyRetailAtBest = firmographics(4, 1e8, "retail", "US", "non_icp", "aws") // -20 + 10 + 5 + 5 = 0
)

func vpProfile(contact string) props {
	return props{"first_name": "Vic", "last_name": "Park", "email": contact + "@example.com", "company": "Example",
		"title": "VP Operations"}
}

// TestAQLAccountGateIsTheAccountsFit: the third gate is the account's
// firmographic fit, not fit plus engagement. A complete VP at a tiny non-ICP
// retail shop who does a great deal (meetings, webinars, demo requests) is
// an MQL and never an AQL; the same VP at a named 5,000-person US software
// account is an AQL as soon as his behavior passes its gate.
func TestAQLAccountGateIsTheAccountsFit(t *testing.T) {
	t.Parallel()
	lots := []string{"meeting.booked", "meeting.booked", "meeting.booked", "meeting.booked", "webinar.attended",
		"webinar.attended", "form.submitted", "tradeshow.visited"} // 4×40 + 2×25 + 30 + 15 = 255
	tests := []struct {
		name     string
		account  props
		fit      int32 // the account's fit
		gate     bool  // AQL's account gate, open or shut whatever the contact does
		doing    []string
		behavior int32
		aql      bool
	}{
		{"VP at a tiny non-ICP retail shop, very engaged", tinyRetailNonICP, -20, false, lots, 255, false},
		{"VP at a tiny non-ICP retail shop with everything else that scores, very engaged", tinyRetailAtBest, 0, false, lots, 255, false},
		{"VP at a named US software account, engaged enough", namedSoftwareUS, 40, true, []string{"webinar.attended", "webinar.attended"}, 50, true},
		{"VP at a named US software account, very engaged", namedSoftwareUS, 40, true, lots, 255, true},
		{"VP at a named US software account, not engaged enough", namedSoftwareUS, 40, true, []string{"webinar.attended"}, 25, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := New(model.Default())
			a, c := &Account{ID: "shop.example"}, &Contact{ID: "c-1"}
			var out Result
			acc := event.Event{ID: "a1", Type: "account.updated", AccountID: a.ID, Time: t0, Properties: tt.account}
			require.NoError(t, e.ApplyAccount(a, &acc, &out))
			require.Equal(t, tt.fit, a.Fit, "the account's fit")
			evs := []event.Event{ev("contact.updated", time.Minute, vpProfile("c-1"))}
			for i, typ := range tt.doing {
				x := ev(typ, time.Hour*time.Duration(i+1), props{"form": "demo-request"})
				x.ID += fmt.Sprint(i)
				evs = append(evs, x)
			}
			for i := range evs {
				require.NoError(t, e.Apply(a, c, &evs[i], &out))
				target, behavior, account := e.Gates(a, c)
				assert.Equal(t, c.AQL, target && behavior && account, "after %s: AQL is its three gates", evs[i].ID)
				assert.Equal(t, tt.gate, account, "after %s: the account gate (account fit %d, account score %d)", evs[i].ID, a.Fit, a.Score())
			}
			require.Equal(t, tt.behavior, c.Behavior)
			assert.Equal(t, tt.aql, c.AQL)
			assert.Equal(t, tt.aql, hasCrossing(out.Crossings, BecameAQL, "c-1"))
			if tt.behavior >= 100 {
				assert.True(t, c.MQL, "behavior alone qualifies an MQL: the account gate is AQL's only")
			}
		})
	}
}

// TestAQLWhateverTheContactDoes: under any history of its own (engagement,
// negative points, idle months), a complete VP at the tiny non-ICP retail
// shop is never an AQL, and the same VP at the named US software account is
// an AQL exactly while his behavior passes AQL's behavior gate.
func TestAQLWhateverTheContactDoes(t *testing.T) {
	t.Parallel()
	m := model.Default()
	e := New(m)
	doing := []struct {
		typ   string
		props props
	}{
		{"email.opened", nil}, {"email.clicked", nil}, {"webinar.attended", nil}, {"meeting.booked", nil},
		{"form.submitted", props{"form": "demo"}}, {"tradeshow.visited", nil}, {"content.downloaded", props{"asset_type": "whitepaper"}},
		{"web.page_viewed", props{"url": "https://x.io/pricing"}}, {"web.page_viewed", props{"url": "https://x.io/careers"}},
		{"email.unsubscribed", nil}, {"sales.disqualified", nil}, {"score.adjusted", props{"points": 250.0}},
	}
	rapid.Check(t, func(t *rapid.T) {
		named := rapid.Bool().Draw(t, "named")
		firmo := tinyRetailNonICP
		switch {
		case named:
			firmo = namedSoftwareUS
		case rapid.Bool().Draw(t, "at best"):
			firmo = tinyRetailAtBest
		}
		a, c := &Account{ID: "acct.example"}, &Contact{ID: "c-1"}
		var out Result
		acc := event.Event{ID: "a1", Type: "account.updated", AccountID: a.ID, Time: t0, Properties: firmo}
		require.NoError(t, e.ApplyAccount(a, &acc, &out))
		profile := ev("contact.updated", time.Minute, vpProfile("c-1"))
		require.NoError(t, e.Apply(a, c, &profile, &out))
		at := t0.Add(time.Hour)
		for i := range rapid.IntRange(1, 40).Draw(t, "n") {
			at = at.Add(time.Duration(rapid.Int64Range(60, 60*86400).Draw(t, "gap")) * time.Second)
			if rapid.IntRange(0, 3).Draw(t, "decay") == 0 {
				e.Decay(a, c, at, &out)
			} else {
				d := doing[rapid.IntRange(0, len(doing)-1).Draw(t, "what")]
				x := event.Event{ID: fmt.Sprint("e", i), Type: d.typ, ContactID: c.ID, AccountID: a.ID, Time: at, Properties: d.props}
				require.NoError(t, e.Apply(a, c, &x, &out))
			}
			if want := named && c.Behavior >= int32(m.AQL.Behavior); c.AQL != want {
				t.Fatalf("named %v, behavior %d, account fit %d, account score %d: AQL %v, want %v", named, c.Behavior, a.Fit, a.Score(), c.AQL, want)
			}
		}
	})
}

// TestOtherMembersEngagementDoesNotMoveAContactsAQL: other members' activity
// raises and lowers the account's engagement, never the AQL status of a
// contact whose own gates and account fit stay put, and it refreshes no
// member.
func TestOtherMembersEngagementDoesNotMoveAContactsAQL(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		account props
		aql     bool
	}{
		// fit 15: 5,000 employees, nothing else. Below the gate, however
		// engaged the account gets.
		{"fit below the gate", firmographics(5000, 0, "retail", "BR", "target"), false},
		{"fit at the gate", namedSoftwareUS, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := New(model.Default())
			mem := NewMemory()
			apply := func(x event.Event) {
				t.Helper()
				w := mem.Workspace(e)
				require.NoError(t, w.Apply(&x))
				mem.Commit(w)
			}
			apply(event.Event{ID: "a1", Type: "account.updated", AccountID: "acct.example", Time: t0, Properties: tt.account})
			member := func(id, typ string, at time.Duration, p props) event.Event {
				return event.Event{ID: fmt.Sprintf("%s-%s@%s", id, typ, at), Type: typ, ContactID: id, AccountID: "acct.example",
					Time: t0.Add(at), Properties: p}
			}
			apply(member("vp", "contact.updated", time.Minute, vpProfile("vp")))
			apply(member("vp", "meeting.booked", time.Hour, nil)) // behavior 40: the behavior gate passes
			vp := mem.Contact("vp").Clone()
			require.Equal(t, tt.aql, vp.AQL)

			// Two colleagues book meeting after meeting (the account score
			// climbs far past any threshold), then are disqualified by
			// sales (it falls back).
			var evs []event.Event
			for i := range 4 {
				for _, id := range []string{"c-2", "c-3"} {
					evs = append(evs, member(id, "meeting.booked", time.Duration(3+i)*time.Hour, nil))
				}
			}
			for i := range 6 {
				for _, id := range []string{"c-2", "c-3"} {
					evs = append(evs, member(id, "sales.disqualified", time.Duration(10+i)*time.Hour, nil))
				}
			}
			scores := []int32{}
			for _, x := range evs {
				h, err := mem.LoadHome("a:acct.example", true)
				require.NoError(t, err)
				c := h.Contacts[x.ContactID]
				if c == nil {
					c = &Contact{ID: x.ContactID}
				}
				var out Result
				require.NoError(t, e.Apply(h.Account, c, &x, &out), "the engine alone")
				assert.Empty(t, out.Refresh, "%s: engagement moved, the fit did not: no member needs a refresh", x.ID)
				apply(x)
				scores = append(scores, mem.Homes["a:acct.example"].Account.Score())
				assert.Equal(t, vp, mem.Contact("vp"), "%s: the VP is untouched by a colleague's event", x.ID)
			}
			require.Greater(t, slices.Max(scores), int32(200), "the account's engagement rose")
			require.Less(t, scores[len(scores)-1]-scores[0], int32(0), "and fell")
		})
	}
}

// TestAccountFitFallingBelowTheGateTakesMembersOutOfAQL: an account.updated
// that takes the account's fit below the gate refreshes every member, and
// its AQLs leave AQL however engaged they are (still MQLs); one that brings
// the fit back makes them AQLs again. Both crossings are caused by the
// account event.
func TestAccountFitFallingBelowTheGateTakesMembersOutOfAQL(t *testing.T) {
	t.Parallel()
	e := New(model.Default())
	mem := NewMemory()
	apply := func(x event.Event) *Workspace {
		t.Helper()
		w := mem.Workspace(e)
		require.NoError(t, w.Apply(&x))
		mem.Commit(w)
		return w
	}
	apply(event.Event{ID: "a1", Type: "account.updated", AccountID: "acct.example", Time: t0, Properties: namedSoftwareUS})
	vps := []string{"vp-1", "vp-2"}
	for _, id := range vps {
		apply(event.Event{ID: id + "-p", Type: "contact.updated", ContactID: id, AccountID: "acct.example", Time: t0, Properties: vpProfile(id)})
		for i := range 3 {
			apply(event.Event{ID: fmt.Sprint(id, "-m", i), Type: "meeting.booked", ContactID: id, AccountID: "acct.example",
				Time: t0.Add(time.Duration(i+1) * time.Hour)})
		}
		require.True(t, mem.Contact(id).AQL, id)
	}
	for _, step := range []struct {
		id    string
		firmo props
		fit   int32
		aql   bool
		cross string
	}{
		// 5,000 employees and nothing else: fit 15, below the gate, while
		// the account score (15 + 240) stays far above any old threshold.
		{"a2", firmographics(5000, 0, "retail", "BR", "target"), 15, false, LeftAQL},
		{"a3", namedSoftwareUS, 40, true, BecameAQL},
	} {
		w := apply(event.Event{ID: step.id, Type: "account.updated", AccountID: "acct.example", Time: t0.Add(day(1)), Properties: step.firmo})
		h := w.Homes["a:acct.example"]
		require.Equal(t, step.fit, h.Account.Fit)
		for _, id := range vps {
			c := mem.Contact(id)
			assert.Equal(t, step.aql, c.AQL, "%s after %s", id, step.id)
			assert.True(t, c.MQL, "%s after %s: still an MQL", id, step.id)
			assert.True(t, slices.ContainsFunc(h.Crossings, func(x Crossing) bool {
				return x.Type == step.cross && x.ContactID == id && x.Cause == step.id
			}), "%s: %s caused by %s in %v", id, step.cross, step.id, h.Crossings)
		}
	}
}

// TestAQLFollowsTheAccountsFitNotItsEngagement: under any history of three
// members of one account (profiles, engagement, decay passes, account
// updates that move the fit across the gate and back), after every step
// each contact is an AQL exactly when it is a target contact, its behavior
// reaches the behavior gate and its account's fit the account gate, and a
// step that changes neither the account's fit nor its competitor status
// changes no other member.
func TestAQLFollowsTheAccountsFitNotItsEngagement(t *testing.T) {
	t.Parallel()
	m := model.Default()
	e := New(m)
	accounts := []props{
		namedSoftwareUS, tinyRetailNonICP, tinyRetailAtBest,
		firmographics(5000, 0, "retail", "BR", "target"),                  // 15
		firmographics(1500, 0, "retail", "US", "target"),                  // 20
		firmographics(300, 0, "software", "US", "target", "kafka"),        // 28
		firmographics(0, 0, "", "", "named", "snowflake"),                 // 15
		firmographics(5000, 2e8, "software", "US", "named", "aws", "gcp"), // 55
	}
	doing := []struct {
		typ   string
		props props
	}{
		{"email.opened", nil}, {"webinar.attended", nil}, {"meeting.booked", nil}, {"form.submitted", props{"form": "demo"}},
		{"web.page_viewed", props{"url": "https://x.io/careers"}}, {"sales.disqualified", nil}, {"score.adjusted", props{"points": 120.0}},
		{"contact.updated", props{"title": "Intern"}}, {"contact.updated", props{"title": "Head of Data"}},
	}
	ids := []string{"c-0", "c-1", "c-2"}
	rapid.Check(t, func(t *rapid.T) {
		mem := NewMemory()
		// step runs one step about subject (a contact, or none for an account
		// event) and checks every contact after it.
		step := func(what, subject string, run func(w *Workspace) error) {
			before := map[string]*Contact{}
			for _, id := range ids {
				if c := mem.Contact(id); c != nil {
					before[id] = c.Clone()
				}
			}
			var fit int32
			comp := false
			if h := mem.Homes["a:acct.example"]; h != nil {
				fit, comp = h.Account.Fit, h.Account.isCompetitor(m)
			}
			moved := func(a *Account) bool { return a.Fit != fit || a.isCompetitor(m) != comp }
			w := mem.Workspace(e)
			require.NoError(t, run(w))
			mem.Commit(w)
			a := mem.Homes["a:acct.example"].Account
			for _, id := range ids {
				c := mem.Contact(id)
				if c == nil {
					continue
				}
				want := !c.Competitor && !a.isCompetitor(m) && e.isTarget(c) && c.Behavior >= int32(m.AQL.Behavior) && a.Fit >= int32(m.AQL.Account)
				if c.AQL != want {
					t.Fatalf("%s: %s: AQL %v, want %v (target %v, behavior %d, account fit %d, account score %d)",
						what, id, c.AQL, want, e.isTarget(c), c.Behavior, a.Fit, a.Score())
				}
				if id != subject && before[id] != nil && !moved(a) {
					require.Equal(t, before[id], c, "%s: %s is untouched", what, id)
				}
			}
		}
		// Everyone joins with a complete target profile, so the gates decide.
		for _, id := range ids {
			p := vpProfile(id)
			step(id+" joins", id, func(w *Workspace) error {
				return w.Apply(&event.Event{ID: id + "-p", Type: "contact.updated", ContactID: id, AccountID: "acct.example", Time: t0, Properties: p})
			})
		}
		at := t0
		for i := range rapid.IntRange(1, 60).Draw(t, "n") {
			at = at.Add(time.Duration(rapid.Int64Range(60, 40*86400).Draw(t, "gap")) * time.Second)
			switch k := rapid.IntRange(0, 9).Draw(t, "kind"); {
			case k == 0:
				p := accounts[rapid.IntRange(0, len(accounts)-1).Draw(t, "firmographics")]
				x := event.Event{ID: fmt.Sprint("a", i), Type: "account.updated", AccountID: "acct.example", Time: at, Properties: p}
				step(x.ID, "", func(w *Workspace) error { return w.Apply(&x) })
			case k == 1:
				id := rapid.SampledFrom(ids).Draw(t, "decayed")
				step("decay "+id, id, func(w *Workspace) error { _, err := w.Decay(id, at); return err })
			default:
				d := doing[rapid.IntRange(0, len(doing)-1).Draw(t, "what")]
				x := event.Event{ID: fmt.Sprint("e", i), Type: d.typ, ContactID: rapid.SampledFrom(ids).Draw(t, "who"),
					AccountID: "acct.example", Time: at, Properties: d.props}
				step(x.ID+" "+x.Type, x.ContactID, func(w *Workspace) error { return w.Apply(&x) })
			}
		}
	})
}
