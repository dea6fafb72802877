package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/leadscore/leads/pkg/embedded"
	"github.com/leadscore/leads/pkg/stream"
	"github.com/leadscore/leads/pkg/testutil"
)

// TestSIGTERMStopsEachProgramCleanly holds each program to the contract's
// SIGTERM: stop taking work, finish or hand back what is in flight, exit 0
// within 10 s, losing nothing. The scorer is stopped while events arrive
// and the ingestor while requests arrive; a restarted one of each carries
// on, and every event counts once and every crossing is published. Then a
// decayer between passes is stopped.
func TestSIGTERMStopsEachProgramCleanly(t *testing.T) {
	t.Parallel()
	r := newRig(t, 30, 300)
	x := pure(t, r.history)
	l := r.lane(t, "term")
	s := l.run("scorer", "")
	in := waitReady(l.run("ingestor", ""))
	const chunk = 20
	refused := 0
	// next takes the refusal of a stopping ingestor, which refuses the
	// request or is gone, and starts the next, to which the client sends
	// the request again.
	next := func(code int, msg string) *proc {
		require.Contains(t, []int{0, http.StatusServiceUnavailable}, code, msg)
		refused++
		in.exited(10 * time.Second)
		return waitReady(l.run("ingestor", ""))
	}
	var last []byte
	for i, n := 0, 1; i < len(r.history); i, n = i+chunk, n+1 {
		switch n {
		case 5:
			// Four requests accepted: the scorer has batches under way.
			s.signal(syscall.SIGTERM)
			s.exited(10 * time.Second)
			s = l.run("scorer", "")
		case 10:
			// The ingestor stops while this request arrives (or just
			// before, or just after).
			stopping := in
			go func() {
				time.Sleep(time.Millisecond)
				stopping.signal(syscall.SIGTERM)
			}()
		}
		body, err := json.Marshal(r.history[i:min(i+chunk, len(r.history))])
		require.NoError(t, err)
		in = postUntilAccepted(in, body, next)
		last = body
	}
	if refused == 0 {
		// The ingestor took every request before the signal reached it
		// (a busy machine): once it is gone, it takes the last one
		// again no more, and the client's retry to the next is deduped.
		in.exited(10 * time.Second)
		in = postUntilAccepted(in, last, next)
	}
	require.Positive(t, refused, "the stopped ingestor took no more requests")
	l.converges(x, 45*time.Second)

	in.signal(syscall.SIGTERM)
	in.exited(10 * time.Second)
	s.signal(syscall.SIGTERM)
	s.exited(10 * time.Second)

	d := waitReady(l.run("decayer", "", "--interval", "1h"))
	d.signal(syscall.SIGTERM)
	d.exited(10 * time.Second)
	assert.Equal(t, 0, d.cmd.ProcessState.ExitCode())
}

// TestSIGTERMDuringAnOutage: SIGTERM while Kafka or Redis is down, once
// every program reports not ready, still stops each within 10 s with
// status 0: nothing waits on the missing dependency.
func TestSIGTERMDuringAnOutage(t *testing.T) {
	t.Parallel()
	for _, down := range []string{"kafka", "redis"} {
		t.Run(down, func(t *testing.T) {
			t.Parallel()
			p := testutil.Prefix(t)
			r := &rig{t: t, ctx: context.Background(), prefix: p, events: p + ".events", dlq: p + ".dlq"}
			k, err := embedded.StartKafka(zap.NewNop(), embedded.KafkaOptions{Partitions: 4, Topics: []string{r.events, r.dlq}})
			require.NoError(t, err)
			t.Cleanup(func() { k.Close() })
			r.brokers = k.Addrs()
			r.kcfg = stream.Config{Brokers: r.brokers}
			r.redis, r.rs = testutil.Redis(t)
			r.rdb = redis.NewClient(&redis.Options{Addr: r.redis})
			t.Cleanup(func() { r.rdb.Close() })
			l := r.lane(t, "term")
			all := []*proc{l.run("scorer", ""), l.run("ingestor", ""), l.run("decayer", "", "--interval", "1s", "--max-backoff", "500ms")}
			for _, p := range all {
				waitReady(p)
			}
			if down == "kafka" {
				k.Close()
			} else {
				require.NoError(t, r.rs.Stop())
			}
			eventually(t, 20*time.Second, "not ready", func() bool {
				for _, p := range all {
					if p.ready() == http.StatusOK {
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
		})
	}
}

// TestSIGTERMWhileRetryingRedisAtStartExitsZero: a program started while
// Redis is down retries it for up to a minute before it serves anything;
// SIGTERM then made it print "error: context canceled" and exit 1. Each of
// the three binaries, the decayer's --once too, now exits 0 within 10 s,
// as it does for SIGTERM once running.
func TestSIGTERMWhileRetryingRedisAtStartExitsZero(t *testing.T) {
	t.Parallel()
	dead := freeAddr(t)
	for _, tt := range []struct {
		program string
		extra   []string
	}{{"ingestor", nil}, {"scorer", nil}, {"decayer", nil}, {"decayer", []string{"--once"}}} {
		t.Run(strings.Join(append([]string{tt.program}, tt.extra...), " "), func(t *testing.T) {
			t.Parallel()
			addr := freeAddr(t)
			p := start(t, tt.program, "", addr, append([]string{"--redis-addr", dead, "--kafka-brokers", dead, "--http-addr", addr,
				"--log-level", "warn"}, tt.extra...)...)
			eventually(t, 10*time.Second, "retrying Redis at start", func() bool {
				b, _ := os.ReadFile(p.out)
				return bytes.Contains(b, []byte("Redis unreachable; retrying"))
			})
			p.signal(syscall.SIGTERM)
			p.exited(10 * time.Second)
		})
	}
}
