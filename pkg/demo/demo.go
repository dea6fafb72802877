package demo

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/leadscore/leads/pkg/event"
)

var (
	companies = []struct {
		name, domain, industry, country string
		employees, revenue              float64
		tier                            string
		tech                            []string
	}{
		{"Acme Analytics", "acme.io", "software", "US", 5200, 8.1e8, "named", []string{"aws", "snowflake"}},
		{"Globex", "globex.com", "fintech", "GB", 1400, 2.2e8, "target", []string{"gcp", "kafka"}},
		{"Initech", "initech.com", "financial services", "US", 650, 9e7, "target", []string{"azure"}},
		{"Umbrella Health", "umbrella-health.com", "healthcare", "DE", 12000, 3.4e9, "named", []string{"aws"}},
		{"Hooli", "hooli.xyz", "software", "US", 30000, 9.9e9, "named", []string{"gcp", "kafka"}},
		{"Vandelay Imports", "vandelay.com", "retail", "US", 120, 1.5e7, "non_icp", nil},
		{"Stark Logistics", "stark-logistics.it", "logistics", "IT", 800, 1.2e8, "target", []string{"aws"}},
		{"Pied Piper", "piedpiper.com", "saas", "US", 45, 4e6, "target", []string{"aws", "kafka"}},
		{"Soylent Foods", "soylent.es", "food", "ES", 2500, 6e8, "target", nil},
		{"Rival Score", "rivalscore.io", "software", "US", 300, 3e7, "non_icp", []string{"aws"}},
		{"Cyberdyne", "cyberdyne.fr", "manufacturing", "FR", 9000, 2e9, "target", []string{"azure"}},
		{"Wonka Media", "wonka.nl", "media", "NL", 210, 2.5e7, "non_icp", nil},
	}
	titles = []string{
		"Chief Marketing Officer", "VP of Sales", "VP Engineering", "Head of Growth", "Director of IT",
		"Marketing Manager", "Product Manager", "Data Engineer", "Software Engineer", "Analyst",
		"Student", "Sales Development Representative", "CTO", "Operations Manager",
	}
	first = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Margaret", "Linus", "Frances", "Dennis", "Radia", "Tim"}
	last  = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Hamilton", "Torvalds", "Allen", "Ritchie", "Perlman", "Berners-Lee"}
	pages = []string{"/blog/lead-scoring-101", "/blog/decay-explained", "/pricing", "/products/analytics", "/products/platform",
		"/careers", "/docs/quickstart", "/customers"}
	assets = []string{"whitepaper", "ebook", "case_study", "analyst_report", "infographic"}
	forms  = []string{"demo-request", "newsletter", "contact-sales", "trial"}
)

// Generator produces a deterministic stream of events for a seed.
type Generator struct {
	// Outcomes adds what sales made of the leads: opportunities, won and
	// lost deals and sales feedback, more often the hotter a contact is,
	// so effectiveness reports show a real signal.
	Outcomes bool

	rnd      *rand.Rand
	contacts []persona
	at       time.Time
	seq      int
	prefix   string
	accounts int
}

type persona struct {
	id, account string
	heat        float64 // how engaged: 0 cold .. 1 hot
	introduced  bool
	engaged     int
	opportunity bool
	closed      bool
}

// New returns a generator of contacts spread over accounts, with events
// starting at start. Up to 12 contacts there is one account per demo
// company; beyond, every 20 contacts get an account of their own, modelled
// on a demo company (acme.io, acme-2.io, …), as in a real B2B database.
// Ids are prefixed so runs never collide.
func New(seed uint64, contacts int, start time.Time, prefix string) *Generator {
	g := &Generator{rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), at: start, prefix: prefix}
	g.accounts = max(len(companies), contacts/20)
	for i := range contacts {
		heat := g.rnd.Float64()
		heat = heat * heat * heat // most contacts are lukewarm, a few hot
		g.contacts = append(g.contacts, persona{id: fmt.Sprintf("%sc-%d", prefix, i), account: g.accountID(i % g.accounts), heat: heat})
	}
	return g
}

func (g *Generator) accountID(n int) string {
	co := companies[n%len(companies)]
	if n < len(companies) {
		return g.prefix + co.domain
	}
	name, tld, _ := strings.Cut(co.domain, ".")
	return fmt.Sprintf("%s%s-%d.%s", g.prefix, name, n/len(companies)+1, tld)
}

// Accounts returns an account.updated event for every account.
func (g *Generator) Accounts() []event.Event {
	out := make([]event.Event, 0, g.accounts)
	for n := range g.accounts {
		co := companies[n%len(companies)]
		tech := make([]any, 0, len(co.tech))
		for _, t := range co.tech {
			tech = append(tech, t)
		}
		out = append(out, event.Event{
			ID: g.id(), Type: "account.updated", AccountID: g.accountID(n), Time: g.at, Source: "crm",
			Properties: map[string]any{"name": co.name, "employees": co.employees, "revenue": co.revenue,
				"industry": co.industry, "country": co.country, "tier": co.tier, "technologies": tech,
				"competitor": co.domain == "rivalscore.io"},
		})
	}
	return out
}

