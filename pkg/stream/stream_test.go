package stream

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/testutil"
)

func TestPublishConsumeCommitResume(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topic := testutil.Prefix(t)
	brokers := testutil.Kafka(t, 4, topic)
	log := testutil.Logger(t)
	cfg := Config{Brokers: brokers, SessionTimeout: time.Second}
	w := NewWriter(cfg, log)
	defer w.Close()

	var recs []Record
	for i := range 100 {
		recs = append(recs, Record{Topic: topic, Key: []byte(fmt.Sprint("k", i%10)), Value: []byte(fmt.Sprint(i)),
			Headers: []Header{{"n", fmt.Sprint(i)}}})
	}
	require.NoError(t, w.Publish(ctx, recs...))

	c := NewConsumer(cfg, topic+"-g", topic, log)
	got := map[string]Record{}
	partOfKey := map[string]int{}
	var first []Record
	for len(got) < 60 {
		batch, err := c.FetchBatch(ctx, 30, 50*time.Millisecond)
		require.NoError(t, err)
		for _, r := range batch {
			if len(got) < 60 {
				got[string(r.Value)] = r
				first = append(first, r)
			}
			if p, ok := partOfKey[string(r.Key)]; ok {
				assert.Equal(t, p, r.Partition, "one key, one partition")
			}
			partOfKey[string(r.Key)] = r.Partition
			assert.Equal(t, string(r.Value), r.HeaderValue("n"))
		}
	}
	require.NoError(t, c.Commit(ctx, first))
	require.NoError(t, c.Close())

	// A new member of the group resumes after the committed offsets: it sees
	// every record not committed, and none that was.
	c2 := NewConsumer(cfg, topic+"-g", topic, log)
	defer c2.Close()
	rest := map[string]bool{}
	for len(rest) < 40 {
		batch, err := c2.FetchBatch(ctx, 100, 50*time.Millisecond)
		require.NoError(t, err)
		for _, r := range batch {
			_, dup := got[string(r.Value)]
			if dup {
				// Records after the committed offset of their partition but
				// fetched in the first round are redelivered: only those.
				assert.Greater(t, r.Offset, committedOffset(first, r.Partition))
				continue
			}
			rest[string(r.Value)] = true
		}
	}
	assert.Len(t, rest, 40)
}

func committedOffset(recs []Record, partition int) int64 {
	off := int64(-1)
	for _, r := range recs {
		if r.Partition == partition && r.Offset > off {
			off = r.Offset
		}
	}
	return off
}

func TestEnsureTopicsIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	brokers := testutil.Kafka(t, 1)
	spec := TopicSpec{Name: testutil.Prefix(t), Partitions: 3, Config: map[string]string{"retention.ms": "-1"}}
	require.NoError(t, EnsureTopics(ctx, brokers, spec))
	require.NoError(t, EnsureTopics(ctx, brokers, spec))
}

func TestDLQRecordHeaders(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	rec := Record{Topic: "leads.events", Partition: 3, Offset: 42, Key: []byte("k"), Value: []byte("{"),
		Headers: []Header{{"trace", "t1"}, {HeaderDLQError, "old"}}}
	d := DLQRecord(rec, "leads.events.dlq", errors.New("invalid JSON"), now)
	assert.Equal(t, "leads.events.dlq", d.Topic)
	assert.Equal(t, rec.Key, d.Key)
	assert.Equal(t, rec.Value, d.Value)
	assert.Equal(t, "t1", d.HeaderValue("trace"))
	assert.Equal(t, "invalid JSON", d.HeaderValue(HeaderDLQError))
	assert.Equal(t, "leads.events", d.HeaderValue(HeaderDLQTopic))
	assert.Equal(t, "3", d.HeaderValue(HeaderDLQPartition))
	assert.Equal(t, "42", d.HeaderValue(HeaderDLQOffset))
	assert.Equal(t, "2026-11-24T10:00:00Z", d.HeaderValue(HeaderDLQTime))
}

func BenchmarkPublish(b *testing.B) {
	ctx := context.Background()
	topic := "bench"
	brokers := testutil.Kafka(b, 8, topic)
	w := NewWriter(Config{Brokers: brokers}, testutil.Logger(b))
	defer w.Close()
	batch := make([]Record, 1000)
	for i := range batch {
		batch[i] = Record{Topic: topic, Key: []byte(fmt.Sprint("acct-", i%97)),
			Value: []byte(`{"id":"evt-1","type":"email.opened","contact_id":"c-42","account_id":"acme.com","time":"2026-11-20T10:00:00Z"}`)}
	}
	for b.Loop() {
		if err := w.Publish(ctx, batch...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "msgs/s")
}
