package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/leadscore/leads/pkg/demo"
	"github.com/leadscore/leads/pkg/embedded"
	"github.com/leadscore/leads/pkg/stream"
	"github.com/leadscore/leads/pkg/testutil"
)

// outage is how long outage tests keep a dependency down:
// LEADS_TEST_OUTAGE (a Go duration, e.g. 30s for the full drill), else 3 s
// so the suite stays fast. The behaviour does not change with the length:
// retries back off up to --max-backoff and go on until the dependency is
// back.
func outage(t *testing.T) time.Duration {
	if v := os.Getenv("LEADS_TEST_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err, "LEADS_TEST_OUTAGE")
		return d
	}
	return 3 * time.Second
}

// TestKafkaOutage stops the broker (its data kept on disk) while the
// ingestor and the scorer run, and starts it again on the same port after
// the outage. Meanwhile the ingestor answers 503 with Retry-After and
// acknowledges nothing, both programs report not ready, and afterwards
// they recover alone: every acknowledged event is scored once and every
// crossing published.
func TestKafkaOutage(t *testing.T) {
	t.Parallel()
	down := outage(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute+2*down)
	t.Cleanup(cancel)
	p := testutil.Prefix(t)
	r := &rig{t: t, ctx: ctx, prefix: p, events: p + ".events", dlq: p + ".dlq"}
	dir := t.TempDir()
	start := func(port int, topics ...string) *embedded.Kafka {
		k, err := embedded.StartKafka(zap.NewNop(), embedded.KafkaOptions{Port: port, Partitions: 4, Topics: topics, DataDir: dir})
		require.NoError(t, err)
		return k
	}
	k := start(0, r.events, r.dlq)
	t.Cleanup(func() { k.Close() })
	r.brokers = k.Addrs()
	_, portStr, err := net.SplitHostPort(r.brokers[0])
	require.NoError(t, err)
	port, err := strconv.Atoi(portStr)
	require.NoError(t, err)
	r.kcfg = stream.Config{Brokers: r.brokers}
	r.redis, r.rs = testutil.Redis(t)
	r.rdb = redis.NewClient(&redis.Options{Addr: r.redis})
	t.Cleanup(func() { r.rdb.Close() })
	g := demo.New(11, 20, begin, p+"-")
	r.history = append(g.Accounts(), g.Next(200, 20*time.Minute)...)
	x := pure(t, r.history)

	l := r.lane(t, "kafka")
	s := l.run("scorer", "")
	in := l.run("ingestor", "", "--retry-after", "2s")
	eventually(t, 20*time.Second, "both ready", func() bool {
		return in.ready() == http.StatusOK && s.ready() == http.StatusOK
	})
	half := len(r.history) / 2
	first, rest := r.history[:half], r.history[half:]
	body, err := json.Marshal(first)
	require.NoError(t, err)
	code, msg := post("http://"+in.http, body)
	require.Equal(t, http.StatusAccepted, code, msg)
	l.converges(pure(t, first), 30*time.Second)

	k.Close()
	downAt := time.Now()
	body, err = json.Marshal(rest)
	require.NoError(t, err)
	c := http.Client{Timeout: 30 * time.Second}
	resp, err := c.Post("http://"+in.http+"/v1/events", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "nothing acknowledged while the broker is down")
	assert.Equal(t, "2", resp.Header.Get("Retry-After"))
	eventually(t, 20*time.Second, "both not ready", func() bool {
		return in.ready() == http.StatusServiceUnavailable && s.ready() == http.StatusServiceUnavailable
	})
	time.Sleep(time.Until(downAt.Add(down)))
	require.Nil(t, s.cmd.ProcessState, "the scorer waits; it does not exit")

	k = start(port)
	eventually(t, 30*time.Second, "both ready again", func() bool {
		return in.ready() == http.StatusOK && s.ready() == http.StatusOK
	})
	// The client retries the refused batch, as Retry-After told it to.
	eventually(t, 30*time.Second, "the retried batch accepted", func() bool {
		code, _ := post("http://"+in.http, body)
		return code == http.StatusAccepted
	})
	l.converges(x, 45*time.Second)
	s.kill()
	in.kill()
}

// TestRedisOutage stops redis-server (with its append-only file, so its
// data outlives the stop) while the ingestor, the scorer and a decayer
// run, and starts it again after the outage. Meanwhile all three report not
// ready; the ingestor still accepts events, since Kafka has them; the
// scorer retries with backoff and afterwards every event is scored once.
func TestRedisOutage(t *testing.T) {
	t.Parallel()
	down := outage(t)
	r := newRig(t, 20, 200)
	aof, err := embedded.StartRedis(r.ctx, zap.NewNop(), embedded.RedisOptions{AppendOnly: true})
	require.NoError(t, err)
	t.Cleanup(func() { aof.Close() })
	if aof.Kind() != embedded.KindRedisServer {
		t.Skip("needs redis-server to stop and restart it")
	}
	r.redis = aof.Addr()
	r.rdb = redis.NewClient(&redis.Options{Addr: r.redis})
	t.Cleanup(func() { r.rdb.Close() })
	x := pure(t, r.history)

	l := r.lane(t, "redis")
	s := l.run("scorer", "")
	in := l.run("ingestor", "")
	d := r.lane(t, "decayer").run("decayer", "", "--interval", "1s", "--max-backoff", "500ms")
	all := []*proc{s, in, d}
	readyAll := func(code int) func() bool {
		return func() bool {
			for _, p := range all {
				if p.ready() != code {
					return false
				}
			}
			return true
		}
	}
	eventually(t, 20*time.Second, "all ready", readyAll(http.StatusOK))
	half := len(r.history) / 2
	body, err := json.Marshal(r.history[:half])
	require.NoError(t, err)
	code, msg := post("http://"+in.http, body)
	require.Equal(t, http.StatusAccepted, code, msg)
	l.converges(pure(t, r.history[:half]), 30*time.Second)

	require.NoError(t, aof.Stop())
	downAt := time.Now()
	body, err = json.Marshal(r.history[half:])
	require.NoError(t, err)
	code, msg = post("http://"+in.http, body)
	require.Equal(t, http.StatusAccepted, code, "Kafka is up: events are accepted: %s", msg)
	eventually(t, 20*time.Second, "none ready", readyAll(http.StatusServiceUnavailable))
	time.Sleep(time.Until(downAt.Add(down)))
	for _, p := range all {
		require.Nil(t, p.cmd.ProcessState, "%s waits; it does not exit", p.name)
	}
	require.NoError(t, aof.Start(r.ctx))
	eventually(t, 30*time.Second, "all ready again", readyAll(http.StatusOK))
	l.converges(x, 45*time.Second)
}
