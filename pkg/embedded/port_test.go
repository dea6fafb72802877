package embedded

import (
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFreePortIsBelowTheEphemeralRange: the ports FreePort gives are free,
// and none is one the kernel could hand an outgoing connection meanwhile.
func TestFreePortIsBelowTheEphemeralRange(t *testing.T) {
	low := ephemeralLow()
	require.Greater(t, low, freePortsFrom+1000, "the ephemeral range is read from /proc")
	seen := map[int]bool{}
	for range 20 {
		port, err := FreePort()
		require.NoError(t, err)
		assert.GreaterOrEqual(t, port, freePortsFrom)
		assert.Less(t, port, low)
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		require.NoError(t, err, "port %d is free", port)
		ln.Close()
		seen[port] = true
	}
	assert.Greater(t, len(seen), 15, "ports are picked at random")
}
