package model

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestReviewDue60DaysAfterFirstVersionThenEvery90(t *testing.T) {
	t.Parallel()
	f := Default().File
	r := f.Review()
	assert.Equal(t, day("2026-11-24"), r.First)
	assert.Equal(t, day("2027-01-23"), r.Due, "reviewed on the day of the first version: the 60-day review is still due")
	assert.False(t, r.Overdue(day("2027-01-23")))
	assert.True(t, r.Overdue(day("2027-01-24")))

	f.Reviewed = Date{Time: day("2027-01-20")}
	assert.Equal(t, day("2027-04-20"), f.Review().Due, "then 90 days after each review")
	f.Changelog = nil
	assert.True(t, f.Review().Due.IsZero(), "no dated version, no schedule")
}

// secondVersion is the default model moved on: email-click 10 → 15 points,
// careers removed, a demo-request rule added, blog's cap changed, MQL 80 → 85.
func secondVersion(t *testing.T) *Model {
	t.Helper()
	src := string(DefaultYAML())
	src = strings.Replace(src, "version: \"3\"\nname", "version: \"4\"\nname", 1)
	src = strings.Replace(src, "changelog:\n", "changelog:\n  - version: \"4\"\n    date: 2027-01-20\n    author: ops\n    what: Clicks count more; demo requests score.\n    why: Clicks converted twice as often as opens.\n", 1)
	src = strings.Replace(src, "    points: 10\n    cap: {max: 5, per: 1d}", "    points: 15\n    cap: {max: 5, per: 1d}", 1)
	src = strings.Replace(src, "  - id: careers\n    event: web.page_viewed\n    match: {url: [\"*/careers*\", \"*/jobs*\"]}\n    points: -10\n    reason: careers page (a job seeker, not a buyer)\n", "", 1)
	src = strings.Replace(src, "    match: {url: \"*/blog/*\"}\n    points: 10\n    cap: {max: 3, per: 1d}", "    match: {url: \"*/blog/*\"}\n    points: 10\n    cap: {max: 2, per: 1d}", 1)
	src = strings.Replace(src, "rules:\n", "rules:\n  - id: demo-request\n    event: form.submitted\n    match: {form: demo}\n    points: 40\n    reason: asked for a demo\n", 1)
	src = strings.Replace(src, "mql: {enter: 80", "mql: {enter: 85", 1)
	m, err := Parse([]byte(src))
	require.NoError(t, err)
	return m
}

func TestHistoryTableOfRulesAcrossVersions(t *testing.T) {
	t.Parallel()
	v1, v2 := Default(), secondVersion(t)
	h, err := NewHistory([]*File{&v2.File, &v1.File}) // out of order on purpose
	require.NoError(t, err)
	assert.Equal(t, []string{"3", "4"}, h.Versions)
	rows := map[string][]string{}
	for _, r := range h.Rows {
		rows[r.Section+" "+r.ID] = r.Points
	}
	assert.Equal(t, []string{"5", "5"}, rows["rules email-open"])
	assert.Equal(t, []string{"10", "15"}, rows["rules email-click"], "a points change shows in the cell")
	assert.Equal(t, []string{"10", "10*"}, rows["rules blog"], "another change is marked")
	assert.Equal(t, []string{"-10", ""}, rows["rules careers"])
	assert.Equal(t, []string{"", "40"}, rows["rules demo-request"])
	assert.Equal(t, []string{"80", "85"}, rows["thresholds mql.enter"])
	require.Len(t, h.Notes, 4, "the changelog of every version, once")
	assert.Equal(t, []string{"1", "2", "3", "4"}, []string{h.Notes[0].Version, h.Notes[1].Version, h.Notes[2].Version, h.Notes[3].Version})

	var out bytes.Buffer
	require.NoError(t, h.Write(&out))
	assert.Regexp(t, `rules\s+email-click\s+10\s+15\n`, out.String())
	assert.Regexp(t, `rules\s+careers\s+-10\s+—\n`, out.String())
	assert.Regexp(t, `rules\s+demo-request\s+—\s+40\ntitles`, out.String(), "rules stay together")
	assert.Contains(t, out.String(), "v4  2027-01-20  ops    Clicks count more; demo requests score. (why: Clicks converted twice as often as opens.)")
}

// TestReviewDueAtDays59_61_151: first version on day 0: on time at day 59,
// overdue at day 61; reviewed on day 61, the next review is due on day 151.
func TestReviewDueAtDays59_61_151(t *testing.T) {
	t.Parallel()
	d0 := day("2026-03-01")
	at := func(n int) time.Time { return d0.AddDate(0, 0, n) }
	f := File{Version: "1", Changelog: []Change{{Version: "1", Date: Date{Time: d0}, What: "first"}}}
	assert.False(t, f.Review().Overdue(at(59)))
	assert.True(t, f.Review().Overdue(at(61)))
	f.Reviewed = Date{Time: at(61)}
	assert.Equal(t, at(151), f.Review().Due)
	assert.False(t, f.Review().Overdue(at(150)))
	assert.False(t, f.Review().Overdue(at(151).Add(23*time.Hour)), "due on day 151, overdue after it")
	assert.True(t, f.Review().Overdue(at(152)))
}

// TestHistoryShowsARuleSetToZeroWithoutAMark: a rule whose points go to 0
// (and back) changed only its points: no "*" (the compact form leaves a
// zero out, which made the rule look changed beyond its points).
func TestHistoryShowsARuleSetToZeroWithoutAMark(t *testing.T) {
	t.Parallel()
	v1 := Default()
	src := strings.Replace(string(DefaultYAML()), "version: \"3\"\nname", "version: \"4\"\nname", 1)
	src = strings.Replace(src, "    points: 10\n    cap: {max: 5, per: 1d}", "    points: 0\n    cap: {max: 5, per: 1d}", 1)
	v2, err := Parse([]byte(src))
	require.NoError(t, err)
	src = strings.Replace(src, "version: \"4\"\nname", "version: \"5\"\nname", 1)
	src = strings.Replace(src, "    points: 0\n    cap: {max: 5, per: 1d}", "    points: 12\n    cap: {max: 5, per: 1d}", 1)
	v3, err := Parse([]byte(src))
	require.NoError(t, err)
	h, err := NewHistory([]*File{&v1.File, &v2.File, &v3.File})
	require.NoError(t, err)
	for _, r := range h.Rows {
		if r.ID == "email-click" {
			assert.Equal(t, []string{"10", "0", "12"}, r.Points)
			return
		}
	}
	t.Fatal("no email-click row")
}
