package stream

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/testutil"
)

// TestLagReaderSeesWhatTheGroupHasNotCommitted: the lag of a partition is
// its end minus the group's committed offset (its start before any
// commit), whatever the group's members fetched, and the oldest time is
// that of the first record not committed.
func TestLagReaderSeesWhatTheGroupHasNotCommitted(t *testing.T) {
	t.Parallel()
	r := newRig(t, 2)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var recs []Record
	for i := range 20 {
		recs = append(recs, Record{Topic: r.topic, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Append(nil, i),
			Time: t0.Add(time.Duration(i) * time.Second)})
	}
	require.NoError(t, r.w.Publish(r.ctx, recs...))
	group := testutil.Prefix(t) + "-g"
	lr := NewLagReader(r.cfg, group, r.topic)
	defer lr.Close()

	// Nothing committed: every record is to do, the oldest is each
	// partition's first.
	lags, err := lr.Read(r.ctx)
	require.NoError(t, err)
	require.Len(t, lags, 2)
	total := int64(0)
	for i, l := range lags {
		assert.Equal(t, i, l.Partition)
		assert.Equal(t, r.topic, l.Topic)
		assert.Zero(t, l.Next)
		assert.Equal(t, l.End, l.Records())
		total += l.Records()
	}
	assert.Equal(t, int64(20), total)

	// A member fetches everything and commits only the first three of
	// each partition: the rest is still to do.
	c := r.consumer(t, group, r.topic)
	got := fetch(t, r.ctx, c, 20)
	byPartition := map[int][]Record{}
	for _, rec := range got {
		byPartition[rec.Partition] = append(byPartition[rec.Partition], rec)
	}
	var done []Record
	for _, rs := range byPartition {
		require.Greater(t, len(rs), 3, "20 keys spread over both partitions")
		done = append(done, rs[:3]...)
	}
	require.NoError(t, c.Commit(r.ctx, done))
	lags, err = lr.Read(r.ctx)
	require.NoError(t, err)
	for _, l := range lags {
		rs := byPartition[l.Partition]
		assert.Equal(t, int64(3), l.Next, "partition %d", l.Partition)
		assert.Equal(t, int64(len(rs)-3), l.Records(), "partition %d", l.Partition)
		assert.True(t, rs[3].Time.Equal(l.Oldest), "partition %d: oldest %v, the fourth record's time %v", l.Partition, l.Oldest, rs[3].Time)
	}

	require.NoError(t, c.Commit(r.ctx, got))
	lags, err = lr.Read(r.ctx)
	require.NoError(t, err)
	for _, l := range lags {
		assert.Zero(t, l.Records(), "partition %d", l.Partition)
		assert.True(t, l.Oldest.IsZero())
	}
}
