package segment

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestREADMEMappingExampleParses: the mapping README.md shows is valid.
func TestREADMEMappingExampleParses(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(raw), "### Segment and RudderStack")
	require.True(t, ok, "README.md has no Segment section")
	_, block, ok := strings.Cut(section, "```yaml\n")
	require.True(t, ok, "the Segment section has no YAML example")
	block, _, _ = strings.Cut(block, "```")
	m, err := Parse([]byte(block))
	require.NoError(t, err)
	require.Equal(t, "form.submitted", m.track[nameKey("demo requested")].typ)
}
