package decay

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/store"
	leadstest "github.com/leadscore/leads/pkg/testutil"
)

// groupOf is the group of due-index shards a contact is in.
func groupOf(contact string) int {
	return store.DueShard(contact) / (store.DueShards / store.DueGroups)
}

// scoreDue scores n contacts that are due for three decay steps at day 100.
func (r *rig) scoreDue(t *testing.T, n int) []string {
	t.Helper()
	var evs []event.Event
	var ids []string
	for i := range n {
		ids = append(ids, fmt.Sprint("c-", i))
		evs = append(evs, adjust(ids[i], 85))
	}
	r.score(t, evs...)
	return ids
}

func (r *rig) leaseOwners(t *testing.T) map[string]bool {
	t.Helper()
	owners, err := r.st.LeaseOwners(r.ctx)
	require.NoError(t, err)
	return owners
}

// TestRunReleasesItsLeasesWhenStopped: a decayer stopped cleanly (its
// context cancelled, as at SIGTERM) releases its shard leases, so that
// another one takes the shards at once rather than after the lease TTL.
func TestRunReleasesItsLeasesWhenStopped(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	d := r.decayer(t, "a")
	ctx, cancel := context.WithCancel(r.ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	require.Eventually(t, func() bool { return r.leaseOwners(t)["a"] }, 10*time.Second, 10*time.Millisecond, "a pass leased the shards")
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5 s of its context ending")
	}
	assert.Empty(t, r.leaseOwners(t))
}

// TestOnceReleasesItsLeasesSoTheNextRunDecays: Once (decayer --once) run as
// cron runs it, a new owner each time: each run decays what is due then and
// leaves no lease, so the next run within the lease TTL decays too.
func TestOnceReleasesItsLeasesSoTheNextRunDecays(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ids := r.scoreDue(t, 20)
	for i, tt := range []struct {
		day      int
		behavior int32
	}{{35, 75}, {100, 55}} {
		n, err := r.decayer(t, fmt.Sprint("cron-", i)).Once(r.ctx, day(tt.day))
		require.NoError(t, err)
		assert.Equal(t, len(ids), n, "run %d decays every contact", i)
		for _, id := range ids {
			assert.Equal(t, tt.behavior, r.contact(t, id).Behavior, "%s at day %d", id, tt.day)
		}
		assert.Empty(t, r.leaseOwners(t), "run %d released its leases", i)
	}
}

// TestOnceWaitsForAShardItsHolderReleases: Once finds a shard leased by
// another decayer, says so (a warning naming the owner, the gauge), waits,
// and decays it once the holder lets go.
func TestOnceWaitsForAShardItsHolderReleases(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ids := r.scoreDue(t, 20)
	held := groupOf(ids[0])
	ok, err := r.st.Lease(r.ctx, held, "b", time.Hour)
	require.NoError(t, err)
	require.True(t, ok)
	core, logs := observer.New(zapcore.WarnLevel)
	d, err := New(Config{Interval: time.Minute, BatchSize: 3, LeaseTTL: 10 * time.Second, Owner: "a", MaxBackoff: time.Second},
		zap.New(core), r.st, r.engine, r.sink, "t", nil)
	require.NoError(t, err)
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := d.Once(r.ctx, day(100))
		done <- result{n, err}
	}()
	require.Eventually(t, func() bool { return logs.FilterMessageSnippet("not leased").Len() > 0 }, 10*time.Second, 10*time.Millisecond)
	assert.InDelta(t, 1, testutil.ToFloat64(d.metrics.NotLeased), 0, "the gauge counts the group")
	warn := logs.FilterMessageSnippet("not leased").All()[0].ContextMap()
	assert.EqualValues(t, 1, warn["groups"])
	assert.Equal(t, []any{"b"}, warn["owners"])
	select {
	case res := <-done:
		t.Fatalf("Once returned while b held group %d: %d, %v", held, res.n, res.err)
	default:
	}
	assert.NotEqual(t, int32(55), r.contact(t, ids[0]).Behavior, "not decayed while b holds its shard")

	_, err = r.st.ReleaseLeases(r.ctx, "b")
	require.NoError(t, err)
	select {
	case res := <-done:
		require.NoError(t, res.err)
		assert.Equal(t, len(ids), res.n)
	case <-time.After(8 * time.Second):
		t.Fatal("Once did not finish within 8 s of the lease's release")
	}
	for _, id := range ids {
		assert.Equal(t, int32(55), r.contact(t, id).Behavior, id)
	}
	assert.Zero(t, testutil.ToFloat64(d.metrics.NotLeased))
	assert.Empty(t, r.leaseOwners(t))
}

