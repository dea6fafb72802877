package scoring

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
)

// Crossing types, as published on the transitions topic.
const (
	BecameMQL      = "lead.became_mql"
	LeftMQL        = "lead.left_mql"
	BecameAQL      = "lead.became_aql"
	LeftAQL        = "lead.left_aql"
	StageChanged   = "lead.stage_changed"
	WentDormant    = "lead.went_dormant"
	Reactivated    = "lead.reactivated"
	BecameMQA      = "account.became_mqa"
	LeftMQA        = "account.left_mqa"
	NurtureChanged = "lead.nurture_changed"
	maxDecaySteps  = 240
)

// CrossingTypes lists every crossing type.
var CrossingTypes = []string{BecameMQL, LeftMQL, BecameAQL, LeftAQL, StageChanged, WentDormant, Reactivated, BecameMQA,
	LeftMQA, NurtureChanged}

// Outcome event types: recorded with the contact's status at that moment,
// for effectiveness reports; they score only where the model has rules.
const (
	OpportunityCreated = "opportunity.created"
	DealWon            = "deal.won"
	DealLost           = "deal.lost"
	SalesFeedback      = "sales.feedback"
)

// Ledger entry kinds.
const (
	KindBehavior = "behavior"
	KindFit      = "fit"
	KindDecay    = "decay"
	// KindOutcome records an outcome event with the status at that moment
	// (Grade, Stage, MQL, AQL, Model); it changes no score.
	KindOutcome = "outcome"
)

// Entry is one line of a contact's ledger: why its score changed.
type Entry struct {
	ContactID string `json:"-"`
	Time      int64  `json:"time"`
	Cause     string `json:"cause"`
	Kind      string `json:"kind"`
	Rule      string `json:"rule"`
	Points    int32  `json:"points"`
	Product   string `json:"product,omitempty"`
	Reason    string `json:"reason"`
	Score     int32  `json:"score"`
	Behavior  int32  `json:"behavior"`
	Fit       int32  `json:"fit"`
	// The status at an outcome (KindOutcome only).
	Grade string `json:"grade,omitempty"`
	Stage string `json:"stage,omitempty"`
	MQL   bool   `json:"mql,omitempty"`
	AQL   bool   `json:"aql,omitempty"`
	Model string `json:"model_version,omitempty"`
}

// Crossing is a threshold crossing of a contact or an account, with the state
// right after it. Its ID is a pure function of subject, type and cause.
type Crossing struct {
	Type         string `json:"type"`
	ContactID    string `json:"contact_id,omitempty"`
	AccountID    string `json:"account_id,omitempty"`
	Cause        string `json:"cause"`
	Time         int64  `json:"time"`
	Score        int32  `json:"score"`
	Behavior     int32  `json:"behavior"`
	Fit          int32  `json:"fit"`
	AccountScore int32  `json:"account_score"`
	Grade        string `json:"grade,omitempty"`
	Stage        string `json:"stage,omitempty"`
	From         string `json:"from,omitempty"`
	ModelVersion string `json:"model_version"`
	Nurture      string `json:"nurture,omitempty"`
}

// Subject is the contact for lead crossings and the account for account ones.
func (x *Crossing) Subject() string {
	if strings.HasPrefix(x.Type, "account.") {
		return x.AccountID
	}
	return x.ContactID
}

