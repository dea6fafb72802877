package program

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/leadscore/leads/pkg/testutil"
)

// TestProbesAnswerWithinASecondNamingWhatIsFrozen: with Redis, then Kafka
// too, frozen (connections accepted, nothing answered), every program's
// /readyz answers 503 within a second or so, naming the dependency and no
// internal address; before, a frozen Redis held the answer for the
// client's timeouts and retries (5-20 s) and the error named host:port.
func TestProbesAnswerWithinASecondNamingWhatIsFrozen(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		run  func(context.Context, []string, Options) error
	}{
		{"ingestor", Ingestor},
		{"scorer", Scorer},
		{"decayer", Decayer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := testutil.Prefix(t)
			brokers := testutil.Kafka(t, 2, p+".events", p+".t", p+".dlq")
			redisAddr, _ := testutil.Redis(t)
			redis, kafka := testutil.Freeze(t, redisAddr), testutil.Freeze(t, brokers[0])
			args := []string{"--kafka-brokers=" + kafka.Addr(), "--redis-addr=" + redis.Addr(), "--namespace=" + p,
				"--events-topic=" + p + ".events", "--transitions-topic=" + p + ".t", "--dlq-topic=" + p + ".dlq"}
			if tc.name == "scorer" {
				args = append(args, "--group="+p)
			}
			url := startProgram(t, tc.name, tc.run, zap.NewNop(), args...)
			// Unfrozen before the program's cleanup, so that it stops at once.
			defer redis.Close()
			defer kafka.Close()
			require.Eventually(t, func() bool { code, _, _ := probe(t, url); return code == http.StatusOK },
				20*time.Second, 50*time.Millisecond, "ready before anything is frozen")

			redis.Freeze()
			code, body, took := probe(t, url)
			assert.Equal(t, http.StatusServiceUnavailable, code, body)
			assert.Less(t, took, 2*time.Second, "answered within the probe's deadline")
			assert.Contains(t, body, "redis: not reachable")
			assert.NotContains(t, body, "kafka:", "Kafka answers")

			kafka.Freeze()
			code, body, took = probe(t, url)
			assert.Equal(t, http.StatusServiceUnavailable, code, body)
			assert.Less(t, took, 2*time.Second, "answered within the probe's deadline")
			assert.Contains(t, body, "redis: not reachable")
			assert.Contains(t, body, "kafka: not reachable")
			for _, addr := range []string{"127.0.0.1", redis.Addr(), kafka.Addr(), redisAddr, brokers[0]} {
				assert.NotContains(t, body, addr, "no internal address")
			}
		})
	}
}

// probe asks /readyz, bounded by 30 s, and returns the status, the body and
// how long the answer took.
func probe(t *testing.T, url string) (int, string, time.Duration) {
	t.Helper()
	c := http.Client{Timeout: 30 * time.Second}
	start := time.Now()
	resp, err := c.Get(url + "/readyz")
	took := time.Since(start)
	if err != nil {
		return 0, err.Error(), took
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), took
}
