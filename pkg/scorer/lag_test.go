package scorer

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/stream"
	"github.com/leadscore/leads/pkg/testutil"
)

// TestLagKeepsItsLastReadingWhileReadsFail: a read that fails (Kafka
// unreachable) leaves the last reading, and the oldest event's age, taken
// at each scrape, keeps rising; a partition with nothing left has age 0.
func TestLagKeepsItsLastReadingWhileReadsFail(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	now := t0
	fail := false
	l := NewLag(func(context.Context) ([]stream.PartitionLag, error) {
		if fail {
			return nil, errors.New("dial tcp 10.0.0.1:9092: connection refused")
		}
		return []stream.PartitionLag{
			{Topic: "leads.events", Partition: 0, End: 50, Next: 20, Oldest: t0.Add(-30 * time.Second)},
			{Topic: "leads.events", Partition: 1, End: 7, Next: 7},
		}, nil
	}, time.Second, testutil.Logger(t))
	l.now = func() time.Time { return now }
	want := func(age0 string) string {
		return `
# HELP leads_scorer_lag_records Records of the partition the scorers' consumer group has not committed yet (end offset minus committed offset), as last read from the brokers.
# TYPE leads_scorer_lag_records gauge
leads_scorer_lag_records{partition="0",topic="leads.events"} 30
leads_scorer_lag_records{partition="1",topic="leads.events"} 0
# HELP leads_scorer_oldest_unprocessed_age_seconds Age of the partition's oldest record not committed yet (now minus its ingest time); 0 when none is left.
# TYPE leads_scorer_oldest_unprocessed_age_seconds gauge
leads_scorer_oldest_unprocessed_age_seconds{partition="0",topic="leads.events"} ` + age0 + `
leads_scorer_oldest_unprocessed_age_seconds{partition="1",topic="leads.events"} 0
`
	}
	l.refresh(context.Background())
	require.NoError(t, promtest.CollectAndCompare(l, strings.NewReader(want("30"))))
	fail = true
	now = t0.Add(time.Minute)
	l.refresh(context.Background())
	require.NoError(t, promtest.CollectAndCompare(l, strings.NewReader(want("90"))))
}