func (g *Generator) id() string {
	g.seq++
	return fmt.Sprintf("%sevt-%d", g.prefix, g.seq)
}

// Next returns n more events, advancing time by step between events.
func (g *Generator) Next(n int, step time.Duration) []event.Event {
	out := make([]event.Event, 0, n)
	for len(out) < n {
		p := &g.contacts[g.rnd.IntN(len(g.contacts))]
		g.at = g.at.Add(step)
		if !p.introduced {
			p.introduced = true
			out = append(out, g.profile(p))
			continue
		}
		if g.rnd.Float64() > 0.15+p.heat {
			continue // cold contacts rarely do anything
		}
		if g.Outcomes {
			if e, ok := g.outcome(p); ok {
				out = append(out, e)
				continue
			}
		}
		p.engaged++
		out = append(out, g.engagement(p))
	}
	return out
}

func (g *Generator) profile(p *persona) event.Event {
	props := map[string]any{
		"first_name": first[g.rnd.IntN(len(first))], "last_name": last[g.rnd.IntN(len(last))],
		"title": titles[g.rnd.IntN(len(titles))], "company": p.account,
	}
	if g.rnd.Float64() < 0.85 {
		props["email"] = fmt.Sprintf("%s@%s", p.id, p.account)
	}
	if g.rnd.Float64() < 0.5 {
		props["phone"] = fmt.Sprintf("+1 555 %04d", g.rnd.IntN(10000))
	}
	return event.Event{ID: g.id(), Type: "contact.updated", ContactID: p.id, AccountID: p.account, Time: g.at, Source: "crm", Properties: props}
}

func (g *Generator) engagement(p *persona) event.Event {
	e := event.Event{ID: g.id(), ContactID: p.id, AccountID: p.account, Time: g.at}
	hot := g.rnd.Float64() < p.heat
	switch r := g.rnd.IntN(10); {
	case r < 3:
		e.Type, e.Source = "email.opened", "email"
	case r < 4:
		e.Type, e.Source = "email.clicked", "email"
	case r < 6:
		e.Type, e.Source = "web.page_viewed", "web"
		page := pages[g.rnd.IntN(len(pages))]
		if hot {
			page = "/pricing"
		}
		e.Properties = map[string]any{"url": "https://leads.example" + page}
	case r < 7:
		e.Type, e.Source = "content.downloaded", "web"
		e.Properties = map[string]any{"asset_type": assets[g.rnd.IntN(len(assets))]}
	case r < 8:
		e.Type, e.Source = "video.watched", "video"
		e.Properties = map[string]any{"percent": float64(g.rnd.IntN(101))}
	case r < 9:
		if hot {
			e.Type, e.Source = "webinar.attended", "zoom"
		} else {
			e.Type, e.Source = "webinar.registered", "zoom"
		}
		e.Properties = map[string]any{"webinar_id": fmt.Sprintf("w-%d", g.rnd.IntN(5))}
	default:
		e.Type, e.Source = "form.submitted", "web"
		form := forms[g.rnd.IntN(len(forms))]
		if hot && g.rnd.Float64() < 0.3 {
			e.Type, e.Source = "meeting.booked", "calendar"
		}
		e.Properties = map[string]any{"form": form}
	}
	return e
}

// outcome decides whether sales acts on an engaged contact now: an
// opportunity for some of the hot ones, later a deal won (mostly the
// hottest) or lost, and feedback on the lead.
func (g *Generator) outcome(p *persona) (event.Event, bool) {
	e := event.Event{ID: g.id(), ContactID: p.id, AccountID: p.account, Time: g.at, Source: "crm"}
	switch {
	case !p.opportunity && p.engaged >= 6 && g.rnd.Float64() < p.heat*p.heat*0.3:
		p.opportunity = true
		e.Type = "opportunity.created"
	case p.opportunity && !p.closed && g.rnd.Float64() < 0.1:
		p.closed = true
		e.Type = "deal.lost"
		if g.rnd.Float64() < p.heat {
			e.Type = "deal.won"
		}
	case p.engaged >= 4 && g.rnd.Float64() < 0.02:
		e.Type = "sales.feedback"
		rating := "bad"
		if g.rnd.Float64() < p.heat+0.2 {
			rating = "good"
		}
		e.Properties = map[string]any{"rating": rating, "reason": map[string]string{"good": "ready to buy", "bad": "no budget"}[rating]}
	default:
		g.seq-- // the id was not used
		return event.Event{}, false
	}
	return e, true
}

// SetTime moves the generator's clock, for live traffic stamped with now.
func (g *Generator) SetTime(t time.Time) { g.at = t }
