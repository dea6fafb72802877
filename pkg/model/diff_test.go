package model

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDiffListsRulesAddedRemovedChangedAndSections(t *testing.T) {
	t.Parallel()
	old := Default()
	src := string(DefaultYAML())
	src = strings.Replace(src, "version: \"3\"\nname", "version: \"4\"\nname", 1)
	// email-click: 10 points → 12, cap per 1d → 2d.
	src = strings.Replace(src, "    points: 10\n    cap: {max: 5, per: 1d}", "    points: 12\n    cap: {max: 5, per: 2d}", 1)
	// careers removed.
	src = strings.Replace(src, "  - id: careers\n    event: web.page_viewed\n    match: {url: [\"*/careers*\", \"*/jobs*\"]}\n    points: -10\n    reason: careers page (a job seeker, not a buyer)\n", "", 1)
	// a rule added.
	src = strings.Replace(src, "rules:\n", "rules:\n  - id: demo-request\n    event: form.submitted\n    match: {form: demo}\n    points: 40\n    reason: asked for a demo\n", 1)
	src = strings.Replace(src, "mql: {enter: 80", "mql: {enter: 85", 1)
	m, err := Parse([]byte(src))
	require.NoError(t, err, src)

	diffs, err := Diff(&old.File, &m.File)
	require.NoError(t, err)
	assert.Equal(t, []Difference{
		{Section: "rules", ID: "demo-request", Kind: "added",
			Value: `{"event":"form.submitted","id":"demo-request","match":{"form":{"glob":["demo"]}},"points":40,"reason":"asked for a demo"}`},
		{Section: "rules", ID: "email-click", Kind: "changed", Fields: []FieldChange{
			{Field: "cap", Old: `{"max":5,"per":"1d"}`, New: `{"max":5,"per":"2d"}`},
			{Field: "points", Old: "10", New: "12"},
		}},
		{Section: "rules", ID: "careers", Kind: "removed",
			Value: `{"event":"web.page_viewed","id":"careers","match":{"url":{"glob":["*/careers*","*/jobs*"]}},"points":-10,"reason":"careers page (a job seeker, not a buyer)"}`},
		{Section: "thresholds", Kind: "changed", Fields: []FieldChange{
			{Field: "mql", Old: `{"enter":80,"leave":70}`, New: `{"enter":85,"leave":70}`},
		}},
	}, diffs)

	var out bytes.Buffer
	require.NoError(t, WriteDiff(&out, diffs))
	assert.Contains(t, out.String(), "~ rules email-click.points  10 → 12")
	assert.Contains(t, out.String(), "- rules careers")

	same, err := Diff(&old.File, &old.File)
	require.NoError(t, err)
	assert.Empty(t, same)
}

// TestDiffShowsLedgerRetention: the ledger and nurture sections are
// compared like the others (a change of ledger.keep was not shown).
func TestDiffShowsLedgerRetention(t *testing.T) {
	t.Parallel()
	old := Default()
	src := strings.Replace(string(DefaultYAML()), "\ngrades:", "\nledger: {keep: 500, max_age: 400d}\n\ngrades:", 1)
	m, err := Parse([]byte(src))
	require.NoError(t, err)
	diffs, err := Diff(&old.File, &m.File)
	require.NoError(t, err)
	require.Len(t, diffs, 1)
	assert.Equal(t, "ledger", diffs[0].Section)
	var fields []string
	for _, f := range diffs[0].Fields {
		fields = append(fields, f.Field+" "+f.Old+" → "+f.New)
	}
	assert.Equal(t, []string{"keep  → 500", `max_age "0s" → "400d"`}, fields, "absent before: nothing on the left")
}
