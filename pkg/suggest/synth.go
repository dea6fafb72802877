package suggest

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/leadscore/leads/pkg/event"
)

// Synthetic describes a made-up history whose effects on the chance of an
// opportunity are known, so that a suggestion can be checked against the
// truth. Each contact has a hidden intent that makes it do more of
// everything, but only its actions and who it is move its odds, by the
// log-odds in Effects (per event of each kind, or once for an attribute):
// webinar attendance triples the odds of an opportunity, careers-page
// visits halve them, blog reads do nothing although they follow intent,
// and webinar registrations only correlate (attendees registered first).
//
// Every effect is defined on what the default model's rules score, so
// that each is the weight of one rule and a fit can recover it: an event
// over its rule's cap moves nothing (email opens and blog reads beyond
// three a UTC day, clicks beyond five), pricing moves the odds once per
// fixed 30-day window in which the contact viewed the page twice or more
// (the repeat that pricing-repeat scores, not each view), a video moves
// them by its share of a full watch as the video rule's steps give it
// (none under 25%), and the industry and country effects belong to the
// lists of the industry and country rules (software and healthcare; US,
// DE and FR), not to one value of them. An effect per pricing view, or on
// software alone, would be unrecoverable: no rule sees a single view or
// tells software from healthcare, so no weight can carry that effect,
// and what the rules miss leaks into every rule that follows intent.
type Synthetic struct {
	Contacts int
	Accounts int
	// Start is the first arrival; contacts arrive evenly over Weeks and
	// are active for up to 60 days.
	Start time.Time
	Weeks int
	Seed  uint64
	// Base is the log-odds of an opportunity for a contact that did
	// nothing and has no attribute with an effect.
	Base float64
	// Effects maps an effect name (see DefaultEffects) to its log-odds.
	Effects map[string]float64
	// Activity scales every contact's number of events (1 when 0).
	Activity float64
}

// DefaultEffects are the hidden truth of NewSynthetic: per event that the
// default model's rule scores, for behavior; once for an attribute.
func DefaultEffects() map[string]float64 {
	return map[string]float64{
		"webinar.attended":   math.Log(3),
		"blog":               0,
		"careers":            math.Log(0.5),
		"webinar.registered": 0,
		"pricing":            0.25,
		"form.demo":          1.0,
		"meeting.booked":     1.2,
		"email.clicked":      0.15,
		"email.opened":       0.02,
		"whitepaper":         0.3,
		"video":              0,
		"title.vp":           0.4,
		"title.manager":      0.2,
		"employees.1000":     0.5,
		"industry.listed":    0.3,
		"tier.named":         0.4,
		"tier.non_icp":       -0.7,
		"country.listed":     0,
	}
}

// NewSynthetic returns a history of n contacts (10 events each, on
// average) with the default effects and about one opportunity in ten
// contacts.
func NewSynthetic(n int, seed uint64) *Synthetic {
	return &Synthetic{Contacts: n, Accounts: max(n/20, 1), Start: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC),
		Weeks: 26, Seed: seed, Base: -3.6, Effects: DefaultEffects()}
}

// TrainUntil is the start of the last third of the arrivals: a natural
// --train-until.
func (s *Synthetic) TrainUntil() time.Time {
	return s.Start.Add(time.Duration(s.Weeks) * 7 * 24 * time.Hour * 2 / 3)
}

var (
	synthTitles     = []string{"VP Marketing", "Head of Growth", "Director of IT", "Product Manager", "Engineer", "Analyst", "Intern"}
	synthIndustries = []string{"software", "retail", "healthcare", "manufacturing", "education"}
	synthCountries  = []string{"US", "DE", "BR", "IN", "FR"}
	synthTiers      = []string{"named", "target", "non_icp", ""}
)

type synthAccount struct {
	id, industry, country, tier string
	employees                   float64
}

func (s *Synthetic) account(i int) synthAccount {
	r := rand.New(rand.NewPCG(s.Seed, uint64(i)+1<<40))
	return synthAccount{id: "acct-" + strconv.Itoa(i) + ".example", industry: synthIndustries[r.IntN(len(synthIndustries))],
		country: synthCountries[r.IntN(len(synthCountries))], tier: synthTiers[r.IntN(len(synthTiers))],
		employees: math.Round(math.Exp(2 + r.Float64()*7))}
}

