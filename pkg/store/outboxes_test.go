package store

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEachCommitTracksAnEntryOfItsOwn: two commits of one owner to one
// home track two entries, each removed only by its own token, and every
// form of entry names its home.
func TestEachCommitTracksAnEntryOfItsOwn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	first, err := s.TrackOutboxes(ctx, "d", []string{"a:acme.io"})
	require.NoError(t, err)
	second, err := s.TrackOutboxes(ctx, "d", []string{"a:acme.io"})
	require.NoError(t, err)
	require.NoError(t, s.UntrackOutboxes(ctx, second))
	tracked, err := s.TrackedOutboxes(ctx, 100)
	require.NoError(t, err)
	assert.Equal(t, first, tracked, "the second commit's untrack leaves the first's entry")
	for entry, token := range tracked {
		assert.Equal(t, "a:acme.io", TrackedHome(entry))
		assert.Equal(t, "d", TokenOwner(token))
	}
	assert.Equal(t, "a:acme.io", TrackedHome("d\x00a:acme.io"), "an entry of an owner, written before entries were a commit's")
	assert.Equal(t, "a:acme.io", TrackedHome("a:acme.io"), "an entry written before entries named their owner")
}
