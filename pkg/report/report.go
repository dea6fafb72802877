package report

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Rate is part of a whole.
type Rate struct {
	Count int64    `json:"count"`
	Of    int64    `json:"of"`
	Rate  *float64 `json:"rate"` // null when Of is 0
}

// NewRate is n of of.
func NewRate(n, of int64) Rate { return rate(n, of) }

func rate(n, of int64) Rate {
	r := Rate{Count: n, Of: of}
	if of > 0 {
		v := float64(n) / float64(of)
		r.Rate = &v
	}
	return r
}

func (r Rate) String() string {
	if r.Rate == nil {
		return fmt.Sprintf("%d/%d", r.Count, r.Of)
	}
	return fmt.Sprintf("%d/%d = %.1f%%", r.Count, r.Of, 100**r.Rate)
}

// Days summarizes how many whole days a conversion took.
type Days struct {
	N      int64    `json:"n"`
	Median *float64 `json:"median"`
	P90    *float64 `json:"p90"`
}

// Group is one grade or stage: contacts in it now (under this model), its
// share of them, and the opportunities in the window by the grade or stage
// contacts had when their opportunity was created.
type Group struct {
	Contacts      int64    `json:"contacts"`
	Share         *float64 `json:"share"`
	Opportunities int64    `json:"opportunities"`
	// Conversion is Opportunities per contact now in the group.
	Conversion   *float64 `json:"conversion"`
	FeedbackGood int64    `json:"feedback_good,omitempty"`
	FeedbackBad  int64    `json:"feedback_bad,omitempty"`
}

// Lift says how much more often contacts who triggered a rule reached an
// opportunity than those who did not: Lift = RateWith / RateWithout (null
// when either is unknown or RateWithout is 0).
type Lift struct {
	Rule        string   `json:"rule"`
	Triggered   int64    `json:"triggered"`
	Converted   int64    `json:"converted"`
	RateWith    *float64 `json:"rate_with"`
	RateWithout *float64 `json:"rate_without"`
	Lift        *float64 `json:"lift"`
}

// Effectiveness is the report of one model version over a window of days.
// Flows are counted in the window: MQLs and AQLs by the day contacts first
// qualified (and their conversion to an opportunity, whenever it came:
// cohorts), opportunities by the day of the first one (and won or lost
// among them). Stocks are now: contacts by grade, stage and nurture
// category under this model. Lift is over the model's whole life.
type Effectiveness struct {
	Model         string           `json:"model"`
	Since         string           `json:"since,omitempty"`
	Until         string           `json:"until,omitempty"`
	Contacts      int64            `json:"contacts"`
	Seen          int64            `json:"contacts_scored"`
	MQLs          int64            `json:"mqls"`
	AQLs          int64            `json:"aqls"`
	MQLNow        int64            `json:"mql_now"`
	AQLNow        int64            `json:"aql_now"`
	Opportunities int64            `json:"opportunities"`
	MQLToOpp      Rate             `json:"mql_to_opportunity"`
	AQLToOpp      Rate             `json:"aql_to_opportunity"`
	OppToWon      Rate             `json:"opportunity_to_won"`
	Lost          int64            `json:"lost"`
	DaysMQLToOpp  Days             `json:"days_mql_to_opportunity"`
	DaysAQLToOpp  Days             `json:"days_aql_to_opportunity"`
	ByGrade       map[string]Group `json:"by_grade"`
	ByStage       map[string]Group `json:"by_stage"`
	Nurture       map[string]int64 `json:"nurture"`
	Rules         []Lift           `json:"rules"`
}

// WindowError is a report window that cannot be: a bound that is no day
// (YYYY-MM-DD), or since later than until. Field is the bound at fault,
// "since" or "until".
type WindowError struct {
	Field, Value string
	// Until is the later bound's value when since is later than it.
	Until string
}

func (e *WindowError) Error() string { return e.describe("") }

// Flags says the same with the bounds written as the flags --since and
// --until.
func (e *WindowError) Flags() string { return e.describe("--") }

func (e *WindowError) describe(prefix string) string {
	if e.Until != "" {
		return fmt.Sprintf("%ssince %q is later than %suntil %q", prefix, e.Value, prefix, e.Until)
	}
	return fmt.Sprintf("%s%s: want a day YYYY-MM-DD, got %q", prefix, e.Field, e.Value)
}

// CheckWindow checks the bounds of a report window, days YYYY-MM-DD
// (empty: unbounded); it returns a *WindowError.
func CheckWindow(since, until string) error {
	for _, b := range []struct{ field, day string }{{"since", since}, {"until", until}} {
		if _, err := time.Parse(time.DateOnly, b.day); b.day != "" && err != nil {
			return &WindowError{Field: b.field, Value: b.day}
		}
	}
	if since != "" && until != "" && since > until {
		return &WindowError{Field: "since", Value: since, Until: until}
	}
	return nil
}

