package scoring

import (
	"slices"

	"github.com/leadscore/leads/pkg/model"
)

// Contact is one person's scoring state. Times are Unix seconds. Behavior is
// always a pure function of (Anchor, DecayFrom, DecayedTo) under a model,
// which is what makes decay path-independent; fit has no part in it.
type Contact struct {
	ID        string `json:"id"`
	AccountID string `json:"a,omitempty"`
	Title     string `json:"t,omitempty"`
	// Fields holds model.Field* bits for the profile fields present.
	Fields     uint8 `json:"pf,omitempty"`
	Competitor bool  `json:"cx,omitempty"`
	// TargetTitle caches AQL's title gate for Title under Model.
	TargetTitle bool   `json:"tt,omitempty"`
	TitleRule   string `json:"tr,omitempty"`
	TitleFit    int32  `json:"tf,omitempty"`
	Fit         int32  `json:"f,omitempty"`
	// Anchor is the behavior score at DecayFrom, the time decay counts from
	// (the last engagement, moved on by whole steps by negative points);
	// Behavior is Anchor decayed to DecayedTo.
	Anchor      int32       `json:"an,omitempty"`
	Behavior    int32       `json:"b,omitempty"`
	Products    []Product   `json:"p,omitempty"`
	DecayFrom   int64       `json:"df,omitempty"`
	DecayedTo   int64       `json:"dt,omitempty"`
	LastEngaged int64       `json:"le,omitempty"`
	Caps        []CapCount  `json:"c,omitempty"`
	Grade       string      `json:"g,omitempty"`
	Stage       model.Stage `json:"s,omitempty"`
	MQL         bool        `json:"q,omitempty"`
	AQL         bool        `json:"aq,omitempty"`
	Dormant     bool        `json:"d,omitempty"`
	Events      int32       `json:"n,omitempty"`
	Model       string      `json:"m,omitempty"`
	// MovedFrom is the home this contact moved out of, until the old home
	// is known to be rid of it (see Workspace.Apply).
	MovedFrom string `json:"mf,omitempty"`

	// Outcomes, for effectiveness reports: when the contact first became
	// MQL and AQL, when its first opportunity was created, whether a deal
	// was won or lost, and the sales feedback received.
	MQLAt int64 `json:"qa,omitempty"`
	AQLAt int64 `json:"aa,omitempty"`
	OppAt int64 `json:"oa,omitempty"`
	Won   bool  `json:"w,omitempty"`
	Lost  bool  `json:"l,omitempty"`
	Good  int32 `json:"fg,omitempty"`
	Bad   int32 `json:"fb,omitempty"`
	// Rules has bit i set when rule i of Model has scored for the contact;
	// OppRules is Rules when the first opportunity came (for rule lift).
	Rules    []byte `json:"rb,omitempty"`
	OppRules []byte `json:"ob,omitempty"`
	// Nurture is the contact's nurture category.
	Nurture string `json:"nu,omitempty"`

	// MergedInto is set on a contact merged into another (Engine.Merge):
	// it has no score of its own any more, and its later events count
	// for that contact. Merged lists the contacts merged into this one,
	// in order, whose ledgers belong to its history.
	MergedInto string   `json:"mi,omitempty"`
	Merged     []string `json:"mg,omitempty"`
}

// Triggered reports whether rule index i of the contact's model has scored.
func (c *Contact) Triggered(i int) bool { return i/8 < len(c.Rules) && c.Rules[i/8]&(1<<(i%8)) != 0 }

func (c *Contact) trigger(i int) {
	for len(c.Rules) <= i/8 {
		c.Rules = append(c.Rules, 0)
	}
	c.Rules[i/8] |= 1 << (i % 8)
}

// Score is the total: fit plus behavior.
func (c *Contact) Score() int32 { return c.Fit + c.Behavior }

// Product is a per-product interest score with its own decay anchor.
type Product struct {
	Name   string `json:"n"`
	Anchor int32  `json:"a"`
	Score  int32  `json:"s"`
}

// CapCount counts a capped rule's matches in its current period. Rule is
// "<rule id>@<window seconds>".
type CapCount struct {
	Rule   string `json:"r"`
	Period int64  `json:"p"`
	Count  int32  `json:"n"`
}

// Account is one company's scoring state: its firmographics, its fit, and the
// behavior of each member contact, from which its engagement is aggregated.
type Account struct {
	ID           string           `json:"id"`
	Name         string           `json:"nm,omitempty"`
	Employees    float64          `json:"em,omitempty"`
	Revenue      float64          `json:"rv,omitempty"`
	Industry     string           `json:"in,omitempty"`
	Country      string           `json:"co,omitempty"`
	Technologies []string         `json:"te,omitempty"`
	Tier         string           `json:"ti,omitempty"`
	Competitor   bool             `json:"cx,omitempty"`
	Fit          int32            `json:"f,omitempty"`
	Engagement   int32            `json:"e,omitempty"`
	Total        int32            `json:"s,omitempty"`
	MQA          bool             `json:"q,omitempty"`
	Members      map[string]int32 `json:"mb,omitempty"`
	Events       int32            `json:"n,omitempty"`
	Model        string           `json:"m,omitempty"`
	// Outcomes of the account's contacts: the first opportunity's time and
	// whether the account was MQA then, and the count of contacts with an
	// opportunity, a deal won and a deal lost.
	FirstOppAt    int64 `json:"oa,omitempty"`
	MQAAtFirstOpp bool  `json:"oq,omitempty"`
	Opportunities int32 `json:"on,omitempty"`
	Won           int32 `json:"w,omitempty"`
	Lost          int32 `json:"l,omitempty"`
	// agg is what Engagement was last aggregated from, in memory only.
	agg aggregated
}

// aggregated remembers, for the model that last aggregated an account's
// engagement over all its members, the least behavior that counted: the
// nth best for top_n, the best for max (0 when no member counted). With it,
// most changes of one member's behavior update the engagement without
// reading every member (Engine.engagement).
type aggregated struct {
	m     *model.Model
	floor int32
}

// Score is the account score: fit plus aggregated engagement.
func (a *Account) Score() int32 { return a.Fit + a.Engagement }

// IsAccount reports whether this is a real account rather than the empty
// stand-in for a contact that belongs to none.
func (a *Account) IsAccount() bool { return a != nil && a.ID != "" }

func (a *Account) isCompetitor(m *model.Model) bool {
	return a.IsAccount() && (a.Competitor || m.IsCompetitorDomain(a.ID))
}

// Clone returns a deep copy, so callers can keep a state from before a change.
func (c *Contact) Clone() *Contact {
	cp := *c
	cp.Products = slices.Clone(c.Products)
	cp.Caps = slices.Clone(c.Caps)
	cp.Rules = slices.Clone(c.Rules)
	cp.OppRules = slices.Clone(c.OppRules)
	cp.Merged = slices.Clone(c.Merged)
	return &cp
}

// Clone returns a deep copy.
func (a *Account) Clone() *Account {
	cp := *a
	cp.Technologies = slices.Clone(a.Technologies)
	if a.Members != nil {
		cp.Members = make(map[string]int32, len(a.Members))
		for k, v := range a.Members {
			cp.Members[k] = v
		}
	}
	return &cp
}

func sortedContactIDs(m map[string]*Contact) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
