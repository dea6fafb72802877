package report

import (
	"strconv"
	"strings"
	"time"

	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
)

// Counts are counter deltas by model version, then counter name. Counter
// names are documented on Effectiveness; day-bucketed ones are prefixed
// with the UTC date and "|".
type Counts map[string]map[string]int64

func (c Counts) add(version, field string, n int64) {
	if n == 0 {
		return
	}
	m := c[version]
	if m == nil {
		m = map[string]int64{}
		c[version] = m
	}
	if m[field] += n; m[field] == 0 {
		delete(m, field)
	}
	if len(m) == 0 {
		delete(c, version)
	}
}

// Day is the bucket of a Unix time: its UTC date.
func Day(t int64) string { return time.Unix(t, 0).UTC().Format(time.DateOnly) }

func dayField(t int64, name string) string { return Day(t) + "|" + name }

// Diff returns the counter deltas of one home's commit: before are the
// home's contacts as loaded (nil for none), after the home as committed.
// Stocks (contacts per stage, grade, status, nurture category) move from
// the model version that scored a contact before to the one after; flows
// (first MQL, first AQL, first opportunity, deals, sales feedback) and the
// rule counts of lift are counted once, when they happen, under the
// contact's model version. m is the model of the engine that committed:
// rule indexes are its own.
func Diff(before map[string]*scoring.Contact, after *scoring.Home, m *model.Model) Counts {
	out := Counts{}
	for _, id := range after.Removed {
		if b := before[id]; b != nil {
			stock(out, b, -1)
		}
	}
	outcomes := map[string][]*scoring.Entry{}
	for i := range after.Ledger {
		if l := &after.Ledger[i]; l.Kind == scoring.KindOutcome {
			outcomes[l.ContactID] = append(outcomes[l.ContactID], l)
		}
	}
	for id, a := range after.Contacts {
		b := before[id]
		if b != nil && b.MergedInto != "" {
			b = nil // counted nowhere
		}
		if a.MergedInto != "" {
			// Merged into another: it leaves the counts, and what it
			// counted for goes with it (see scoring.Engine.Merge).
			if b != nil {
				stock(out, b, -1)
			}
			continue
		}
		// Most events leave a contact where it stood: nothing to move.
		if b == nil || !sameStock(b, a) {
			if b != nil {
				stock(out, b, -1)
			}
			stock(out, a, +1)
		}
		flows(out, b, a, outcomes[id], m)
	}
	return out
}

// stock adds or removes a contact from the stock counters of its model.
func stock(out Counts, c *scoring.Contact, n int64) {
	v := c.Model
	out.add(v, "contacts", n)
	out.add(v, "stage:"+c.Stage.String(), n)
	out.add(v, "grade:"+orNone(c.Grade), n)
	if c.MQL {
		out.add(v, "mql_now", n)
	}
	if c.AQL {
		out.add(v, "aql_now", n)
	}
	if c.Nurture != "" {
		out.add(v, "nurture:"+c.Nurture, n)
	}
}

// sameStock reports whether two states of a contact count in the same stock
// counters.
func sameStock(b, a *scoring.Contact) bool {
	return b.Model == a.Model && b.Stage == a.Stage && b.Grade == a.Grade && b.MQL == a.MQL && b.AQL == a.AQL &&
		b.Nurture == a.Nurture
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func flows(out Counts, b, a *scoring.Contact, outcomes []*scoring.Entry, m *model.Model) {
	v := a.Model
	var was scoring.Contact
	if b != nil {
		was = *b
	}
	if was.Model != v {
		out.add(v, "seen", 1)
		was.Rules = nil // bits of another model
	}
	if v == m.Version {
		for i := range m.Rules {
			if a.Triggered(i) && !was.Triggered(i) {
				out.add(v, "rule:"+m.Rules[i].ID, 1)
			}
		}
	}
	if a.MQLAt != 0 && was.MQLAt == 0 {
		out.add(v, dayField(a.MQLAt, "mql"), 1)
	}
	if a.AQLAt != 0 && was.AQLAt == 0 {
		out.add(v, dayField(a.AQLAt, "aql"), 1)
	}
	if a.OppAt != 0 && was.OppAt == 0 {
		opportunity(out, a, outcomes, m)
	}
	if a.Won && !was.Won {
		out.add(v, dayField(a.OppAt, "won"), 1)
	}
	if a.Lost && !was.Lost {
		out.add(v, dayField(a.OppAt, "lost"), 1)
	}
	for _, l := range outcomes {
		if l.Rule != scoring.SalesFeedback {
			continue
		}
		rating := "bad"
		if strings.HasPrefix(l.Reason, "sales feedback: good") {
			rating = "good"
		}
		out.add(l.Model, dayField(l.Time, "feedback:"+rating+":"+orNone(l.Grade)), 1)
	}
}

// opportunity counts a contact's first opportunity: by day, by the grade
// and stage it had then, against the MQL and AQL cohorts it came from, and
// for lift, under every rule it had triggered.
func opportunity(out Counts, a *scoring.Contact, outcomes []*scoring.Entry, m *model.Model) {
	v := a.Model
	grade, stage := a.Grade, a.Stage.String()
	for _, l := range outcomes {
		if l.Time == a.OppAt && l.Rule != scoring.SalesFeedback {
			grade, stage = l.Grade, l.Stage
			break
		}
	}
	out.add(v, dayField(a.OppAt, "opp"), 1)
	out.add(v, dayField(a.OppAt, "opp_grade:"+orNone(grade)), 1)
	out.add(v, dayField(a.OppAt, "opp_stage:"+stage), 1)
	out.add(v, "opp_contacts", 1)
	for _, from := range []struct {
		name string
		at   int64
	}{{"mql", a.MQLAt}, {"aql", a.AQLAt}} {
		if from.at == 0 || from.at > a.OppAt {
			continue
		}
		out.add(v, dayField(from.at, from.name+"_opp"), 1)
		days := (a.OppAt - from.at) / 86400
		out.add(v, dayField(from.at, from.name+"_opp_days:"+strconv.FormatInt(days, 10)), 1)
	}
	if v == m.Version {
		for i := range m.Rules {
			if i/8 < len(a.OppRules) && a.OppRules[i/8]&(1<<(i%8)) != 0 {
				out.add(v, "rule_opp:"+m.Rules[i].ID, 1)
			}
		}
	}
}
