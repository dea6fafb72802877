package model

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// File is the scoring-model file as written in YAML. Compile turns it into a
// Model the engine can use.
type File struct {
	Version     string      `yaml:"version"`
	Name        string      `yaml:"name"`
	Reviewed    Date        `yaml:"reviewed"`
	Changelog   []Change    `yaml:"changelog"`
	Rules       []RuleSpec  `yaml:"rules"`
	ContactFit  ContactFit  `yaml:"contact_fit"`
	AccountFit  []FitRule   `yaml:"account_fit"`
	Competitors Competitors `yaml:"competitors"`
	Grades      []GradeSpec `yaml:"grades"`
	Thresholds  Thresholds  `yaml:"thresholds"`
	Stages      StageSpec   `yaml:"stages"`
	Decay       DecaySpec   `yaml:"decay"`
	Dormant     Duration    `yaml:"dormant_after"`
	Account     AccountSpec `yaml:"account"`
	Nurture     NurtureSpec `yaml:"nurture"`
	Ledger      LedgerSpec  `yaml:"ledger"`
	// Protected names attributes (account-fit fields, event properties)
	// that `scorer model suggest` flags rules on, besides its defaults.
	Protected []string `yaml:"protected"`
}

// LedgerSpec is how much of each contact's ledger (the history endpoint's
// lines) is kept: the newest Keep lines (200 when unset), and of those
// none dated more than MaxAge before the newest (no limit when unset).
type LedgerSpec struct {
	Keep   int      `yaml:"keep"`
	MaxAge Duration `yaml:"max_age"`
}

// Change is one changelog entry: which version, when, who, what and why.
type Change struct {
	Version string `yaml:"version" json:"version"`
	Date    Date   `yaml:"date" json:"date"`
	Author  string `yaml:"author" json:"author"`
	What    string `yaml:"what" json:"what"`
	Why     string `yaml:"why" json:"why,omitempty"`
}

// RuleSpec gives points to events of one type whose properties match.
type RuleSpec struct {
	ID     string             `yaml:"id"`
	Event  string             `yaml:"event"`
	Match  map[string]Matcher `yaml:"match"`
	Points *int               `yaml:"points"`
	// PointsBy scores by a numeric property in steps (video percent watched).
	PointsBy *PointsBy `yaml:"points_by"`
	// PointsFrom takes the points from a numeric property (score.adjusted).
	PointsFrom string   `yaml:"points_from"`
	Product    string   `yaml:"product"`
	Cap        *CapSpec `yaml:"cap"`
	Reason     string   `yaml:"reason"`
}

// PointsBy scores a numeric property in steps: the highest step whose min
// the value reaches gives its points.
type PointsBy struct {
	Property string `yaml:"property"`
	Steps    []Step `yaml:"steps"`
}

// Step is one band of PointsBy.
type Step struct {
	Min    float64 `yaml:"min"`
	Points int     `yaml:"points"`
}

// CapSpec limits how often a rule scores: within each period (fixed windows
// of Per, counted from the Unix epoch), the matches numbered From to
// From+Max-1 score and the others score nothing. From 2 with Max 1 means
// "the second visit in the period scores once" (repeated visits).
type CapSpec struct {
	Max  int      `yaml:"max"`
	Per  Duration `yaml:"per"`
	From int      `yaml:"from"`
}

// ContactFit scores who the contact is.
type ContactFit struct {
	// Titles are tried in order; the first whose pattern matches gives its points.
	Titles []TitleRule `yaml:"titles"`
	Target TargetSpec  `yaml:"target"`
}

// TitleRule gives points to job titles matching a regular expression.
type TitleRule struct {
	ID      string `yaml:"id"`
	Pattern string `yaml:"pattern"`
	Points  int    `yaml:"points"`
}

// TargetSpec is AQL's first gate: a target title and the required profile
// fields. A required entry "email|phone" means any one of them. A title
// matching one of Exclude is never a target ("Assistant to the CEO").
type TargetSpec struct {
	Titles   []string `yaml:"titles"`
	Exclude  []string `yaml:"exclude"`
	Required []string `yaml:"required"`
}

// FitRule gives points to accounts by one firmographic field: a numeric range
// (min/max, inclusive) for employees and revenue, a list for the others.
type FitRule struct {
	ID     string   `yaml:"id"`
	Field  string   `yaml:"field"`
	Min    *float64 `yaml:"min"`
	Max    *float64 `yaml:"max"`
	In     []string `yaml:"in"`
	Points int      `yaml:"points"`
}

// Competitors are graded F and never qualify.
type Competitors struct {
	Domains []string `yaml:"domains"`
}

// GradeSpec is the lowest fit score of a grade. Grades are listed from best
// to worst; a fit below every min, or a competitor, is F.
type GradeSpec struct {
	Grade string `yaml:"grade"`
	Min   int    `yaml:"min"`
}

// Thresholds for MQL, MQA and AQL.
type Thresholds struct {
	MQL Hysteresis `yaml:"mql"`
	MQA Hysteresis `yaml:"mqa"`
	AQL AQLSpec    `yaml:"aql"`
}

// Hysteresis enters at Enter and leaves only below Leave (Leave ≤ Enter), so
// a score hovering at the threshold does not flap.
type Hysteresis struct {
	Enter int `yaml:"enter"`
	Leave int `yaml:"leave"`
}

