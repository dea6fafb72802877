package stream_test

import (
	"context"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/stream"
	"github.com/leadscore/leads/pkg/testutil"
)

// TestReplayDLQPutsRecordsBack: dead letters go back to the events topic
// with their key, value and own headers, the dlq.* headers replaced by
// where they came from; a filter on the error, a first offset and a dry
// run select what is put back.
func TestReplayDLQPutsRecordsBack(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := testutil.Prefix(t)
	events, dlq := p+".events", p+".dlq"
	brokers := testutil.Kafka(t, 1, events, dlq)
	cfg := stream.Config{Brokers: brokers}
	w := stream.NewWriter(cfg, testutil.Logger(t))
	defer w.Close()
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	var dead []stream.Record
	for i, cause := range []string{"invalid JSON: unexpected end", "engine: unknown account", "engine: unknown account"} {
		orig := stream.Record{Topic: events, Partition: 0, Offset: int64(10 + i), Key: []byte("acme.io"),
			Value: []byte(`{"id":"e-` + string(rune('1'+i)) + `"}`), Headers: []stream.Header{{Key: "leads.source", Value: "crm"}}}
		dead = append(dead, stream.DLQRecord(orig, dlq, errors.New(cause), now))
	}
	require.NoError(t, w.Publish(ctx, dead...))

	read := func(topic string) []stream.Record {
		spans, err := stream.Spans(ctx, cfg, topic, time.Time{})
		require.NoError(t, err)
		var out []stream.Record
		require.NoError(t, stream.ReadSpans(ctx, cfg, topic, spans, time.Time{}, 100, testutil.Logger(t), func(recs []stream.Record) error {
			out = append(out, recs...)
			return nil
		}))
		return out
	}

	st, err := stream.ReplayDLQ(ctx, cfg, w, stream.ReplayOptions{DLQTopic: dlq, Target: events, DryRun: true})
	require.NoError(t, err)
	assert.Equal(t, stream.ReplayStats{Read: 3, Replayed: 3}, st)
	assert.Empty(t, read(events), "a dry run publishes nothing")

	st, err = stream.ReplayDLQ(ctx, cfg, w, stream.ReplayOptions{DLQTopic: dlq, Target: events, FromOffset: 1,
		Filter: regexp.MustCompile(`^engine:`)})
	require.NoError(t, err)
	assert.Equal(t, 2, st.Replayed, "the two engine errors from offset 1")
	back := read(events)
	require.Len(t, back, 2)
	for i, r := range back {
		assert.Equal(t, "acme.io", string(r.Key))
		assert.Equal(t, string(dead[i+1].Value), string(r.Value))
		assert.Equal(t, "crm", r.HeaderValue("leads.source"), "the record's own headers are kept")
		assert.Empty(t, r.HeaderValue(stream.HeaderDLQError), "no dlq.* headers on a replayed record")
		assert.NotEmpty(t, r.HeaderValue(stream.HeaderReplayedFrom))
	}
}
