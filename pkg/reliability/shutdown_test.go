package reliability

import (
	"encoding/json"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
		in = postUntilAccepted(in, body, func(code int, msg string) *proc {
			// A stopping ingestor refuses the request or is gone; the
			// client sends it again to the next one.
			require.Contains(t, []int{0, http.StatusServiceUnavailable}, code, msg)
			refused++
			in.exited(10 * time.Second)
			return waitReady(l.run("ingestor", ""))
		})
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
