package model

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDocsShowTheDefaultModel keeps docs/model.md's copy of the default
// model identical to the embedded one.
func TestDocsShowTheDefaultModel(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/model.md")
	require.NoError(t, err)
	_, after, ok := strings.Cut(string(doc), "## The default model\n\n```yaml\n")
	require.True(t, ok, "docs/model.md has a default model section")
	body, _, ok := strings.Cut(after, "```\n")
	require.True(t, ok)
	require.Equal(t, string(DefaultYAML()), body)
}

// TestDocsValidationExample checks the second-pass example of
// docs/model.md ("is refused like this") against Parse.
func TestDocsValidationExample(t *testing.T) {
	t.Parallel()
	src := `version: "2"
reviewed: 24/11/2026
rules:
  - id: open
    event: email.opened
    points: 5
    cap: {max: 3, per: 30days}
    match: {url: {in: [a], glb: b}}
  - id: acct
    event: account.updated
    points: 5
grades: [{grade: A, min: 10}]
thresholds: {mql: {enter: 50}, mqa: {enter: 100}}
stages: {mid: 10, late: 20}
`
	_, err := Parse([]byte(src))
	require.Error(t, err)
	doc, rerr := os.ReadFile("../../docs/model.md")
	require.NoError(t, rerr)
	var want []string
	for _, line := range strings.Split(err.Error(), "\n") {
		want = append(want, "   "+line)
	}
	require.Contains(t, string(doc), "   error: model bad3.yaml: "+strings.TrimSpace(strings.Join(want, "\n")))
}
