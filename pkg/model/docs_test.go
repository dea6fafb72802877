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