// Compute builds the report from a model version's counters (the hash the
// scorer keeps) for the days since..until, inclusive (empty: unbounded;
// dates as YYYY-MM-DD; see CheckWindow).
func Compute(version string, fields map[string]string, since, until string) (*Effectiveness, error) {
	if err := CheckWindow(since, until); err != nil {
		return nil, err
	}
	c, err := readCounters(fields, since, until)
	if err != nil {
		return nil, err
	}
	r := &Effectiveness{Model: version, Since: since, Until: until, ByGrade: map[string]Group{}, ByStage: map[string]Group{},
		Nurture: map[string]int64{}}
	r.Contacts, r.Seen, r.MQLNow, r.AQLNow = c.stock["contacts"], c.stock["seen"], c.stock["mql_now"], c.stock["aql_now"]
	r.MQLs, r.AQLs, r.Opportunities, r.Lost = c.flow["mql"], c.flow["aql"], c.flow["opp"], c.flow["lost"]
	r.MQLToOpp = rate(c.flow["mql_opp"], c.flow["mql"])
	r.AQLToOpp = rate(c.flow["aql_opp"], c.flow["aql"])
	r.OppToWon = rate(c.flow["won"], c.flow["opp"])
	r.DaysMQLToOpp, r.DaysAQLToOpp = percentiles(c.daysMQL), percentiles(c.daysAQL)
	r.countContacts(c.stock)
	r.countOpportunities(c.flow)
	r.groupRates()
	r.Rules = lifts(c.stock, r.Seen)
	return r, nil
}

// counters are a model version's counters as the report reads them: stocks
// (counts now), flows summed over the days of the window, and histograms of
// the days from MQL or from AQL to an opportunity, also over the window.
type counters struct {
	stock, flow      map[string]int64
	daysMQL, daysAQL map[int64]int64
}

// readCounters sorts the counters: a counter named day|name is a flow on
// that day, any other a stock.
func readCounters(fields map[string]string, since, until string) (counters, error) {
	c := counters{stock: map[string]int64{}, flow: map[string]int64{}, daysMQL: map[int64]int64{}, daysAQL: map[int64]int64{}}
	for k, s := range fields {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return counters{}, fmt.Errorf("counter %s: %w", k, err)
		}
		day, name, dated := strings.Cut(k, "|")
		if !dated {
			c.stock[k] = n
			continue
		}
		if since != "" && day < since || until != "" && day > until {
			continue
		}
		switch {
		case strings.HasPrefix(name, "mql_opp_days:"):
			d, _ := strconv.ParseInt(name[len("mql_opp_days:"):], 10, 64)
			c.daysMQL[d] += n
		case strings.HasPrefix(name, "aql_opp_days:"):
			d, _ := strconv.ParseInt(name[len("aql_opp_days:"):], 10, 64)
			c.daysAQL[d] += n
		default:
			c.flow[name] += n
		}
	}
	return c, nil
}

// countContacts counts the contacts now in each grade, stage and nurture
// category.
func (r *Effectiveness) countContacts(stock map[string]int64) {
	for k, n := range stock {
		switch {
		case strings.HasPrefix(k, "grade:"):
			g := r.ByGrade[k[len("grade:"):]]
			g.Contacts = n
			r.ByGrade[k[len("grade:"):]] = g
		case strings.HasPrefix(k, "stage:"):
			g := r.ByStage[k[len("stage:"):]]
			g.Contacts = n
			r.ByStage[k[len("stage:"):]] = g
		case strings.HasPrefix(k, "nurture:"):
			r.Nurture[k[len("nurture:"):]] = n
		}
	}
}

// countOpportunities counts the opportunities of the window by the grade
// and stage contacts had when theirs was created, and the sales feedback
// by grade.
func (r *Effectiveness) countOpportunities(flow map[string]int64) {
	for k, n := range flow {
		switch {
		case strings.HasPrefix(k, "opp_grade:"):
			g := r.ByGrade[k[len("opp_grade:"):]]
			g.Opportunities = n
			r.ByGrade[k[len("opp_grade:"):]] = g
		case strings.HasPrefix(k, "opp_stage:"):
			g := r.ByStage[k[len("opp_stage:"):]]
			g.Opportunities = n
			r.ByStage[k[len("opp_stage:"):]] = g
		case strings.HasPrefix(k, "feedback:"):
			rating, grade, _ := strings.Cut(k[len("feedback:"):], ":")
			g := r.ByGrade[grade]
			if rating == "good" {
				g.FeedbackGood = n
			} else {
				g.FeedbackBad = n
			}
			r.ByGrade[grade] = g
		}
	}
}

