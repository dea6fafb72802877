package model

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDefaultReproducesTheDomainNumbers(t *testing.T) {
	t.Parallel()
	m := Default()
	rule := func(id string) Rule {
		for _, r := range m.Rules {
			if r.ID == id {
				return r
			}
		}
		t.Fatalf("no rule %s", id)
		return Rule{}
	}
	assert.Equal(t, 5, rule("email-open").Points)
	assert.Equal(t, 3, rule("email-open").Cap.Max)
	assert.Equal(t, 20, rule("whitepaper").Points)
	assert.Equal(t, 30, rule("pricing-repeat").Points)
	assert.Equal(t, 2, rule("pricing-repeat").Cap.From)
	assert.Equal(t, 10, rule("blog").Points)
	assert.Less(t, rule("careers").Points, 0)
	assert.Less(t, rule("email-unsubscribe").Points, 0)
	assert.Less(t, rule("sales-disqualified").Points, 0)
	vp, _ := m.TitlePoints("VP of Sales")
	mgr, _ := m.TitlePoints("Product Manager")
	assert.Equal(t, 10, vp)
	assert.Equal(t, 5, mgr)
	var big int
	for _, r := range m.AccountFit {
		if r.Field == "employees" && r.Min == 1001 {
			big = r.Points
		}
	}
	assert.Equal(t, 15, big)
	assert.Equal(t, Hysteresis{Enter: 80, Leave: 70}, m.MQL)
	assert.Equal(t, 10, m.Decay.Points)
	assert.Equal(t, 30*24*3600.0, m.Decay.IdleAfter.Seconds())
	// "Never decay to zero": the floor is on behavior (see default.yaml).
	assert.Equal(t, 10, m.Decay.Floor)
}

func TestValidationListsEveryProblemWithLineAndPath(t *testing.T) {
	t.Parallel()
	src := `version: "2"
rules:
  - id: ok
    event: email.opened
    points: 5
  - id: ok
    event: Email.Opened
    points: 5000
    match:
      url: {regex: "("}
    cap: {max: 0, per: 1s}
contact_fit:
  titles:
    - {id: t1, pattern: "[", points: 5}
  target:
    required: [first_name, fax]
account_fit:
  - {id: a1, field: headcount, min: 1, points: 5}
  - {id: a2, field: tier, in: [gold], points: 5}
grades:
  - {grade: B, min: 10}
  - {grade: A, min: 20}
thresholds:
  mql: {enter: 80, leave: 90}
  mqa: {enter: 100}
stages: {mid: 50, late: 40}
decay: {idle_after: 30d, points: 10, percent: 5, floor: 40, floor_percent_of_mql: 50}
account: {engagement: median}
`
	_, err := Parse([]byte(src))
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrInvalid))
	var ve *ValidationError
	require.True(t, errors.As(err, &ve))
	got := map[string]int{}
	for _, p := range ve.Problems {
		got[p.Path] = p.Line
	}
	want := map[string]int{
		"rules[1].id":                    6,
		"rules[1].event":                 7,
		"rules[1].points":                8,
		"rules[1].match.url":             10,
		"rules[1].cap.max":               11,
		"rules[1].cap.per":               11,
		"contact_fit.titles[0].pattern":  14,
		"contact_fit.target.required[1]": 16,
		"account_fit[0].field":           18,
		"account_fit[1].in[0]":           19,
		"grades[1].grade":                22,
		"grades[1].min":                  22,
		"thresholds.mql.leave":           24,
		"stages":                         26,
		"decay":                          27,
		"account.engagement":             28,
	}
	for path, line := range want {
		l, ok := got[path]
		if assert.True(t, ok, "missing problem at %s; got %v", path, ve.Problems) {
			assert.Equal(t, line, l, "line of %s", path)
		}
	}
	assert.Contains(t, err.Error(), "line 10: rules[1].match.url: invalid pattern")
}

func TestUnknownFieldsAndTypesAreRefusedWithLines(t *testing.T) {
	t.Parallel()
	_, err := Parse([]byte("version: \"1\"\nrulez: []\nrules: 5\n"))
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, "line 2: field rulez not found")
	assert.Contains(t, msg, "line 3: cannot unmarshal")
}

func TestDurationsAndMatchers(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]float64{"30d": 30 * 24, "2w": 14 * 24, "36h": 36, "1.5d": 36} {
		d, err := ParseDuration(in)
		require.NoError(t, err)
		assert.Equal(t, want, d.Hours(), in)
	}
	_, err := ParseDuration("soon")
	assert.Error(t, err)
	assert.Equal(t, "30d", FormatDuration(30*24*3600e9))
}

