package app

import (
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/leadscore/leads/pkg/model"
)

func TestWatchReviewExportsTheScheduleAndWarnsWhenOverdue(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		now     time.Time
		overdue float64
		warns   int
	}{
		{time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), 0, 0},
		{time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC), 1, 1},
	} {
		core, logs := observer.New(zap.WarnLevel)
		reg := prometheus.NewRegistry()
		WatchReview(reg, zap.New(core), model.Default(), func() time.Time { return tc.now })
		require.NoError(t, testutil.GatherAndCompare(reg, stringsReader(`
# HELP leads_model_review_overdue 1 when the scoring model's review is past due.
# TYPE leads_model_review_overdue gauge
leads_model_review_overdue `+map[float64]string{0: "0", 1: "1"}[tc.overdue]+`
`), "leads_model_review_overdue"))
		due := time.Date(2027, 1, 23, 0, 0, 0, 0, time.UTC)
		assert.Equal(t, float64(due.Unix()), gauge(t, reg, "leads_model_review_due_timestamp_seconds"))
		assert.Equal(t, tc.warns, logs.Len())
	}
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

func gauge(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func TestValidateNamesTheCommonFlagThatIsMissingOrWrong(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		args []string
		err  error
	}{
		{"the defaults", nil, nil},
		{"no brokers", []string{"--kafka-brokers= "}, ErrBrokersFlag},
		{"no Redis", []string{"--redis-addr="}, ErrNoRedis},
		{"no DLQ topic", []string{"--dlq-topic="}, ErrNoTopics},
		{"an unknown log level", []string{"--log-level=loud"}, ErrLogLevel},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			var c Common
			c.RegisterFlags(fs, ":0")
			require.NoError(t, fs.Parse(tt.args))
			err := c.Validate()
			if tt.err == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tt.err)
			assert.Equal(t, tt.err.Error(), err.Error(), "only that problem")
		})
	}
}
