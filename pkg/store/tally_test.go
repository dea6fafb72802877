package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/testutil"
)

// TestATallyCountsPerHourWithinASecond: counts added in two hours reach
// Redis within about a second, in their hours, and sum when added again.
func TestATallyCountsPerHourWithinASecond(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.New(testutil.RedisClient(t), testutil.Prefix(t))
	now := time.Now().UTC().Truncate(time.Hour).Add(30 * time.Minute)
	tally := st.Tally(store.TallyIntake)
	tally.Add(now.Add(-time.Hour), 7)
	tally.Add(now, 5)
	tally.Add(now, 3)
	assert.Same(t, tally, st.Tally(store.TallyIntake), "one tally a name")
	require.Eventually(t, func() bool {
		got, err := st.Hourly(ctx, store.TallyIntake, now, 3)
		require.NoError(t, err)
		return assert.ObjectsAreEqual([]int64{0, 7, 8}, got)
	}, 5*time.Second, 50*time.Millisecond, "oldest first: two hours ago, an hour ago, this hour")
	other, err := st.Hourly(ctx, store.TallyTransitions, now, 3)
	require.NoError(t, err)
	assert.Equal(t, []int64{0, 0, 0}, other, "each name apart")
}
