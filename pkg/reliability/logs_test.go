package reliability

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEveryLogLineIsJSONThroughARedisOutage runs the three programs with
// logs at Debug, posting and scoring events, then takes Redis away until each has
// logged go-redis's dial failures, and stops them: everything they wrote
// on stderr is JSON, one object a line. go-redis's own lines, which it
// printed as plain text, go through zap under the name redis; those and
// kafka-go's name the library's statement as their caller, not the
// adapter that routes them.
func TestEveryLogLineIsJSONThroughARedisOutage(t *testing.T) {
	t.Parallel()
	r := newRig(t, 10, 60)
	l := r.lane(t, "logs")
	debug := []string{"--log-level", "debug"}
	all := []*proc{l.run("scorer", "", debug...), l.run("ingestor", "", debug...),
		l.run("decayer", "", append(debug, "--interval", "1s", "--max-backoff", "500ms")...)}
	for _, p := range all {
		waitReady(p)
	}
	body, err := json.Marshal(r.history)
	require.NoError(t, err)
	code, msg := post("http://"+all[1].http, body)
	require.Equal(t, http.StatusAccepted, code, msg)
	eventually(t, 30*time.Second, "the scorer published transitions", func() bool {
		_, n := l.transitionIDs()
		return n > 0
	})
	require.NoError(t, r.rs.Stop())
	eventually(t, 30*time.Second, "every program logged go-redis's dial failures", func() bool {
		for _, p := range all {
			p.ready() // a readiness check pings Redis
			if b, _ := os.ReadFile(p.out); !bytes.Contains(b, []byte("connection pool: failed to dial")) {
				return false
			}
		}
		return true
	})
	for _, p := range all {
		p.signal(syscall.SIGTERM)
	}
	for _, p := range all {
		p.exited(10 * time.Second)
	}

	for _, p := range all {
		b, err := os.ReadFile(p.out)
		require.NoError(t, err)
		loggers := map[string]int{}
		for i, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			var entry struct {
				Logger string `json:"logger"`
				Caller string `json:"caller"`
			}
			if !assert.NoError(t, json.Unmarshal([]byte(line), &entry), "%s line %d is not JSON: %s", p.name, i+1, line) {
				continue
			}
			name, _, _ := strings.Cut(entry.Logger, ".")
			loggers[name]++
			switch name {
			case "redis":
				assert.NotRegexp(t, `^app/`, entry.Caller, "%s: go-redis's line names its own caller: %s", p.name, line)
			case "kafka":
				assert.Contains(t, entry.Caller, "kafka-go@", "%s: kafka-go's line names its own caller: %s", p.name, line)
			}
		}
		assert.Positive(t, loggers["redis"], "%s: go-redis's lines, through zap", p.name)
		// Only the scorer reads with kafka-go's reader; the writer, the
		// others' only Kafka client, logs nothing but its retries.
		if p.name == "scorer" {
			assert.Positive(t, loggers["kafka"], "%s: kafka-go's lines at Debug", p.name)
		}
	}
}
