package reliability

import (
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/store"
)

// TestDecayerOnceRunAsCronDecaysEveryRun runs `decayer --once` as cron or
// a Kubernetes CronJob does: a new process, so a new --owner, each time,
// with more due at each run. Each run decays what is due, as the engine
// says (a finished run used to keep its shard leases for --lease-ttl, so
// the next run within it decayed nothing and exited 0), and leaves no
// lease behind. A third run finds a shard leased by a decayer that died
// (its lease expires in 2 s): it waits for the lease and decays that shard
// too.
func TestDecayerOnceRunAsCronDecaysEveryRun(t *testing.T) {
	t.Parallel()
	r := newRig(t, 30, 250)
	r.publish(r.history...)
	last := r.history[len(r.history)-1].Time
	runs := []time.Time{last.Add(40 * 24 * time.Hour), last.Add(120 * 24 * time.Hour), last.Add(400 * 24 * time.Hour)}
	scored := pure(t, r.history)
	l := r.lane(t, "cron")
	s := l.run("scorer", "")
	l.converges(scored, 45*time.Second)
	s.kill()

	prev := scored
	for i, now := range runs {
		x := pureDue(t, r.history, runs[:i+1]...)
		was, _ := prev.views()
		want, _ := x.views()
		x.dropAnchors(was)
		x.dropAnchors(want)
		require.NotEqual(t, was, want, "run %d has contacts to decay", i)
		args := []string{"--once", "--now", now.Format(time.RFC3339), "--owner", fmt.Sprintf("cron-%d", i)}
		if i == 2 {
			// A decayer that died holds the shard of a contact this run
			// decays, its lease running out in 2 s.
			var changed string
			for id, v := range want {
				if v != was[id] {
					changed = id
					break
				}
			}
			group := store.DueShard(changed) / (store.DueShards / store.DueGroups)
			ok, err := l.st.Lease(r.ctx, group, "died-mid-pass", 2*time.Second)
			require.NoError(t, err)
			require.True(t, ok)
			args = append(args, "--lease-ttl", "5s")
		}
		l.run("decayer", "", args...).exited(30 * time.Second)
		owners, err := l.st.LeaseOwners(r.ctx)
		require.NoError(t, err)
		assert.Empty(t, owners, "run %d left no shard lease", i)
		l.converges(x, 10*time.Second)
		prev = x
	}
}

// TestDecayerOnceFailsWhileAnotherOwnerHoldsAShard: `decayer --once`
// cannot decay a shard another decayer keeps leased; it waits up to
// --lease-ttl (and a second) for the lease, then exits 1 naming the shard
// and its owner, instead of exiting 0 as if it had decayed everything. It
// releases the shards it did lease.
func TestDecayerOnceFailsWhileAnotherOwnerHoldsAShard(t *testing.T) {
	t.Parallel()
	r := newRig(t, 0, 0)
	l := r.lane(t, "held")
	ok, err := l.st.Lease(r.ctx, 7, "replica-x", time.Hour)
	require.NoError(t, err)
	require.True(t, ok)
	start := time.Now()
	p := l.run("decayer", "", "--once", "--owner", "cron-0", "--lease-ttl", "1s")
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatal("decayer --once did not exit within 20 s")
	}
	assert.Equal(t, 1, p.cmd.ProcessState.ExitCode(), "exit status")
	assert.GreaterOrEqual(t, time.Since(start), time.Second, "it waited for the lease")
	out, err := os.ReadFile(p.out)
	require.NoError(t, err)
	assert.Contains(t, string(out), `replica-x`)
	assert.Contains(t, string(out), `group 7`)
	owners, err := l.st.LeaseOwners(r.ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"replica-x": true}, owners, "cron-0 released the shards it leased")
}

// TestSIGTERMReleasesTheDecayersLeases: a decayer stopped by SIGTERM
// releases its shard leases, so another decayer (or a `--once` run) takes
// the shards over at once instead of after --lease-ttl.
func TestSIGTERMReleasesTheDecayersLeases(t *testing.T) {
	t.Parallel()
	r := newRig(t, 0, 0)
	l := r.lane(t, "term")
	d := l.run("decayer", "", "--interval", "1h", "--owner", "live-0")
	eventually(t, 20*time.Second, "the decayer holds its shards", func() bool {
		owners, err := l.st.LeaseOwners(r.ctx)
		return err == nil && owners["live-0"]
	})
	d.signal(syscall.SIGTERM)
	d.exited(10 * time.Second)
	owners, err := l.st.LeaseOwners(r.ctx)
	require.NoError(t, err)
	assert.Empty(t, owners)
}
