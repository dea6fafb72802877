package retry

import (
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"
)

// stoppedClock makes the elapsed time as long as a test wants.
type stoppedClock struct{ t time.Time }

func (c *stoppedClock) Now() time.Time { return c.t }

func TestABackoffStartsAtItsInitialWaitAndGrowsToItsCapWithJitter(t *testing.T) {
	t.Parallel()
	const initial, limit = 100 * time.Millisecond, time.Second
	for range 100 {
		b := Backoff(initial, limit)
		first := b.NextBackOff()
		assert.GreaterOrEqual(t, first, initial/2)
		assert.LessOrEqual(t, first, initial*3/2)
		for range 20 {
			b.NextBackOff()
		}
		capped := b.NextBackOff()
		assert.GreaterOrEqual(t, capped, limit/2)
		assert.LessOrEqual(t, capped, limit*3/2)
	}
}

func TestABackoffNeverGivesUp(t *testing.T) {
	t.Parallel()
	b := Backoff(time.Millisecond, time.Second)
	clock := &stoppedClock{t: time.Now()}
	b.Clock = clock
	b.Reset()
	clock.t = clock.t.Add(24 * time.Hour)
	assert.NotEqual(t, backoff.Stop, b.NextBackOff())
}
