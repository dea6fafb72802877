package store

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReleaseLeasesReleasesOnlyTheOwnersLeases: an owner gives up every
// lease it holds and none another owner holds, also after Redis forgot
// the script; a released group can be leased by another owner at once.
func TestReleaseLeasesReleasesOnlyTheOwnersLeases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	lease := func(group int, owner string) bool {
		t.Helper()
		ok, err := s.Lease(ctx, group, owner, time.Hour)
		require.NoError(t, err)
		return ok
	}
	for g := range DueGroups {
		owner := "a"
		if g%4 == 0 {
			owner = "b"
		}
		require.True(t, lease(g, owner))
	}
	require.False(t, lease(0, "a"), "held by b")
	require.NoError(t, s.Client().ScriptFlush(ctx).Err())
	n, err := s.ReleaseLeases(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, DueGroups*3/4, n)
	leases, err := s.Leases(ctx)
	require.NoError(t, err)
	assert.Len(t, leases, DueGroups/4)
	for g, owner := range leases {
		assert.Equal(t, "b", owner, "group %d", g)
	}
	assert.True(t, lease(1, "c"), "a's group is free")
	n, err = s.ReleaseLeases(ctx, "a")
	require.NoError(t, err)
	assert.Zero(t, n, "nothing left to release")
	owners, err := s.LeaseOwners(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"b": true, "c": true}, owners)
}