// AQLSpec holds AQL's second and third gates; the first is ContactFit.Target.
// Behavior is the least behavior score of the contact; Account the least fit
// (firmographic score) of its account, not the account score: the account's
// engagement is MQA's measure.
type AQLSpec struct {
	Behavior int `yaml:"behavior"`
	Account  int `yaml:"account"`
}

// StageSpec places a contact by behavior score: late at or above Late, mid
// at or above Mid, early below.
type StageSpec struct {
	Mid  int `yaml:"mid"`
	Late int `yaml:"late"`
}

// DecaySpec lowers idle behavior: after IdleAfter without engagement, one
// step, then one every Every, of Points or Percent, never taking behavior
// below Floor (nor below zero) and never raising it. Fit does not decay.
type DecaySpec struct {
	IdleAfter Duration `yaml:"idle_after"`
	Every     Duration `yaml:"every"`
	Points    int      `yaml:"points"`
	Percent   float64  `yaml:"percent"`
	Floor     *int     `yaml:"floor"`
	// FloorPercentOfMQL sets the behavior floor as a share of the MQL enter
	// threshold.
	FloorPercentOfMQL float64 `yaml:"floor_percent_of_mql"`
}

// AccountSpec says how an account's engagement aggregates its contacts'
// behavior: sum, max, or top_n (the sum of the N highest).
type AccountSpec struct {
	Engagement string `yaml:"engagement"`
	TopN       int    `yaml:"top_n"`
}

// Duration is a time.Duration written as "24h", "30d" or "2w".
type Duration time.Duration

// invalidDuration marks a duration that did not parse, so that the compiler
// reports it with its line and path among every other problem instead of the
// YAML decoder stopping at it.
const invalidDuration = Duration(math.MinInt64)

// UnmarshalYAML accepts Go durations plus d (days) and w (weeks). A value
// that does not parse is kept as invalid and reported by Parse.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		*d = invalidDuration
		return nil
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes whole days as "Nd".
func (d Duration) MarshalYAML() (any, error) { return FormatDuration(time.Duration(d)), nil }

// ParseDuration reads "90d", "2w" or any time.ParseDuration string.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.ParseFloat(n, 64)
			if err != nil || math.IsNaN(v) || math.Abs(v*float64(unit)) >= math.MaxInt64 {
				return 0, fmt.Errorf("invalid duration %q (use 24h, 30d or 2w)", s)
			}
			return time.Duration(v * float64(unit)), nil
		}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (use 24h, 30d or 2w)", s)
	}
	return v, nil
}

// FormatDuration writes whole days as "Nd" and anything else as Go does.
func FormatDuration(d time.Duration) string {
	day := 24 * time.Hour
	if d != 0 && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return d.String()
}

// Date is a calendar day written as 2026-11-24.
type Date struct {
	time.Time
	// invalid is set when the text did not parse; Parse reports it.
	invalid bool
}

// UnmarshalYAML reads YYYY-MM-DD. A value that does not parse is kept as
// invalid and reported by Parse with its line and path.
func (d *Date) UnmarshalYAML(n *yaml.Node) error {
	t, err := time.Parse(time.DateOnly, n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		*d = Date{invalid: true}
		return nil
	}
	*d = Date{Time: t}
	return nil
}

// MarshalJSON writes YYYY-MM-DD, as in the file.
func (d Date) MarshalJSON() ([]byte, error) {
	if d.IsZero() {
		return []byte(`null`), nil
	}
	return []byte(`"` + d.Format(time.DateOnly) + `"`), nil
}

// UnmarshalJSON reads YYYY-MM-DD or null.
func (d *Date) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*d = Date{}
		return nil
	}
	t, err := time.Parse(`"`+time.DateOnly+`"`, string(b))
	if err != nil {
		return fmt.Errorf("invalid date %s (use YYYY-MM-DD)", b)
	}
	d.Time = t
	return nil
}

// MarshalYAML writes YYYY-MM-DD.
func (d Date) MarshalYAML() (any, error) {
	if d.IsZero() {
		return nil, nil
	}
	return d.Format(time.DateOnly), nil
}

// Matcher tests one event property. In YAML it is a glob string, a list of
// globs (any matches), or a mapping with one of glob, regex or in.
// Matching ignores case; a glob's * matches any run of characters, / too.
type Matcher struct {
	Globs []string `yaml:"glob"`
	Regex string   `yaml:"regex"`
	In    []string `yaml:"in"`
	// unknown lists keys of the mapping form that are none of the above;
	// Parse refuses them.
	unknown []string
}

// UnmarshalYAML accepts the three forms described on Matcher.
func (m *Matcher) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		m.Globs = []string{n.Value}
		return nil
	case yaml.SequenceNode:
		return n.Decode(&m.Globs)
	case yaml.MappingNode:
		var raw struct {
			Glob  yaml.Node `yaml:"glob"`
			Regex string    `yaml:"regex"`
			In    []string  `yaml:"in"`
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i].Value; k != "glob" && k != "regex" && k != "in" {
				m.unknown = append(m.unknown, k)
			}
		}
		if err := n.Decode(&raw); err != nil {
			return err
		}
		switch raw.Glob.Kind {
		case yaml.ScalarNode:
			m.Globs = []string{raw.Glob.Value}
		case yaml.SequenceNode:
			if err := raw.Glob.Decode(&m.Globs); err != nil {
				return err
			}
		}
		m.Regex, m.In = raw.Regex, raw.In
		return nil
	}
	return fmt.Errorf("line %d: a matcher is a glob, a list of globs, or {glob|regex|in}", n.Line)
}