// groupRates sets each grade's and stage's share of the contacts and its
// opportunities per contact.
func (r *Effectiveness) groupRates() {
	for _, groups := range []map[string]Group{r.ByGrade, r.ByStage} {
		for k, g := range groups {
			g.Share = rate(g.Contacts, r.Contacts).Rate
			g.Conversion = rate(g.Opportunities, g.Contacts).Rate
			groups[k] = g
		}
	}
}

// lifts returns the lift of every rule, sorted by rule id; seen is how many
// contacts were scored under the model.
func lifts(stock map[string]int64, seen int64) []Lift {
	var out []Lift
	for k, n := range stock {
		id, ok := strings.CutPrefix(k, "rule:")
		if !ok {
			continue
		}
		conv := stock["rule_opp:"+id]
		l := Lift{Rule: id, Triggered: n, Converted: conv, RateWith: rate(conv, n).Rate,
			RateWithout: rate(stock["opp_contacts"]-conv, seen-n).Rate}
		if l.RateWith != nil && l.RateWithout != nil && *l.RateWithout > 0 {
			v := *l.RateWith / *l.RateWithout
			l.Lift = &v
		}
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b Lift) int { return strings.Compare(a.Rule, b.Rule) })
	return out
}

// percentiles of a histogram of whole days: the nearest-rank median and p90.
func percentiles(h map[int64]int64) Days {
	var d Days
	for _, n := range h {
		d.N += n
	}
	if d.N == 0 {
		return d
	}
	keys := slices.Sorted(maps.Keys(h))
	at := func(q float64) *float64 {
		rank := int64(math.Ceil(q * float64(d.N)))
		var seen int64
		for _, k := range keys {
			if seen += h[k]; seen >= rank {
				v := float64(k)
				return &v
			}
		}
		return nil
	}
	d.Median, d.P90 = at(0.5), at(0.9)
	return d
}

// Write prints the report for people.
func (r *Effectiveness) Write(w io.Writer) error {
	window := "all time"
	if r.Since != "" || r.Until != "" {
		window = orDots(r.Since) + " to " + orDots(r.Until)
	}
	fmt.Fprintf(w, "model %s, %s\n\n", r.Model, window)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "contacts now\t%d\t(scored under this model: %d)\n", r.Contacts, r.Seen)
	fmt.Fprintf(tw, "MQLs\t%d\t(now MQL: %d)\n", r.MQLs, r.MQLNow)
	fmt.Fprintf(tw, "AQLs\t%d\t(now AQL: %d)\n", r.AQLs, r.AQLNow)
	fmt.Fprintf(tw, "opportunities\t%d\t\n", r.Opportunities)
	fmt.Fprintf(tw, "MQL → opportunity\t%s\tdays: %s\n", r.MQLToOpp, days(r.DaysMQLToOpp))
	fmt.Fprintf(tw, "AQL → opportunity\t%s\tdays: %s\n", r.AQLToOpp, days(r.DaysAQLToOpp))
	fmt.Fprintf(tw, "opportunity → won\t%s\t(lost: %d)\n", r.OppToWon, r.Lost)
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, part := range []struct {
		name   string
		groups map[string]Group
	}{{"grade", r.ByGrade}, {"stage", r.ByStage}} {
		fmt.Fprintf(w, "\nby %s\n", part.name)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "%s\tcontacts\tshare\topportunities\tper contact\tfeedback good\tbad\t\n", part.name)
		for _, k := range slices.Sorted(maps.Keys(part.groups)) {
			g := part.groups[k]
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%d\t%d\t\n", k, g.Contacts, pct(g.Share), g.Opportunities, pct(g.Conversion), g.FeedbackGood, g.FeedbackBad)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\nrule lift (contacts who triggered the rule reached an opportunity this many times as often as the others)\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "rule\ttriggered\tconverted\twith\twithout\tlift\t\n")
	for _, l := range r.Rules {
		lift := "-"
		if l.Lift != nil {
			lift = strconv.FormatFloat(*l.Lift, 'f', 2, 64)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t\n", l.Rule, l.Triggered, l.Converted, pct(l.RateWith), pct(l.RateWithout), lift)
	}
	return tw.Flush()
}

func orDots(s string) string {
	if s == "" {
		return "…"
	}
	return s
}

func pct(v *float64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(100**v, 'f', 1, 64) + "%"
}

func days(d Days) string {
	if d.N == 0 {
		return "-"
	}
	return fmt.Sprintf("median %.0f, p90 %.0f (n=%d)", *d.Median, *d.P90, d.N)
}
