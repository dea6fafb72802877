package program

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/leadscore/leads/pkg/stream"
	"github.com/leadscore/leads/pkg/testutil"
)

// TestLagAndAgeRiseWhileTheScorerIsStuck: while the scorer retries a batch
// it cannot commit (Redis is down), each partition's lag in records is
// what the partition holds beyond the group's committed offset, it grows
// with what arrives, and the age of the oldest unprocessed event keeps
// rising; once Redis is back both fall to 0. (The old leads_scorer_lag
// stayed 0 throughout: it was the lag of the last record handed out.)
func TestLagAndAgeRiseWhileTheScorerIsStuck(t *testing.T) {
	t.Parallel()
	p := testutil.Prefix(t)
	topic := p + ".events"
	brokers := testutil.Kafka(t, 3, topic, p+".t", p+".dlq")
	redisAddr, redis := testutil.Redis(t)
	url := startProgram(t, "scorer", Scorer, zap.NewNop(), "--kafka-brokers="+brokers[0], "--redis-addr="+redisAddr,
		"--namespace="+p, "--events-topic="+topic, "--transitions-topic="+p+".t", "--dlq-topic="+p+".dlq", "--group="+p,
		"--max-backoff=200ms", "--lag-interval=100ms")
	require.Eventually(t, func() bool { code, _, _ := probe(t, url); return code == http.StatusOK },
		20*time.Second, 50*time.Millisecond, "ready")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	kafka := stream.Config{Brokers: brokers}
	w := stream.NewWriter(kafka, zap.NewNop())
	defer w.Close()
	publish := func(from, n int) []stream.Span {
		recs := make([]stream.Record, n)
		for i := range recs {
			id := from + i
			recs[i] = stream.Record{Topic: topic, Key: fmt.Appendf(nil, "c-%d", id), Value: fmt.Appendf(nil,
				`{"id":"e%d","type":"email.opened","contact_id":"c-%d","time":"2026-11-20T10:00:00Z"}`, id, id)}
		}
		require.NoError(t, w.Publish(ctx, recs...))
		spans, err := stream.Spans(ctx, kafka, topic, time.Time{})
		require.NoError(t, err)
		return spans
	}
	// lagIs waits until every partition's lag is its end (nothing committed).
	lagIs := func(spans []stream.Span) map[int]float64 {
		t.Helper()
		var ages map[int]float64
		require.Eventually(t, func() bool {
			lag, age := lagMetrics(t, url, topic)
			for _, s := range spans {
				if lag[s.Partition] != float64(s.End) || s.End > 0 && age[s.Partition] <= 0 {
					return false
				}
			}
			ages = age
			return true
		}, 20*time.Second, 50*time.Millisecond, "lag per partition is what it holds: %v", spans)
		return ages
	}

	// The scorer takes a batch and retries it while Redis is down: it
	// commits no offset.
	require.NoError(t, redis.Stop())
	spans := publish(0, 30)
	partitions := 0
	for _, s := range spans {
		if s.End > 0 {
			partitions++
		}
	}
	require.Greater(t, partitions, 1, "30 keys over 3 partitions")
	first := lagIs(spans)
	require.Eventually(t, func() bool {
		_, age := lagMetrics(t, url, topic)
		for _, s := range spans {
			if s.End > 0 && age[s.Partition] < first[s.Partition]+1 {
				return false
			}
		}
		return true
	}, 20*time.Second, 100*time.Millisecond, "the oldest event's age keeps rising on every partition")
	spans = publish(30, 30)
	lagIs(spans)
	assert.NotContains(t, metricsText(t, url), "leads_scorer_lag ", "the old gauge is gone")

	require.NoError(t, redis.Start(ctx))
	require.Eventually(t, func() bool {
		lag, age := lagMetrics(t, url, topic)
		for _, s := range spans {
			if lag[s.Partition] != 0 || age[s.Partition] != 0 {
				return false
			}
		}
		return true
	}, 30*time.Second, 100*time.Millisecond, "no lag and no age once the scorer committed everything")
}

// lagMetrics scrapes the scorer's lag and oldest-event age by partition
// of topic (absent partitions read as -1).
func lagMetrics(t *testing.T, url, topic string) (lag, age map[int]float64) {
	t.Helper()
	mfs := scrape(t, url)
	byPartition := func(name string) map[int]float64 {
		out := map[int]float64{}
		for i := range 16 {
			out[i] = -1
		}
		for _, m := range mfs[name].GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["topic"] != topic {
				continue
			}
			p, err := strconv.Atoi(labels["partition"])
			require.NoError(t, err)
			out[p] = m.GetGauge().GetValue()
		}
		return out
	}
	return byPartition("leads_scorer_lag_records"), byPartition("leads_scorer_oldest_unprocessed_age_seconds")
}

func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return mfs
}

func metricsText(t *testing.T, url string) string {
	t.Helper()
	_, body := call(t, http.MethodGet, url+"/metrics", "", "")
	return body
}