func TestDefaultRoundTripsThroughYAML(t *testing.T) {
	t.Parallel()
	m := Default()
	assert.True(t, strings.Contains(string(DefaultYAML()), "version: \"3\""))
	assert.Equal(t, "3", m.Version)
	assert.NotEmpty(t, m.File.Changelog)
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("version: \"1\"\nthresholds: {mql: {enter: 80, leave: 70}, mqa: {enter: 100}}\nstages: {mid: 1, late: 2}\ngrades: [{grade: A, min: 1}]\n"))
	f.Add([]byte("version: \"1\"\nrules:\n  - {id: a, event: a.b, points: 1, match: {url: [\"*x*\"]}}\n"))
	f.Add([]byte("version: 1\ndecay: {idle_after: 1d, percent: 50, floor: 0}\n"))
	f.Add([]byte("[1, 2"))
	f.Add([]byte("rules: [{match: {url: {glob: [a, b], regex: x}}}]"))
	f.Add([]byte("version: \"1\"\nreviewed: 24/11/2026\ndecay: {idle_after: 30days, every: [1d]}\nrules: [{id: a, event: a.b, points: 1, match: {u: {in: [x], glb: y}}, cap: {max: 1, per: NaNd}}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 {
			return
		}
		m, err := Parse(data)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("error is not a ValidationError with problems: %v", err)
			}
			return
		}
		if m.Version == "" || m.MQL.Leave > m.MQL.Enter || m.Stages.Late <= m.Stages.Mid {
			t.Fatalf("accepted an invalid model: %+v", m)
		}
		bad := m.Decay.IdleAfter < 0 || m.Decay.Every < 0 || m.DormantAfter < 0 || m.File.Reviewed.invalid
		for _, r := range m.Rules {
			bad = bad || (r.Cap != nil && r.Cap.Per < time.Minute)
		}
		for _, ch := range m.File.Changelog {
			bad = bad || ch.Date.invalid
		}
		if bad {
			t.Fatalf("accepted a bad duration or date: %+v", m)
		}
	})
}

// TestBadDurationsAndDatesAreListedWithTheOthers: a duration or date that
// does not parse is one problem among the others, with its line and path.
func TestBadDurationsAndDatesAreListedWithTheOthers(t *testing.T) {
	t.Parallel()
	src := `version: "2"
reviewed: 24/11/2026
changelog:
  - {version: "2", date: 2026-13-01, what: x}
rules:
  - {id: a, event: email.opened, points: 5, cap: {max: 1, per: 30days}}
  - {id: b, event: Email.Opened, points: 5}
grades: [{grade: A, min: 10}]
thresholds: {mql: {enter: 50}, mqa: {enter: 100}}
stages: {mid: 10, late: 20}
decay: {idle_after: soon, every: 1x, points: 10}
dormant_after: 90 days
`
	_, err := Parse([]byte(src))
	var ve *ValidationError
	require.True(t, errors.As(err, &ve), "%v", err)
	got := map[string]Problem{}
	for _, p := range ve.Problems {
		got[p.Path] = p
	}
	for path, want := range map[string]struct {
		line int
		text string
	}{
		"reviewed":          {2, `invalid date "24/11/2026" (use YYYY-MM-DD)`},
		"changelog[0].date": {4, `invalid date "2026-13-01"`},
		"rules[0].cap.per":  {6, `invalid duration "30days" (use 24h, 30d or 2w)`},
		"rules[1].event":    {7, `not a lower-case dotted event type`},
		"decay.idle_after":  {11, `invalid duration "soon"`},
		"decay.every":       {11, `invalid duration "1x"`},
		"dormant_after":     {12, `invalid duration "90 days"`},
	} {
		p, ok := got[path]
		if assert.True(t, ok, "no problem at %s: %v", path, ve.Problems) {
			assert.Equal(t, want.line, p.Line, path)
			assert.Contains(t, p.Message, want.text, path)
		}
	}
	assert.Len(t, ve.Problems, 7, "one problem each, no follow-on errors: %v", ve.Problems)
}

func TestDurationRefusesNonFiniteAndHuge(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"NaNd", "Infd", "1e300d", "-1e300w", "30days", ""} {
		_, err := ParseDuration(s)
		assert.Error(t, err, s)
	}
}

func TestUnknownMatcherKeysAreRefused(t *testing.T) {
	t.Parallel()
	src := `version: "1"
rules:
  - id: a
    event: web.page_viewed
    match: {url: {in: [a], glb: b}}
    points: 5
grades: [{grade: A, min: 10}]
thresholds: {mql: {enter: 50}, mqa: {enter: 100}}
stages: {mid: 10, late: 20}
`
	_, err := Parse([]byte(src))
	var ve *ValidationError
	require.True(t, errors.As(err, &ve), "%v", err)
	require.Len(t, ve.Problems, 1)
	assert.Equal(t, Problem{Path: "rules[0].match.url", Line: 5,
		Message: `unknown key "glb" (a matcher mapping has one of glob, regex, in)`}, ve.Problems[0])
}

