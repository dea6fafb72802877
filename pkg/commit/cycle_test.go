package commit

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/store"
)

// TestCycleRedoesAfterAConflictAndDeliversWhatCommittedFirst: a try that
// committed part of its batch and conflicted on the rest has its post
// delivered before the next try; the last try's post is returned
// undelivered.
func TestCycleRedoesAfterAConflictAndDeliversWhatCommittedFirst(t *testing.T) {
	t.Parallel()
	c := &Committer{Writer: ScorerWriter()}
	partial, last := newPost(), newPost()
	var delivered []*Post
	tries := 0
	p, err := c.Cycle(context.Background(), func(need *Needs) (*Post, error) {
		tries++
		if tries == 1 {
			return partial, fmt.Errorf("home a:x: %w", store.ErrConflict)
		}
		return last, nil
	}, func(_ context.Context, p *Post) error { delivered = append(delivered, p); return nil })
	require.NoError(t, err)
	assert.Equal(t, 2, tries)
	assert.Same(t, last, p)
	require.Len(t, delivered, 1)
	assert.Same(t, partial, delivered[0], "what committed is delivered before the redo")
}

// TestCycleLoadsMissingHomesWholeOnTheNextTry: a MissingError's homes are
// asked for whole from then on.
func TestCycleLoadsMissingHomesWholeOnTheNextTry(t *testing.T) {
	t.Parallel()
	c := &Committer{Writer: ScorerWriter()}
	var asked []map[string]bool
	_, err := c.Cycle(context.Background(), func(need *Needs) (*Post, error) {
		asked = append(asked, maps.Clone(need.Whole))
		switch len(asked) {
		case 1:
			return nil, &MissingError{Homes: []string{"a:x"}}
		case 2:
			return nil, &MissingError{Homes: []string{"c:y"}}
		}
		return newPost(), nil
	}, func(context.Context, *Post) error { return nil })
	require.NoError(t, err)
	assert.Equal(t, []map[string]bool{{}, {"a:x": true}, {"a:x": true, "c:y": true}}, asked)
}

// TestCycleGivesUpAfterMaxRedos: conflicts that keep coming back fail the
// cycle after MaxRedos redos, with the conflict; other errors at once.
func TestCycleGivesUpAfterMaxRedos(t *testing.T) {
	t.Parallel()
	c := &Committer{Writer: ScorerWriter()}
	tries := 0
	_, err := c.Cycle(context.Background(), func(*Needs) (*Post, error) {
		tries++
		return nil, store.ErrConflict
	}, func(context.Context, *Post) error { return nil })
	require.ErrorIs(t, err, store.ErrConflict)
	assert.Equal(t, MaxRedos+1, tries)

	tries = 0
	boom := errors.New("redis down")
	_, err = c.Cycle(context.Background(), func(*Needs) (*Post, error) { tries++; return nil, boom },
		func(context.Context, *Post) error { return nil })
	require.ErrorIs(t, err, boom)
	assert.Equal(t, 1, tries)
}

// TestAScorerThatCannotDeliverAPartialPostWritesUnderANewName: its entries
// stay in the outboxes, and a scorer leaves its own entries to the post in
// flight; under a new name its next loads publish them. A decayer keeps
// its name: its next pass publishes its own orphans.
func TestAScorerThatCannotDeliverAPartialPostWritesUnderANewName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		writer  string
		renamed bool
	}{{ScorerWriter(), true}, {DecayerWriter("d1"), false}} {
		c := &Committer{Writer: tc.writer}
		broker := errors.New("broker unavailable")
		_, err := c.Cycle(context.Background(), func(*Needs) (*Post, error) {
			return newPost(), store.ErrConflict
		}, func(context.Context, *Post) error { return broker })
		require.ErrorIs(t, err, broker)
		assert.Equal(t, tc.renamed, c.Writer != tc.writer, "%s renamed", tc.writer)
	}
}
