package scoring

import (
	"slices"
	"strings"
	"time"

	"github.com/leadscore/leads/pkg/event"
)

// KindMerge is the kind of the ledger line of a merge: what a contact
// gained from the contact merged into it.
const KindMerge = "merge"

// MergeReason is the reason of a merge's ledger line: the contact merged
// is the merge event's (its cause's) contact.
const MergeReason = "merged the behavior of another contact"

// Merge absorbs contact from (an anonymous visitor, or a duplicate) into
// contact c at the merge event's time. Both are decayed to that time
// first. Their behavior then joins on one decay clock, that of the contact
// engaged last: the other's anchors are decayed to it and added, and so
// are its product interests, events, rules scored and outcomes; c keeps
// its own profile unless it has none, and its own cap counts (adding
// from's would make c's next events score or not depending on whether
// they were applied before or after the merge). from leaves its
// account and is left a tombstone (MergedInto): no score, statuses left
// (with their crossings), and its later events count for c (see
// Workspace.Apply). c's statuses are settled with the merge as cause, and
// its ledger gets one line of the points it gained. a and fromAccount are
// the contacts' accounts (empty for none); they may be the same.
func (e *Engine) Merge(a *Account, c *Contact, fromAccount *Account, from *Contact, ev *event.Event, out *Result) {
	t := ev.Time.Unix()
	e.remodelAccount(a, out)
	e.remodelAccount(fromAccount, out)
	e.remodel(c, ev.ID, t, out)
	e.remodel(from, ev.ID, t, out)
	e.decayTo(fromAccount, from, t, out)
	e.decayTo(a, c, t, out)
	c.DecayedTo = max(c.DecayedTo, t)
	c.AccountID = a.ID
	c.Model = e.m.Version
	start := len(out.Ledger)
	before, wasDormant := c.Behavior, c.Dormant
	e.absorb(c, from, ev.ID, t, out)
	c.Dormant = e.isDormant(c)
	out.Ledger = append(out.Ledger, Entry{ContactID: c.ID, Time: t, Cause: ev.ID, Kind: KindMerge, Rule: KindMerge,
		Points: c.Behavior - before, Reason: MergeReason})
	e.settle(a, c, ev.ID, t, out)
	if wasDormant && !c.Dormant {
		out.Crossings = append(out.Crossings, e.crossing(a, c, Reactivated, ev.ID, t))
	}
	e.nurture(a, c, ev.ID, t, out)
	stamp(c, out, start)
	for _, id := range append(from.Merged, from.ID) {
		if !slices.Contains(c.Merged, id) {
			c.Merged = append(c.Merged, id)
		}
	}
	e.Retire(fromAccount, from, c.ID, ev.ID, t, out)
}

// Retire leaves contact c a tombstone of its merge into contact into: it
// leaves its account, and its MQL and AQL statuses with their crossings.
// Merge does it after absorbing c; on its own it finishes a merge whose
// absorbing side was committed and whose retiring side was not.
func (e *Engine) Retire(a *Account, c *Contact, into, cause string, t int64, out *Result) {
	e.Leave(a, c, cause, time.Unix(t, 0), out)
	if c.MQL {
		out.Crossings = append(out.Crossings, e.crossing(a, c, LeftMQL, cause, t))
	}
	if c.AQL {
		out.Crossings = append(out.Crossings, e.crossing(a, c, LeftAQL, cause, t))
	}
	*c = Contact{ID: c.ID, AccountID: c.AccountID, MergedInto: into, Model: e.m.Version}
}

