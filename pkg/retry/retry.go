package retry

import (
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Backoff returns an exponential backoff that waits initial first, grows by
// the library's factor of 1.5 up to limit, jitters each wait by ±50%, and
// never gives up: callers retry until their context ends (a caller that
// gives up sets MaxElapsedTime itself). It is reset after it is configured,
// so its first wait is initial also when used without backoff.Retry.
func Backoff(initial, limit time.Duration) *backoff.ExponentialBackOff {
	return backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(initial),
		backoff.WithMaxInterval(limit),
		backoff.WithMaxElapsedTime(0),
	)
}