// Source yields the history: every account, then each contact's events in
// time order, contact after contact (in order of arrival). The same
// Synthetic yields the same events each time, generating them as it goes.
func (s *Synthetic) Source() Source {
	return func(ctx context.Context, fn func(*event.Event) error) error {
		for i := range s.Accounts {
			a := s.account(i)
			ev := &event.Event{ID: "a-" + strconv.Itoa(i), Type: "account.updated", AccountID: a.id, Time: s.Start.Add(-time.Hour),
				Properties: map[string]any{"employees": a.employees, "industry": a.industry, "country": a.country, "tier": a.tier}}
			if err := fn(ev); err != nil {
				return err
			}
		}
		span := time.Duration(s.Weeks) * 7 * 24 * time.Hour
		var evs []event.Event
		var hits []synthHit
		for i := range s.Contacts {
			if i%1024 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			arrive := s.Start.Add(time.Duration(float64(span) * float64(i) / float64(s.Contacts)))
			evs, hits = s.contact(i, arrive, evs[:0], hits[:0], nil)
			for k := range evs {
				if err := fn(&evs[k]); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

// contact generates one contact's events, appending them to evs (and the
// events that may move its odds to hits, scratch space the caller may
// reuse). When tally is not nil, it counts there how many times each
// effect moved the contact's log-odds.
func (s *Synthetic) contact(i int, arrive time.Time, evs []event.Event, hits []synthHit,
	tally map[string]float64) ([]event.Event, []synthHit) {
	r := rand.New(rand.NewPCG(s.Seed, uint64(i)))
	logit := s.Base
	// apply moves the log-odds by share times the effect.
	apply := func(effect string, share float64) {
		if tally != nil {
			tally[effect] += share
		}
		logit += share * s.Effects[effect]
	}
	activity := s.Activity
	if activity == 0 {
		activity = 1
	}
	intent := r.NormFloat64()
	a := s.account(r.IntN(s.Accounts))
	cid := "c-" + strconv.Itoa(i)
	title := synthTitles[r.IntN(len(synthTitles))]
	n := 0
	add := func(typ string, at time.Time, props map[string]any) {
		n++
		evs = append(evs, event.Event{ID: cid + "-" + strconv.Itoa(n), Type: typ, ContactID: cid, AccountID: a.id,
			Time: at, Properties: props})
	}
	add("contact.updated", arrive, map[string]any{"first_name": "Ada", "last_name": "L" + strconv.Itoa(i),
		"email": cid + "@" + a.id, "title": title, "company": a.id})
	switch title {
	case "VP Marketing", "Head of Growth":
		apply("title.vp", 1)
	case "Product Manager":
		apply("title.manager", 1)
	}
	if a.employees > 1000 {
		apply("employees.1000", 1)
	}
	if a.industry == "software" || a.industry == "healthcare" {
		apply("industry.listed", 1)
	}
	switch a.tier {
	case "named":
		apply("tier.named", 1)
	case "non_icp":
		apply("tier.non_icp", 1)
	}
	if a.country == "US" || a.country == "DE" || a.country == "FR" {
		apply("country.listed", 1)
	}
	active := 60 * 24 * time.Hour
	when := func() time.Time { return arrive.Add(time.Minute + time.Duration(r.Float64()*float64(active))) }
	pois := func(mean float64) int { return poisson(r, mean*activity) }
	// do generates k events of a kind at random times, each of which
	// adds its effect (times share) to the log-odds unless its cap says
	// otherwise (see scored).
	do := func(k int, effect, typ string, props func() map[string]any) {
		for range k {
			var p map[string]any
			if props != nil {
				p = props()
			}
			at := when()
			add(typ, at, p)
			share := 1.0
			if effect == "video" {
				share = videoShare(p["percent"].(int))
			}
			hits = append(hits, synthHit{effect, at.UnixNano(), share})
		}
	}
	page := func(url string) func() map[string]any {
		return func() map[string]any { return map[string]any{"url": url} }
	}
	do(pois(3*math.Exp(0.3*intent)), "email.opened", "email.opened", nil)
	do(pois(math.Exp(0.4*intent)), "email.clicked", "email.clicked", nil)
	do(pois(2*math.Exp(0.5*intent)), "blog", "web.page_viewed", page("https://x.io/blog/post-"+strconv.Itoa(r.IntN(50))))
	do(pois(0.6*math.Exp(0.6*intent)), "pricing", "web.page_viewed", page("https://x.io/pricing"))
	jobSeeker := r.Float64() < 0.1
	do(pois(map[bool]float64{true: 1.5, false: 0.05}[jobSeeker]), "careers", "web.page_viewed", page("https://x.io/careers"))
	do(pois(0.3*math.Exp(0.4*intent)), "whitepaper", "content.downloaded",
		func() map[string]any { return map[string]any{"asset_type": "whitepaper"} })
	do(pois(0.5), "video", "video.watched", func() map[string]any { return map[string]any{"percent": r.IntN(101)} })
	if r.Float64() < 0.06*math.Exp(0.7*intent) {
		do(1, "form.demo", "form.submitted", func() map[string]any { return map[string]any{"form": "request a demo"} })
	}
	if r.Float64() < 0.03*math.Exp(0.8*intent) {
		do(1, "meeting.booked", "meeting.booked", nil)
	}
	// Attendees register first; others register and do not come.
	attended := min(pois(0.35*math.Exp(0.6*intent)), 3)
	for range attended {
		at := when()
		add("webinar.registered", at.Add(-24*time.Hour), nil)
		add("webinar.attended", at, nil)
		hits = append(hits, synthHit{"webinar.registered", at.Add(-24 * time.Hour).UnixNano(), 1},
			synthHit{"webinar.attended", at.UnixNano(), 1})
	}
	do(pois(0.5*math.Exp(0.6*intent)), "webinar.registered", "webinar.registered", nil)
	slices.SortStableFunc(evs[1:], func(x, y event.Event) int { return x.Time.Compare(y.Time) })
	slices.SortStableFunc(hits, func(x, y synthHit) int { return cmp.Compare(x.at, y.at) })
	for _, h := range scored(hits) {
		apply(h.effect, h.share)
	}
	if r.Float64() < 1/(1+math.Exp(-logit)) {
		last := evs[len(evs)-1].Time
		add("opportunity.created", last.Add(time.Duration((1+r.Float64()*20)*float64(24*time.Hour))), nil)
	}
	return evs, hits
}

// synthHit is one event that may move a contact's log-odds: by its
// effect times share. at is its time in Unix nanoseconds.
type synthHit struct {
	effect string
	at     int64
	share  float64
}

// synthCaps are the caps of the default model's rules, by effect: within
// each fixed window of per (counted from the Unix epoch) the matches
// numbered from to from+max-1 score.
var synthCaps = map[string]struct {
	from, max int
	per       time.Duration
}{
	"email.opened":  {1, 3, 24 * time.Hour},
	"email.clicked": {1, 5, 24 * time.Hour},
	"blog":          {1, 3, 24 * time.Hour},
	"pricing":       {2, 1, 30 * 24 * time.Hour},
}

// scored keeps the hits (in time order) that their rules' caps let score,
// in place.
func scored(hits []synthHit) []synthHit {
	// The count of each capped effect in its current window: hits come in
	// time order, so a later window starts a new count.
	type count struct {
		effect string
		window int64
		n      int
	}
	counts := make([]count, 0, 4)
	out := hits[:0]
	for _, h := range hits {
		c, ok := synthCaps[h.effect]
		if !ok {
			out = append(out, h)
			continue
		}
		w := h.at / int64(c.per)
		k := 0
		for k < len(counts) && counts[k].effect != h.effect {
			k++
		}
		if k == len(counts) {
			counts = append(counts, count{effect: h.effect})
		}
		if counts[k].window != w {
			counts[k].window, counts[k].n = w, 0
		}
		counts[k].n++
		if n := counts[k].n; n >= c.from && n < c.from+c.max {
			out = append(out, h)
		}
	}
	return out
}

// videoShare is the share of a full watch that the default model's video
// steps give a watch of pct percent (15 points for 95% and more).
func videoShare(pct int) float64 {
	switch {
	case pct >= 95:
		return 1
	case pct >= 75:
		return 10.0 / 15
	case pct >= 50:
		return 6.0 / 15
	case pct >= 25:
		return 3.0 / 15
	}
	return 0
}

// poisson draws from Poisson(mean) by counting arrivals (means here are
// small).
func poisson(r *rand.Rand, mean float64) int {
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// String names the history for logs and test output.
func (s *Synthetic) String() string {
	return fmt.Sprintf("synthetic history: %d contacts, %d accounts, %d weeks from %s, seed %d", s.Contacts, s.Accounts,
		s.Weeks, s.Start.Format(time.DateOnly), s.Seed)
}
