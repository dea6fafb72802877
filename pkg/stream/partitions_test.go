package stream

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol/metadata"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countingTransport answers metadata for the topics it knows, and counts
// the requests it is sent.
type countingTransport struct {
	known map[string]int
	calls int
	err   error
}

func (c *countingTransport) RoundTrip(_ context.Context, _ net.Addr, req kafka.Request) (kafka.Response, error) {
	c.calls++
	if c.err != nil {
		return nil, c.err
	}
	m, ok := req.(*metadata.Request)
	if !ok {
		return nil, nil
	}
	res := &metadata.Response{}
	for _, name := range m.TopicNames {
		t := metadata.ResponseTopic{Name: name, ErrorCode: int16(kafka.UnknownTopicOrPartition)}
		if n, ok := c.known[name]; ok {
			t.ErrorCode, t.Partitions = 0, make([]metadata.ResponsePartition, n)
		}
		res.Topics = append(res.Topics, t)
	}
	return res, nil
}

func TestTheWriterAsksForATopicsPartitionsOnceInAWhile(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	inner := &countingTransport{known: map[string]int{"events": 8}}
	tm := &topicMetadata{RoundTripper: inner, now: func() time.Time { return at }}
	ask := func(topic string) (*metadata.Response, error) {
		res, err := tm.RoundTrip(context.Background(), kafka.TCP("b:9092"), &metadata.Request{TopicNames: []string{topic}})
		if err != nil {
			return nil, err
		}
		return res.(*metadata.Response), nil
	}
	for range 1000 {
		res, err := ask("events")
		require.NoError(t, err)
		assert.Len(t, res.Topics[0].Partitions, 8)
	}
	assert.Equal(t, 1, inner.calls, "asked once for a thousand messages")

	inner.known["events"] = 12
	at = at.Add(partitionsTTL)
	res, err := ask("events")
	require.NoError(t, err)
	assert.Len(t, res.Topics[0].Partitions, 12, "partitions added are seen after partitionsTTL")
	assert.Equal(t, 2, inner.calls)

	for range 3 {
		res, err := ask("typo")
		require.NoError(t, err)
		assert.Equal(t, int16(kafka.UnknownTopicOrPartition), res.Topics[0].ErrorCode)
	}
	assert.Equal(t, 5, inner.calls, "an unknown topic is asked for again")

	inner.err = errors.New("broker down")
	at = at.Add(partitionsTTL)
	for range 2 {
		_, err := ask("events")
		require.Error(t, err)
	}
	assert.Equal(t, 7, inner.calls, "a failure is not kept")

	inner.err = nil
	_, err = tm.RoundTrip(context.Background(), kafka.TCP("b:9092"), &metadata.Request{TopicNames: []string{"events", "other"}})
	require.NoError(t, err)
	_, err = tm.RoundTrip(context.Background(), kafka.TCP("b:9092"), &metadata.Request{TopicNames: []string{"typo"}, AllowAutoTopicCreation: true})
	require.NoError(t, err)
	assert.Equal(t, 9, inner.calls, "other requests pass through")
}