// TestOnceFailsNamingTheShardsItCouldNotLease: a shard another decayer
// keeps leased past the lease TTL (and a margin) fails Once with an error
// naming the group and its owner; the rest is decayed and released.
func TestOnceFailsNamingTheShardsItCouldNotLease(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ids := r.scoreDue(t, 20)
	held := groupOf(ids[0])
	ok, err := r.st.Lease(r.ctx, held, "replica-b", time.Hour)
	require.NoError(t, err)
	require.True(t, ok)
	d, err := New(Config{Interval: time.Minute, BatchSize: 3, LeaseTTL: 500 * time.Millisecond, Owner: "a", MaxBackoff: time.Second},
		leadstest.Logger(t), r.st, r.engine, r.sink, "t", nil)
	require.NoError(t, err)
	start := time.Now()
	n, err := d.Once(r.ctx, day(100))
	took := time.Since(start)
	var nl *NotLeasedError
	require.ErrorAs(t, err, &nl)
	assert.Equal(t, map[int]string{held: "replica-b"}, nl.Groups)
	assert.ErrorContains(t, err, fmt.Sprintf("group %d", held))
	assert.ErrorContains(t, err, "replica-b")
	assert.GreaterOrEqual(t, took, 500*time.Millisecond, "it waited for the lease")
	assert.Less(t, took, 5*time.Second)
	decayed := 0
	for _, id := range ids {
		if groupOf(id) != held {
			assert.Equal(t, int32(55), r.contact(t, id).Behavior, id)
			decayed++
		}
	}
	assert.Equal(t, decayed, n)
	assert.Equal(t, map[string]bool{"replica-b": true}, r.leaseOwners(t), "a released the groups it leased")
}

// TestAPassThatCannotLeaseSaysSo: the long-running decayer's pass leaves a
// shard another replica holds to that replica, as before, but says so: the
// gauge leads_decayer_groups_not_leased and a warning naming the owners.
func TestAPassThatCannotLeaseSaysSo(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ids := r.scoreDue(t, 5)
	for _, g := range []int{groupOf(ids[0]), (groupOf(ids[0]) + 1) % store.DueGroups} {
		ok, err := r.st.Lease(r.ctx, g, "b", time.Hour)
		require.NoError(t, err)
		require.True(t, ok)
	}
	core, logs := observer.New(zapcore.WarnLevel)
	d, err := New(Config{Interval: time.Minute, BatchSize: 3, LeaseTTL: time.Minute, Owner: "a"},
		zap.New(core), r.st, r.engine, r.sink, "t", nil)
	require.NoError(t, err)
	_, err = d.Pass(r.ctx, day(100))
	require.NoError(t, err, "another replica's shards are not an error")
	assert.InDelta(t, 2, testutil.ToFloat64(d.metrics.NotLeased), 0)
	warns := logs.FilterMessageSnippet("not leased").All()
	require.Len(t, warns, 1)
	assert.EqualValues(t, 2, warns[0].ContextMap()["groups"])
	assert.Equal(t, []any{"b"}, warns[0].ContextMap()["owners"])
	assert.NotEqual(t, int32(55), r.contact(t, ids[0]).Behavior, "left to b")

	_, err = r.st.ReleaseLeases(r.ctx, "b")
	require.NoError(t, err)
	_, err = d.Pass(r.ctx, day(100))
	require.NoError(t, err)
	assert.Zero(t, testutil.ToFloat64(d.metrics.NotLeased))
	assert.Equal(t, int32(55), r.contact(t, ids[0]).Behavior)
	require.Len(t, logs.FilterMessageSnippet("not leased").All(), 1, "no warning when every group was leased")
}
