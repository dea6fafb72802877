package failpoint

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHitKillsAtTheArmedTime(t *testing.T) {
	killed, paused := 0, 0
	oldKill, oldPause := kill, pause
	kill = func() { killed++ }
	pause = func() { paused++ }
	t.Cleanup(func() { kill, pause = oldKill, oldPause; _ = Set("") })

	require.NoError(t, Set("a:3, b:1"))
	Hit("a")
	Hit("a")
	Hit("c")
	assert.Equal(t, 0, killed)
	Hit("a")
	assert.Equal(t, 1, killed, "the third time")
	Hit("a")
	assert.Equal(t, 1, killed, "only once")
	Hit("b")
	assert.Equal(t, 2, killed)

	require.NoError(t, Set("c:2:stop"))
	Hit("c")
	Hit("c")
	assert.Equal(t, 1, paused)
	assert.Equal(t, 2, killed)

	require.NoError(t, Set(""))
	Hit("b")
	Hit("c")
	assert.Equal(t, 2, killed, "disarmed")
	assert.Equal(t, 1, paused, "disarmed")
}

func TestSetRefusesBadSpecs(t *testing.T) {
	t.Cleanup(func() { _ = Set("") })
	for _, spec := range []string{"a", "a:0", "a:x", ":1", "a:-1", "a:1:explode"} {
		assert.Error(t, Set(spec), spec)
	}
}
