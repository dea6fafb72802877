package model

import (
	"errors"
	"strings"
	"testing"

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
	assert.Equal(t, 40, m.Decay.Floor)
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
	assert.True(t, strings.Contains(string(DefaultYAML()), "version: \"1\""))
	assert.Equal(t, "1", m.Version)
	assert.NotEmpty(t, m.File.Changelog)
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("version: \"1\"\nthresholds: {mql: {enter: 80, leave: 70}, mqa: {enter: 100}}\nstages: {mid: 1, late: 2}\ngrades: [{grade: A, min: 1}]\n"))
	f.Add([]byte("version: \"1\"\nrules:\n  - {id: a, event: a.b, points: 1, match: {url: [\"*x*\"]}}\n"))
	f.Add([]byte("version: 1\ndecay: {idle_after: 1d, percent: 50, floor: 0}\n"))
	f.Add([]byte("[1, 2"))
	f.Add([]byte("rules: [{match: {url: {glob: [a, b], regex: x}}}]"))
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
	})
}