// ID is deterministic: the same history yields the same ids, so consumers
// and republishing after a crash dedupe on it.
func (x *Crossing) ID() string {
	h := sha256.New()
	h.Write([]byte(x.Subject()))
	h.Write([]byte{0})
	h.Write([]byte(x.Type))
	h.Write([]byte{0})
	h.Write([]byte(x.Cause))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Result collects what one or more engine calls produced. Reset it to reuse
// its buffers.
type Result struct {
	Ledger    []Entry
	Crossings []Crossing
	// Refresh lists accounts whose fit or competitor status changed, so
	// each of their other member contacts needs Refresh. A change of
	// engagement alone needs none: no member's status depends on it.
	Refresh []string
}

// Reset empties the result and keeps its buffers.
func (r *Result) Reset() {
	r.Ledger, r.Crossings, r.Refresh = r.Ledger[:0], r.Crossings[:0], r.Refresh[:0]
}

func (r *Result) refresh(accountID string) {
	if !slices.Contains(r.Refresh, accountID) {
		r.Refresh = append(r.Refresh, accountID)
	}
}

// ErrMismatch is returned when an event is applied to the wrong state.
var ErrMismatch = errors.New("event does not belong to this state")

// Engine applies a model. It is immutable and safe for concurrent use.
type Engine struct{ m *model.Model }

// New returns an engine for the model.
func New(m *model.Model) *Engine { return &Engine{m: m} }

// Model returns the engine's model.
func (e *Engine) Model() *model.Model { return e.m }

// readTypes are the event types the engine reads whatever the model's
// rules: profiles, firmographics, merges and outcomes.
var readTypes = map[string]bool{"contact.updated": true, "account.updated": true, event.ContactMerged: true,
	OpportunityCreated: true, DealWon: true, DealLost: true, SalesFeedback: true}

// Knows reports whether the event type means something to the engine: a
// rule of the model scores it, or the engine reads it. The set is fixed by
// the model, whatever clients send, so metrics can label by it.
func (e *Engine) Knows(typ string) bool { return readTypes[typ] || len(e.m.ByEvent[typ]) > 0 }

// Apply applies a contact event to contact c, which is (or now joins)
// account a; a has an empty ID when the contact belongs to no account. A
// contact that moves account must first Leave its old one. Decay due before
// the event's time is applied first. c and a are changed in place.
func (e *Engine) Apply(a *Account, c *Contact, ev *event.Event, out *Result) error {
	if ev.IsAccountEvent() {
		return e.ApplyAccount(a, ev, out)
	}
	if ev.ContactID != c.ID {
		return fmt.Errorf("%w: event %s is for contact %q, state is %q", ErrMismatch, ev.ID, ev.ContactID, c.ID)
	}
	t := ev.Time.Unix()
	if c.AccountID != a.ID {
		c.AccountID = a.ID
	}
	e.remodelAccount(a, out)
	e.remodel(c, ev.ID, t, out)
	e.decayTo(a, c, t, out)
	if t > c.DecayedTo {
		c.DecayedTo = t
	}
	c.Events++
	c.Model = e.m.Version
	start := len(out.Ledger)
	if ev.Type == "contact.updated" {
		e.updateProfile(c, ev, t, out)
	}
	wasDormant := c.Dormant
	if engaged := e.behavior(c, ev, t, out); engaged && t > c.LastEngaged {
		c.LastEngaged = t
	}
	c.Dormant = e.isDormant(c)
	e.settle(a, c, ev.ID, t, out)
	if wasDormant && !c.Dormant {
		out.Crossings = append(out.Crossings, e.crossing(a, c, Reactivated, ev.ID, t))
	}
	e.nurture(a, c, ev.ID, t, out)
	opp, won, lost := c.OppAt, c.Won, c.Lost
	e.outcome(c, ev, t, out)
	if a.IsAccount() {
		if opp == 0 && c.OppAt != 0 {
			a.Opportunities++
			if a.FirstOppAt == 0 {
				a.FirstOppAt, a.MQAAtFirstOpp = c.OppAt, a.MQA
			}
		}
		a.Won += b2i(c.Won && !won)
		a.Lost += b2i(c.Lost && !lost)
	}
	stamp(c, out, start)
	return nil
}

// outcome records an outcome event on the contact and in its ledger, with
// the status the contact has at that moment.
func (e *Engine) outcome(c *Contact, ev *event.Event, t int64, out *Result) {
	reason := ""
	switch ev.Type {
	case OpportunityCreated:
		reason = "opportunity created"
		if c.OppAt == 0 {
			c.OppAt, c.OppRules = t, slices.Clone(c.Rules)
		}
	case DealWon, DealLost:
		reason = strings.ReplaceAll(ev.Type, ".", " ")
		if c.OppAt == 0 {
			c.OppAt, c.OppRules = t, slices.Clone(c.Rules) // a deal implies its opportunity
		}
		c.Won, c.Lost = c.Won || ev.Type == DealWon, c.Lost || ev.Type == DealLost
	case SalesFeedback:
		switch ev.String("rating") {
		case "good":
			c.Good++
		case "bad":
			c.Bad++
		default:
			return
		}
		reason = "sales feedback: " + ev.String("rating")
		if r := ev.String("reason"); r != "" {
			reason += " (" + r + ")"
		}
	default:
		return
	}
	out.Ledger = append(out.Ledger, Entry{ContactID: c.ID, Time: t, Cause: ev.ID, Kind: KindOutcome, Rule: ev.Type,
		Reason: reason, Grade: c.Grade, Stage: c.Stage.String(), MQL: c.MQL, AQL: c.AQL, Model: e.m.Version})
}

// nurture re-derives the contact's nurture category; a change from an
// earlier category is a crossing.
func (e *Engine) nurture(a *Account, c *Contact, cause string, t int64, out *Result) {
	industry := ""
	if a.IsAccount() {
		industry = a.Industry
	}
	cat := e.m.NurtureOf(c.Title, industry, c.Dormant)
	if cat == c.Nurture {
		return
	}
	from := c.Nurture
	c.Nurture = cat
	if from != "" {
		x := e.crossing(a, c, NurtureChanged, cause, t)
		x.From = from
		out.Crossings = append(out.Crossings, x)
	}
}

// stamp records c's state after the change on its ledger lines from index
// from on.
func stamp(c *Contact, out *Result, from int) {
	for i := from; i < len(out.Ledger); i++ {
		if l := &out.Ledger[i]; l.ContactID == c.ID {
			l.Score, l.Behavior, l.Fit = c.Score(), c.Behavior, c.Fit
		}
	}
}

// Leave takes contact c out of account old (it is moving to another). The
// old account's engagement and MQA status are settled with the event as cause.
func (e *Engine) Leave(old *Account, c *Contact, cause string, at time.Time, out *Result) {
	if !old.IsAccount() {
		return
	}
	delete(old.Members, c.ID)
	e.settleAccount(old, cause, at.Unix(), out)
}

// MayRefreshMembers reports whether applying ev may change its account's
// fit or competitor status, so that every member needs Refresh: a caller
// that preloads homes loads such an account's whole. (A model change does
// too, once per account: see remodelAccount.)
func MayRefreshMembers(ev *event.Event) bool { return ev.Type == "account.updated" }

// ApplyAccount applies an account event (account.updated and other
// account.* types) to a. When the account's fit or competitor status changes,
// out.Refresh names it: every member then needs Refresh.
func (e *Engine) ApplyAccount(a *Account, ev *event.Event, out *Result) error {
	if !a.IsAccount() || ev.AccountID != a.ID {
		return fmt.Errorf("%w: event %s is for account %q, state is %q", ErrMismatch, ev.ID, ev.AccountID, a.ID)
	}
	a.Events++
	a.Model = e.m.Version
	wasComp := a.isCompetitor(e.m)
	if ev.Type == "account.updated" {
		updateFirmographics(a, ev)
	}
	if fit := e.accountFit(a); fit != a.Fit || a.isCompetitor(e.m) != wasComp {
		a.Fit = fit
		out.refresh(a.ID)
	}
	e.settleAccount(a, ev.ID, ev.Time.Unix(), out)
	return nil
}

// Refresh re-derives a member contact's fit and statuses after its account
// changed (named in Result.Refresh), with the account change's cause.
func (e *Engine) Refresh(a *Account, c *Contact, cause string, at time.Time, out *Result) {
	start := len(out.Ledger)
	e.remodel(c, cause, at.Unix(), out)
	e.settle(a, c, cause, at.Unix(), out)
	e.nurture(a, c, cause, at.Unix(), out)
	stamp(c, out, start)
}

// remodel re-derives what a contact caches when it was last scored under
// another model version: title points and gate, and behavior under the new
// decay settings. Each change of score gets a ledger line, with the given
// cause, or "model:<version>" when there is none (a decay pass).
func (e *Engine) remodel(c *Contact, cause string, t int64, out *Result) {
	if c.Model == e.m.Version {
		return
	}
	c.Model = e.m.Version
	c.Rules = nil // indexes of another model's rules
	if cause == "" {
		cause = "model:" + e.m.Version
	}
	start := len(out.Ledger)
	if c.Title != "" {
		c.TargetTitle = e.m.IsTargetTitle(c.Title)
		pts, rule := e.m.TitlePoints(c.Title)
		e.setTitleFit(c, int32(pts), rule, cause, t, out)
	}
	before := c.Behavior
	e.refreshBehavior(c)
	if c.Behavior != before {
		out.Ledger = append(out.Ledger, Entry{ContactID: c.ID, Time: t, Cause: cause, Kind: KindDecay, Rule: "decay",
			Points: c.Behavior - before, Reason: "decay recounted under model " + e.m.Version})
	}
	stamp(c, out, start)
}

// setTitleFit changes the title points, keeping Fit = title points + account
// fit, with a ledger line when the points change.
func (e *Engine) setTitleFit(c *Contact, pts int32, rule, cause string, t int64, out *Result) {
	if pts != c.TitleFit {
		reason := "title no longer scores"
		if rule != "" {
			reason = "title " + strconv.Quote(c.Title)
		}
		out.Ledger = append(out.Ledger, Entry{ContactID: c.ID, Time: t, Cause: cause, Kind: KindFit, Rule: ruleOr(rule, c.TitleRule),
			Points: pts - c.TitleFit, Reason: reason})
		c.Fit += pts - c.TitleFit
	}
	c.TitleFit, c.TitleRule = pts, rule
}

// remodelAccount recomputes an account's fit when it was last scored under
// another model version; its members then need Refresh.
func (e *Engine) remodelAccount(a *Account, out *Result) {
	if !a.IsAccount() || a.Model == e.m.Version {
		return
	}
	a.Model = e.m.Version
	if fit := e.accountFit(a); fit != a.Fit {
		a.Fit = fit
		out.refresh(a.ID)
	}
}

// Decay lowers c's behavior for the idle time up to now and marks it dormant
// when due. It is path-independent: decaying in many small steps or once
// gives the same state, and a second call at the same instant does nothing.
func (e *Engine) Decay(a *Account, c *Contact, now time.Time, out *Result) {
	t := now.Unix()
	e.remodelAccount(a, out)
	e.remodel(c, "", t, out)
	e.decayTo(a, c, t, out)
	if t > c.DecayedTo {
		c.DecayedTo = t
	}
}

// NextDue is when c next has a decay step or goes dormant, in Unix seconds;
// 0 when nothing is due ever (until its next event).
func (e *Engine) NextDue(c *Contact) int64 {
	var next int64
	d := e.m.Decay
	if d.Enabled() && c.DecayFrom > 0 && (c.Behavior > e.lower() || slices.ContainsFunc(c.Products, func(p Product) bool { return p.Score > 0 })) {
		k := e.steps(c.DecayFrom, c.DecayedTo)
		next = c.DecayFrom + secs(d.IdleAfter) + k*secs(d.Every)
	}
	if !c.Dormant && c.LastEngaged > 0 && e.m.DormantAfter > 0 {
		if at := c.LastEngaged + secs(e.m.DormantAfter); next == 0 || at < next {
			next = at
		}
	}
	return next
}

func secs(d time.Duration) int64 { return int64(d / time.Second) }

// steps is how many decay steps are due between from (last scored behavior)
// and to.
func (e *Engine) steps(from, to int64) int64 {
	d := e.m.Decay
	if !d.Enabled() || from == 0 {
		return 0
	}
	idle := to - from - secs(d.IdleAfter)
	if idle < 0 {
		return 0
	}
	return 1 + idle/secs(d.Every)
}

// lower is the least behavior decay may leave: the floor, never below zero.
// It does not depend on fit, so a change of fit never moves behavior.
func (e *Engine) lower() int32 {
	return int32(max(e.m.Decay.Floor, 0))
}

// decayed is anchor after k steps, never below lower and never raised.
func (e *Engine) decayed(anchor int32, k int64, lower int32) int32 {
	if k <= 0 || anchor <= lower {
		return anchor
	}
	d := e.m.Decay
	var v float64
	if d.Points > 0 {
		v = float64(anchor) - float64(k)*float64(d.Points)
	} else {
		v = math.Round(float64(anchor) * math.Pow(1-d.Percent/100, float64(k)))
	}
	return int32(max(v, float64(lower)))
}

// refreshBehavior recomputes behavior and product scores from their anchors.
func (e *Engine) refreshBehavior(c *Contact) {
	k := e.steps(c.DecayFrom, c.DecayedTo)
	c.Behavior = e.decayed(c.Anchor, k, e.lower())
	for i := range c.Products {
		c.Products[i].Score = e.decayed(c.Products[i].Anchor, k, 0)
	}
}

func decayCause(c *Contact, k int64) string {
	return "decay:" + c.ID + ":" + strconv.FormatInt(c.DecayFrom, 10) + ":" + strconv.FormatInt(k, 10)
}

// decayTo applies the decay steps and dormancy due up to now, one step at a
// time so that each crossing is attributed to the step that caused it.
func (e *Engine) decayTo(a *Account, c *Contact, now int64, out *Result) {
	if now <= c.DecayedTo {
		return
	}
	d := e.m.Decay
	dormantAt := int64(0)
	if !c.Dormant && c.LastEngaged > 0 && e.m.DormantAfter > 0 {
		dormantAt = c.LastEngaged + secs(e.m.DormantAfter)
	}
	kFrom, kTo := e.steps(c.DecayFrom, c.DecayedTo), e.steps(c.DecayFrom, now)
	for k := kFrom + 1; k <= kTo; k++ {
		if k-kFrom > maxDecaySteps {
			k = kTo // a very long idle stretch: collapse the rest into one step
		}
		at := c.DecayFrom + secs(d.IdleAfter) + (k-1)*secs(d.Every)
		if dormantAt != 0 && dormantAt < at {
			e.goDormant(a, c, dormantAt, out)
			dormantAt = 0
		}
		before := c.Behavior
		c.DecayedTo = at
		e.refreshBehavior(c)
		if c.Behavior != before {
			cause := decayCause(c, k)
			i := len(out.Ledger)
			out.Ledger = append(out.Ledger, Entry{ContactID: c.ID, Time: at, Cause: cause, Kind: KindDecay, Rule: "decay",
				Points: c.Behavior - before, Reason: "idle " + model.FormatDuration(time.Duration(at-c.DecayFrom)*time.Second)})
			e.settle(a, c, cause, at, out)
			stamp(c, out, i)
		}
		// Dormancy due at the step's own instant comes after the step, so
		// its crossing carries the decayed score.
		if dormantAt != 0 && dormantAt <= at {
			e.goDormant(a, c, dormantAt, out)
			dormantAt = 0
		}
	}
	if dormantAt != 0 && dormantAt <= now {
		e.goDormant(a, c, dormantAt, out)
	}
	c.DecayedTo = now
	e.refreshBehavior(c)
}

func (e *Engine) goDormant(a *Account, c *Contact, at int64, out *Result) {
	c.Dormant = true
	cause := "dormant:" + c.ID + ":" + strconv.FormatInt(c.LastEngaged, 10)
	out.Crossings = append(out.Crossings, e.crossing(a, c, WentDormant, cause, at))
	e.nurture(a, c, cause, at, out)
}

func (e *Engine) isDormant(c *Contact) bool {
	return e.m.DormantAfter > 0 && c.LastEngaged > 0 && c.DecayedTo-c.LastEngaged >= secs(e.m.DormantAfter)
}

var profileFields = []string{"first_name", "last_name", "email", "phone", "company", "title"}

func (e *Engine) updateProfile(c *Contact, ev *event.Event, t int64, out *Result) {
	for _, name := range profileFields {
		v, ok := ev.Properties[name]
		if !ok {
			continue
		}
		s, _ := v.(string)
		s = strings.TrimSpace(s)
		bit := model.FieldBits[name]
		if s == "" {
			c.Fields &^= bit
		} else {
			c.Fields |= bit
		}
		switch name {
		case "title":
			c.Title = s
			c.TargetTitle = e.m.IsTargetTitle(s)
		case "email":
			c.Competitor = e.m.IsCompetitorDomain(s)
		}
	}
	pts, rule := e.m.TitlePoints(c.Title)
	e.setTitleFit(c, int32(pts), rule, ev.ID, t, out)
}

func ruleOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// behavior applies the behavior rules matching the event and reports whether
// any gave positive points (engagement).
func (e *Engine) behavior(c *Contact, ev *event.Event, t int64, out *Result) bool {
	engaged := false
	for _, ri := range e.m.ByEvent[ev.Type] {
		r := &e.m.Rules[ri]
		if !matches(r, ev) {
			continue
		}
		pts, ok := points(r, ev)
		if !ok {
			continue
		}
		reason := r.Reason
		if reason == "" {
			reason = ev.Type
		}
		if r.Cap != nil && !c.capAllows(r, t) {
			out.Ledger = append(out.Ledger, Entry{ContactID: c.ID, Time: t, Cause: ev.ID, Kind: KindBehavior, Rule: r.ID,
				Product: r.Product, Reason: reason + " (over cap: 0)"})
			continue
		}
		before := c.Behavior
		e.addPoints(c, t, pts, r.Product)
		c.trigger(ri)
		out.Ledger = append(out.Ledger, Entry{ContactID: c.ID, Time: t, Cause: ev.ID, Kind: KindBehavior, Rule: r.ID,
			Points: pts, Product: r.Product, Reason: reason})
		if diff := c.Behavior - before - pts; diff != 0 {
			// A late event: the decay already counted after its time is
			// recounted from the new anchor (or the floor holds).
			out.Ledger = append(out.Ledger, Entry{ContactID: c.ID, Time: t, Cause: ev.ID, Kind: KindDecay, Rule: "decay",
				Points: diff, Reason: "decay recounted for an event dated " + time.Unix(t, 0).UTC().Format(time.RFC3339)})
		}
		engaged = engaged || pts > 0
	}
	return engaged
}

func matches(r *model.Rule, ev *event.Event) bool {
	for i := range r.Match {
		pm := &r.Match[i]
		v, ok := ev.Properties[pm.Property].(string)
		if !ok || !pm.Matches(v) {
			return false
		}
	}
	return true
}

func points(r *model.Rule, ev *event.Event) (int32, bool) {
	switch {
	case r.PointsBy != nil:
		v, ok := ev.Number(r.PointsBy.Property)
		if !ok {
			return 0, false
		}
		best, found := 0, false
		for _, st := range r.PointsBy.Steps {
			if v >= st.Min {
				best, found = st.Points, true
			}
		}
		return int32(best), found
	case r.PointsFrom != "":
		v, ok := ev.Number(r.PointsFrom)
		if !ok {
			return 0, false
		}
		return int32(max(min(math.Round(v), 1000), -1000)), true
	}
	return int32(r.Points), true
}

// capAllows counts a match of a capped rule and says whether it scores.
// A late event from a period older than the one counted scores nothing: that
// period's count is no longer known. A count is kept under the rule id and
// the window length ("email-open@86400"), so a model that changes the window
// starts a new count instead of comparing period numbers of two lengths. (A
// count stored under the bare rule id is taken as being of the current
// window.)
func (c *Contact) capAllows(r *model.Rule, t int64) bool {
	period := t / secs(r.Cap.Per)
	key := r.Cap.Key
	i := slices.IndexFunc(c.Caps, func(cc CapCount) bool {
		return cc.Rule == key || cc.Rule == r.ID || strings.HasPrefix(cc.Rule, r.ID+"@")
	})
	switch {
	case i < 0:
		c.Caps = append(c.Caps, CapCount{Rule: key, Period: period})
		i = len(c.Caps) - 1
	case c.Caps[i].Rule != key && c.Caps[i].Rule != r.ID:
		c.Caps[i] = CapCount{Rule: key, Period: period}
	}
	cc := &c.Caps[i]
	cc.Rule = key
	switch {
	case period < cc.Period:
		return false
	case period > cc.Period:
		cc.Period, cc.Count = period, 0
	}
	cc.Count++
	n := int(cc.Count)
	return n >= r.Cap.From && n < r.Cap.From+r.Cap.Max
}

// addPoints adds behavior points scored at time t. Positive points are
// engagement: at or after the anchor time they re-anchor decay at t, which
// restarts the idle clock. Negative points are not: they are added to the
// score decayed to t, and the anchor moves by whole steps only, so the next
// step comes when it was due. Zero points change nothing. A late event (before
// the anchor time) adds to the anchor, so time is never rewound. None of this
// depends on whether a decayer ran in between.
func (e *Engine) addPoints(c *Contact, t int64, pts int32, product string) {
	switch {
	case pts == 0:
		return
	case pts > 0 && t >= c.DecayFrom:
		e.decayAnchors(c, e.steps(c.DecayFrom, t))
		c.DecayFrom = t
	case pts < 0 && t >= c.DecayFrom:
		if k := e.steps(c.DecayFrom, t); k > 0 {
			e.decayAnchors(c, k)
			// The steps left count from here; when steps come less often
			// than idle_after, this may be before the step's phase, never
			// after t.
			c.DecayFrom = min(c.DecayFrom+k*secs(e.m.Decay.Every), t)
		}
	}
	c.Anchor += pts
	if product != "" {
		i, found := slices.BinarySearchFunc(c.Products, product, func(p Product, name string) int { return strings.Compare(p.Name, name) })
		if !found {
			c.Products = slices.Insert(c.Products, i, Product{Name: product})
		}
		c.Products[i].Anchor += pts
	}
	e.refreshBehavior(c)
}

// decayAnchors moves the anchors k steps on.
func (e *Engine) decayAnchors(c *Contact, k int64) {
	c.Anchor = e.decayed(c.Anchor, k, e.lower())
	for i := range c.Products {
		c.Products[i].Anchor = e.decayed(c.Products[i].Anchor, k, 0)
	}
}

// settle re-derives fit, the account aggregate and the statuses after a
// change with the given cause, and records the crossings.
func (e *Engine) settle(a *Account, c *Contact, cause string, t int64, out *Result) {
	fit := c.TitleFit
	if a.IsAccount() {
		fit += a.Fit
	}
	if fit != c.Fit {
		reason := "no account"
		if a.IsAccount() {
			reason = "account " + strconv.Quote(a.ID) + " fit " + strconv.Itoa(int(a.Fit))
		}
		out.Ledger = append(out.Ledger, Entry{ContactID: c.ID, Time: t, Cause: cause, Kind: KindFit, Rule: "account",
			Points: fit - c.Fit, Reason: reason})
		c.Fit = fit
	}
	if a.IsAccount() {
		if a.Members == nil {
			a.Members = map[string]int32{}
		}
		// A competitor's own behavior is not the account's interest.
		b := c.Behavior
		if c.Competitor {
			b = 0
		}
		old, had := a.Members[c.ID]
		a.Members[c.ID] = b
		e.settleAccountWith(a, e.engagement(a, old, had, b), cause, t, out)
	}
	m := e.m
	comp := c.Competitor || a.isCompetitor(m)
	score := c.Score()
	c.Grade = string(m.Grade(int(c.Fit), comp))
	if stage := m.StageOf(int(c.Behavior)); stage != c.Stage {
		from := c.Stage
		c.Stage = stage
		x := e.crossing(a, c, StageChanged, cause, t)
		x.From = from.String()
		out.Crossings = append(out.Crossings, x)
	}
	mql := !comp && (score >= int32(m.MQL.Enter) || (c.MQL && score >= int32(m.MQL.Leave)))
	if mql != c.MQL {
		c.MQL = mql
		if mql && c.MQLAt == 0 {
			c.MQLAt = t
		}
		out.Crossings = append(out.Crossings, e.crossing(a, c, pick(mql, BecameMQL, LeftMQL), cause, t))
	}
	aql := !comp && e.isTarget(c) && c.Behavior >= int32(m.AQL.Behavior) && e.accountGate(a)
	if aql != c.AQL {
		c.AQL = aql
		if aql && c.AQLAt == 0 {
			c.AQLAt = t
		}
		out.Crossings = append(out.Crossings, e.crossing(a, c, pick(aql, BecameAQL, LeftAQL), cause, t))
	}
}

// Gates reports AQL's three gates for c in a, in order: target contact,
// behavior, account.
func (e *Engine) Gates(a *Account, c *Contact) (target, behavior, account bool) {
	return e.isTarget(c), c.Behavior >= int32(e.m.AQL.Behavior), e.accountGate(a)
}

// accountGate is AQL's third gate: the account's firmographic fit, which
// marketing cannot move. Its engagement, its members' behavior, is MQA's
// measure and does not open this gate: a contact's own clicks must not
// qualify the account that qualifies him. So only a change of the account's
// fit, which refreshes every member anyway, can move a member across it.
func (e *Engine) accountGate(a *Account) bool {
	return a.IsAccount() && a.Fit >= int32(e.m.AQL.Account)
}

func (e *Engine) isTarget(c *Contact) bool {
	if !c.TargetTitle {
		return false
	}
	for _, bits := range e.m.TargetRequired {
		if c.Fields&bits == 0 {
			return false
		}
	}
	return true
}

func pick(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

func (e *Engine) settleAccount(a *Account, cause string, t int64, out *Result) {
	if a.IsAccount() {
		e.settleAccountWith(a, e.aggregate(a), cause, t, out)
	}
}

// engagement is the account's engagement after one member's behavior went
// from old (had: the member counted before) to b, which is already in
// a.Members. While the aggregate this model last computed over all members
// is known, a change that cannot move it costs nothing, and a sum is
// updated by the difference; otherwise every member is read again. The
// result is the same as aggregate's.
func (e *Engine) engagement(a *Account, old int32, had bool, b int32) int32 {
	if a.agg.m != e.m {
		return e.aggregate(a)
	}
	if !had {
		old = math.MinInt32
	}
	switch e.m.Engagement {
	case "top_n", "max":
		switch {
		case old < a.agg.floor && b <= a.agg.floor:
			// Below the least that counts before and after: nothing moves.
			return a.Engagement
		case old > a.agg.floor && b >= a.agg.floor:
			// One of those that count moved and still counts: the least
			// that counts stays.
			return a.Engagement + b - old
		case e.m.Engagement == "max" && b >= a.agg.floor:
			a.agg.floor = b
			return b
		}
		return e.aggregate(a)
	}
	if !had {
		old = 0
	}
	return a.Engagement - max(old, 0) + max(b, 0)
}

func (e *Engine) settleAccountWith(a *Account, engagement int32, cause string, t int64, out *Result) {
	m := e.m
	a.Engagement = engagement
	total := a.Score()
	a.Total = total
	mqa := !a.isCompetitor(m) && (total >= int32(m.MQA.Enter) || (a.MQA && total >= int32(m.MQA.Leave)))
	if mqa != a.MQA {
		a.MQA = mqa
		out.Crossings = append(out.Crossings, Crossing{Type: pick(mqa, BecameMQA, LeftMQA), AccountID: a.ID, Cause: cause, Time: t,
			Score: total, Fit: a.Fit, AccountScore: total, ModelVersion: m.Version})
	}
}

// aggregate is the account's engagement from its members' behavior; negative
// behavior counts as zero.
func (e *Engine) aggregate(a *Account) int32 {
	a.agg = aggregated{m: e.m}
	switch e.m.Engagement {
	case "max":
		var best int32
		for _, b := range a.Members {
			best = max(best, b)
		}
		a.agg.floor = best
		return best
	case "top_n":
		var top [16]int32
		n := min(e.m.TopN, len(top))
		if e.m.TopN > len(top) {
			a.agg = aggregated{} // not remembered: the slow path stays exact
			return e.topNSlow(a)
		}
		for _, b := range a.Members {
			if b <= top[n-1] {
				continue
			}
			i := n - 1
			for i > 0 && top[i-1] < b {
				top[i] = top[i-1]
				i--
			}
			top[i] = b
		}
		var sum int32
		for _, b := range top[:n] {
			sum += b
		}
		a.agg.floor = top[n-1]
		return sum
	}
	var sum int32
	for _, b := range a.Members {
		sum += max(b, 0)
	}
	return sum
}

func (e *Engine) topNSlow(a *Account) int32 {
	all := make([]int32, 0, len(a.Members))
	for _, b := range a.Members {
		all = append(all, max(b, 0))
	}
	slices.Sort(all)
	var sum int32
	for i := len(all) - 1; i >= 0 && i >= len(all)-e.m.TopN; i-- {
		sum += all[i]
	}
	return sum
}

func (e *Engine) crossing(a *Account, c *Contact, typ, cause string, t int64) Crossing {
	x := Crossing{Type: typ, ContactID: c.ID, AccountID: a.ID, Cause: cause, Time: t, Score: c.Score(), Behavior: c.Behavior,
		Fit: c.Fit, Grade: c.Grade, Stage: c.Stage.String(), ModelVersion: e.m.Version, Nurture: c.Nurture}
	if a.IsAccount() {
		x.AccountScore = a.Score()
	}
	return x
}

func (e *Engine) accountFit(a *Account) int32 {
	var fit int32
	for i := range e.m.AccountFit {
		if r := &e.m.AccountFit[i]; a.Matches(r) {
			fit += int32(r.Points)
		}
	}
	return fit
}

// Matches reports whether the account's firmographics match one
// account-fit rule (its fit is the sum of the points of those that do).
func (a *Account) Matches(r *model.AccountRule) bool {
	switch r.Field {
	case "employees":
		return a.Employees > 0 && a.Employees >= r.Min && a.Employees <= r.Max
	case "revenue":
		return a.Revenue > 0 && a.Revenue >= r.Min && a.Revenue <= r.Max
	case "industry":
		return r.In[strings.ToLower(a.Industry)]
	case "country":
		return r.In[strings.ToLower(a.Country)]
	case "tier":
		return r.In[strings.ToLower(strings.TrimSpace(a.Tier))]
	case "technologies":
		return slices.ContainsFunc(a.Technologies, func(t string) bool { return r.In[strings.ToLower(t)] })
	}
	return false
}

func updateFirmographics(a *Account, ev *event.Event) {
	if ev.Has("name") {
		a.Name = ev.String("name")
	}
	if v, ok := ev.Number("employees"); ok || ev.Has("employees") {
		a.Employees = v
	}
	if v, ok := ev.Number("revenue"); ok || ev.Has("revenue") {
		a.Revenue = v
	}
	if ev.Has("industry") {
		a.Industry = ev.String("industry")
	}
	if ev.Has("country") {
		a.Country = ev.String("country")
	}
	if ev.Has("technologies") {
		a.Technologies = ev.Strings("technologies")
	}
	if ev.Has("tier") {
		a.Tier = ev.String("tier")
	}
	if ev.Has("competitor") {
		a.Competitor = ev.Bool("competitor")
	}
}

func b2i(b bool) int32 {
	if b {
		return 1
	}
	return 0
}