// absorb adds from's behavior and history to c, both decayed to t.
func (e *Engine) absorb(c, from *Contact, cause string, t int64, out *Result) {
	if from.DecayFrom > 0 {
		// One decay clock: the later engagement's. The other's anchors are
		// decayed to it (Engine.steps counts from each one's own anchor).
		fromAnchor, fromProducts := from.Anchor, slices.Clone(from.Products)
		switch {
		case from.DecayFrom > c.DecayFrom:
			e.decayAnchors(c, e.steps(c.DecayFrom, from.DecayFrom))
			c.DecayFrom = from.DecayFrom
		case from.DecayFrom < c.DecayFrom:
			k := e.steps(from.DecayFrom, c.DecayFrom)
			fromAnchor = e.decayed(fromAnchor, k, e.lower())
			for i := range fromProducts {
				fromProducts[i].Anchor = e.decayed(fromProducts[i].Anchor, k, 0)
			}
		}
		c.Anchor += fromAnchor
		for _, p := range fromProducts {
			i, found := slices.BinarySearchFunc(c.Products, p.Name, func(q Product, name string) int { return strings.Compare(q.Name, name) })
			if !found {
				c.Products = slices.Insert(c.Products, i, Product{Name: p.Name})
			}
			c.Products[i].Anchor += p.Anchor
		}
		e.refreshBehavior(c)
	}
	c.LastEngaged = max(c.LastEngaged, from.LastEngaged)
	c.Events += from.Events
	for i, b := range from.Rules {
		for len(c.Rules) <= i {
			c.Rules = append(c.Rules, 0)
		}
		c.Rules[i] |= b
	}
	c.MQLAt, c.AQLAt = earliest(c.MQLAt, from.MQLAt), earliest(c.AQLAt, from.AQLAt)
	if from.OppAt != 0 && (c.OppAt == 0 || from.OppAt < c.OppAt) {
		c.OppAt, c.OppRules = from.OppAt, slices.Clone(from.OppRules)
	}
	c.Won, c.Lost = c.Won || from.Won, c.Lost || from.Lost
	c.Good, c.Bad = c.Good+from.Good, c.Bad+from.Bad
	c.Competitor = c.Competitor || from.Competitor
	c.Fields |= from.Fields
	if c.Title == "" && from.Title != "" {
		c.Title, c.TargetTitle = from.Title, from.TargetTitle
		pts, rule := e.m.TitlePoints(c.Title)
		e.setTitleFit(c, int32(pts), rule, cause, t, out)
	}
}

// earliest is the earlier of two times, 0 meaning never.
func earliest(x, y int64) int64 {
	if x == 0 || y != 0 && y < x {
		return y
	}
	return x
}

// merge applies a contact.merged event: the event's contact is merged into
// the contact its property "into" names (or the contact that one merged
// into since). A contact merges once: a merge of a contact retired before
// does nothing, and one whose absorbing side was committed and whose
// retiring side was not (a crash between the two: see Merges) only
// retires it. A contact never seen before is retired at once, so that its
// events count for the other when they come.
func (w *Workspace) merge(ev *event.Event) error {
	w.res.Reset()
	into, _ := ev.Properties[event.MergeInto].(string)
	heir, err := w.heir(into, true)
	if err != nil {
		return err
	}
	fromID := ev.ContactID
	_, fromHomeID := w.Target(ev)
	fromHome, err := w.home(fromHomeID, false)
	if err != nil {
		return err
	}
	from := fromHome.Contacts[fromID]
	if heir == fromID || from != nil && from.MergedInto != "" {
		return nil // merged before; or into itself, through others
	}
	retire := func(c *Contact) {
		fromHome.Contacts[fromID] = c
		fromHome.Changed = true
		w.Where[fromID] = fromHomeID
		w.Touched[fromID] = true
	}
	if from == nil {
		retire(&Contact{ID: fromID, MergedInto: heir, Model: w.e.m.Version})
		return nil
	}
	toHomeID, ok := w.Where[heir]
	if !ok {
		toHomeID = HomeID("", heir)
	}
	to, err := w.home(toHomeID, false)
	if err != nil {
		return err
	}
	c := to.Contacts[heir]
	if c == nil {
		c = &Contact{ID: heir}
		to.Contacts[heir] = c
		w.Where[heir] = toHomeID
	}
	if slices.Contains(c.Merged, fromID) {
		w.e.Retire(fromHome.Account, from, heir, ev.ID, ev.Time.Unix(), &w.res)
	} else {
		w.e.Merge(to.Account, c, fromHome.Account, from, ev, &w.res)
		w.Touched[heir] = true
		to.Changed = true
	}
	retire(from)
	if toHomeID != fromHomeID {
		w.Merges = append(w.Merges, Move{Contact: fromID, From: fromHomeID, To: toHomeID})
	}
	return w.finish(ev.ID, ev.Time)
}
