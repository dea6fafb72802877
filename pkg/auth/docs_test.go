package auth

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestREADMEExample parses the tokens file shown in README.md, so the
// example stays one the ingestor accepts.
func TestREADMEExample(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(raw), "### Security")
	require.True(t, ok)
	_, block, ok := strings.Cut(section, "```yaml\n")
	require.True(t, ok)
	block, _, _ = strings.Cut(block, "```")
	tok, err := Parse([]byte(block))
	require.NoError(t, err)
	r := func(token string) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, "/", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		return req
	}
	src, ok := tok.Source(r("test"))
	require.True(t, ok)
	assert.Equal(t, "zoom", src.Name)
	assert.True(t, src.Allows("webinar.attended"))
	assert.False(t, src.Allows("deal.won"))
	assert.Equal(t, 2000, src.Burst())
	name, ok := tok.Reader(r("example-read-token"))
	require.True(t, ok)
	assert.Equal(t, "crm", name)
}