func TestRulesOnAccountEventsAreRefused(t *testing.T) {
	t.Parallel()
	src := `version: "1"
rules:
  - {id: a, event: account.updated, points: 5}
grades: [{grade: A, min: 10}]
thresholds: {mql: {enter: 50}, mqa: {enter: 100}}
stages: {mid: 10, late: 20}
`
	_, err := Parse([]byte(src))
	var ve *ValidationError
	require.True(t, errors.As(err, &ve), "%v", err)
	require.Len(t, ve.Problems, 1)
	assert.Equal(t, "rules[0].event", ve.Problems[0].Path)
	assert.Equal(t, 3, ve.Problems[0].Line)
	assert.Contains(t, ve.Problems[0].Message, "account event")
}

func TestTierValuesIgnoreCase(t *testing.T) {
	t.Parallel()
	src := `version: "1"
account_fit:
  - {id: named, field: tier, in: [Named, NON_ICP], points: 5}
grades: [{grade: A, min: 10}]
thresholds: {mql: {enter: 50}, mqa: {enter: 100}}
stages: {mid: 10, late: 20}
`
	m, err := Parse([]byte(src))
	require.NoError(t, err)
	assert.True(t, m.AccountFit[0].In["named"])
	assert.True(t, m.AccountFit[0].In["non_icp"])
}

// TestDefaultTitles: seniority words scoring as the object of a title
// ("Assistant to the CEO") do not make it senior, nor a target title.
func TestDefaultTitles(t *testing.T) {
	t.Parallel()
	m := Default()
	for _, tt := range []struct {
		title  string
		points int
		target bool
	}{
		{"VP Engineering", 10, true},
		{"SVP Sales", 10, true},
		{"Head of Growth", 10, true},
		{"Founder & CEO", 10, true},
		{"Co-Founder", 10, true},
		{"Chief Revenue Officer", 10, true},
		{"Managing Director", 7, true},
		{"Product Manager", 5, true},
		{"Engineering Mgr", 0, false},
		{"Executive Assistant to the CEO", 0, false},
		{"Assistant to the CEO", 0, false},
		{"Chief of Staff to the CEO", 0, false},
		{"EA to CFO", 0, false},
		{"Secretary to the President", 0, false},
		{"Marketing Intern, Office of the CMO", 0, false},
		{"Vice Presidential Speechwriter", 0, false},
		{"Directory Services Engineer", 0, false},
		{"Cooperative Manager", 5, true},
	} {
		pts, _ := m.TitlePoints(tt.title)
		assert.Equal(t, tt.points, pts, "points of %q", tt.title)
		assert.Equal(t, tt.target, m.IsTargetTitle(tt.title), "target %q", tt.title)
	}
}

// TestTitleFactsAreRemembered: answers about titles are the same whether
// matched or remembered, title by title, in any order.
func TestTitleFactsAreRemembered(t *testing.T) {
	t.Parallel()
	m := Default()
	titles := []string{"VP Sales", "Intern", "CEO", "Chief Executive Officer", " cto ", "VP of Marketing", "", "Student"}
	for round := range 3 {
		for i := range titles {
			title := titles[(i*3+round)%len(titles)]
			pts, rule := m.matchTitlePoints(title)
			gotPts, gotRule := m.TitlePoints(title)
			require.Equal(t, pts, gotPts, title)
			require.Equal(t, rule, gotRule, title)
			require.Equal(t, m.matchTargetTitle(title), m.IsTargetTitle(title), title)
			require.Equal(t, title != "" && m.Nurture.isCLevel(title), m.NurtureOf(title, "", false) == NurtureCLevel, title)
		}
	}
	require.True(t, m.IsTargetTitle("VP Sales"))
	require.Equal(t, NurtureCLevel, m.NurtureOf("CEO", "", false))
	require.EqualValues(t, len(titles), m.titles.n.Load())
}

// TestLedgerRetentionIsTheModels: 200 lines a contact unless the model's
// ledger section says otherwise; bounds out of range are refused.
func TestLedgerRetentionIsTheModels(t *testing.T) {
	t.Parallel()
	m := Default()
	require.Equal(t, DefaultLedgerKeep, m.LedgerKeep)
	require.Zero(t, m.LedgerMaxAge)
	y := string(DefaultYAML()) + "\nledger: {keep: 50, max_age: 90d}\n"
	m, err := Parse([]byte(y))
	require.NoError(t, err)
	require.Equal(t, 50, m.LedgerKeep)
	require.Equal(t, 90*24*time.Hour, m.LedgerMaxAge)
	for _, bad := range []string{"{keep: -1}", "{keep: 10001}", "{max_age: -1d}", "{max_age: soon}"} {
		_, err := Parse([]byte(string(DefaultYAML()) + "\nledger: " + bad + "\n"))
		require.ErrorContains(t, err, "ledger.", bad)
	}
}
