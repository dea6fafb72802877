package reliability

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fp "github.com/leadscore/leads/pkg/failpoint"
)

// metric reads one unlabelled sample from the process's /metrics, or -1.
func (p *proc) metric(name string) float64 {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://" + p.http + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// stopped reports whether the process is stopped (state T in /proc).
func (p *proc) stopped() bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && i+2 < len(b) && b[i+2] == 'T'
}

// TestDecayerKilledMidPass kills `decayer --once` between two batches of a
// pass, and again between a batch's Redis commit and its transitions,
// then runs it to the end: every contact decays exactly as the engine
// says, once, and every crossing of the pass is published.
func TestDecayerKilledMidPass(t *testing.T) {
	t.Parallel()
	r := newRig(t, 30, 250)
	r.publish(r.history...)
	last := r.history[len(r.history)-1].Time
	now := last.Add(120 * 24 * time.Hour)
	scored, decayed := pure(t, r.history), pure(t, r.history, now)
	require.Greater(t, len(decayed.ids), len(scored.ids), "the pass crosses thresholds")

	l := r.lane(t, "decay")
	s := l.run("scorer", "")
	l.converges(scored, 45*time.Second)
	s.kill()
	once := []string{"--once", "--now", now.Format(time.RFC3339), "--batch-size", "3", "--owner", "decayer-0"}
	l.run("decayer", fp.DecayBetweenBatches+":2", once...).killed(30 * time.Second)
	l.run("decayer", fp.BeforePublish+":1", once...).killed(30 * time.Second)
	l.run("decayer", "", once...).exited(30 * time.Second)
	l.converges(decayed, 10*time.Second)
	// Once more at the same instant changes nothing.
	l.run("decayer", "", once...).exited(30 * time.Second)
	l.converges(decayed, 10*time.Second)
}

// post sends a JSON array of events; code 0 means no answer.
func post(url string, body []byte) (int, string) {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Post(url+"/v1/events", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// postUntilAccepted posts body to the ingestor until one answers 202, and
// returns that one. After each failure, failed gets the status (0 when
// nothing answered) and the body, and returns the ingestor to try next.
func postUntilAccepted(in *proc, body []byte, failed func(code int, msg string) *proc) *proc {
	for {
		code, msg := post("http://"+in.http, body)
		if code == http.StatusAccepted {
			return in
		}
		in = failed(code, msg)
	}
}

// waitReady waits until the program's /readyz answers 200 and returns it.
func waitReady(p *proc) *proc {
	p.t.Helper()
	eventually(p.t, 20*time.Second, p.name+" ready", func() bool { return p.ready() == http.StatusOK })
	return p
}

// TestIngestorKilledMidRequest kills the ingestor after Kafka acknowledged
// a request's events but before it answered: the client gets no 202,
// retries against the restarted ingestor, and every event counts once.
func TestIngestorKilledMidRequest(t *testing.T) {
	t.Parallel()
	r := newRig(t, 15, 120)
	x := pure(t, r.history)
	l := r.lane(t, "ingest")
	s := l.run("scorer", "")
	in := waitReady(l.run("ingestor", fp.IngestAfterPublish+":2"))
	const chunk = 40
	var failed int
	for i := 0; i < len(r.history); i += chunk {
		body, err := json.Marshal(r.history[i:min(i+chunk, len(r.history))])
		require.NoError(t, err)
		in = postUntilAccepted(in, body, func(code int, msg string) *proc {
			require.Zero(t, code, "only the dead ingestor fails: %s", msg)
			failed++
			in.killed(10 * time.Second)
			return waitReady(l.run("ingestor", ""))
		})
	}
	assert.Equal(t, 1, failed, "the second request died with the ingestor")
	l.converges(x, 45*time.Second)
	s.kill()
}

// TestZombieScorerIsFenced stops one of two scorers of a group (SIGSTOP,
// from a failpoint) after it applied a batch in memory and before its
// Redis commit. The other takes its partitions once its session times out
// and scores everything; then the zombie wakes (SIGCONT) and tries to
// commit its stale batch: the version check refuses it, it reloads, finds
// the events applied, and nothing is lost or counted twice.
func TestZombieScorerIsFenced(t *testing.T) {
	t.Parallel()
	r := newRig(t, 30, 300)
	x := pure(t, r.history)
	l := r.lane(t, "zombie")
	// At debug, so that a failure shows what the zombie did after it woke
	// (the harness prints a failed test's process output).
	zombie := l.run("scorer", fp.ScorerBeforeCommit+":1:stop", "--log-level", "debug")
	defer func() {
		if t.Failed() {
			for _, m := range []string{"leads_scorer_version_conflicts_total", "leads_scorer_dedupe_hits_total",
				"leads_scorer_batch_events_count", "leads_scorer_stalled_seconds", "leads_ready"} {
				t.Logf("zombie: %s %v", m, zombie.metric(m))
			}
		}
	}()
	eventually(t, 20*time.Second, "first scorer ready", func() bool { return zombie.ready() == http.StatusOK })
	r.publish(r.history...)
	eventually(t, 30*time.Second, "the first scorer stopped at its failpoint", zombie.stopped)
	// The other starts only now: had it joined before, a rebalance could
	// hand it the zombie's partitions and let it apply the zombie's batch
	// before the zombie loaded it, leaving the zombie nothing stale to write.
	other := l.run("scorer", "")
	eventually(t, 20*time.Second, "second scorer ready", func() bool { return other.ready() == http.StatusOK })
	l.converges(x, 45*time.Second)
	require.True(t, zombie.stopped(), "still a zombie while the other took over")

	zombie.signal(syscall.SIGCONT)
	eventually(t, 30*time.Second, "the zombie's stale commit refused", func() bool {
		return zombie.metric("leads_scorer_version_conflicts_total") >= 1
	})
	l.converges(x, 20*time.Second)
	zombie.kill()
	other.kill()
}
