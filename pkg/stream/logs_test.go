package stream

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestKafkaGoLogLinesNameTheirCaller: every line kafka-go logs, through the
// consumer, at Debug (its chatter) and at Warn (its errors), reports as its
// caller the kafka-go statement that logged it (consumergroup.go,
// reader.go, ...), not the adapter routing it into zap, which made every
// line read the adapter's file. The writer, which logs only its retries,
// logs nothing here.
func TestKafkaGoLogLinesNameTheirCaller(t *testing.T) {
	t.Parallel()
	r := newRig(t, 1)
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(core, zap.AddCaller())
	w := NewWriter(r.cfg, log)
	t.Cleanup(func() { w.Close() })
	require.NoError(t, w.Publish(r.ctx, Record{Topic: r.topic, Value: []byte("x")}))
	c := NewConsumer(r.cfg, r.topic+"-g", r.topic, log)
	t.Cleanup(func() { c.Close() })
	fetch(t, r.ctx, c, 1)
	// A consumer of a broker that is not there: kafka-go logs errors.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, ln.Close())
	dead := NewConsumer(Config{Brokers: []string{ln.Addr().String()}}, r.topic+"-g", r.topic, log)
	t.Cleanup(func() { dead.Close() })
	ctx, cancel := context.WithTimeout(r.ctx, time.Second)
	defer cancel()
	_, err = dead.FetchBatch(ctx, 1, time.Millisecond)
	require.Error(t, err)

	levels := map[zapcore.Level]int{}
	for _, e := range logs.All() {
		require.True(t, e.Caller.Defined)
		assert.Contains(t, e.Caller.File, "/segmentio/kafka-go@", "%s %q", e.LoggerName, e.Message)
		levels[e.Level]++
	}
	assert.Positive(t, levels[zapcore.DebugLevel], "kafka-go's chatter")
	assert.Positive(t, levels[zapcore.WarnLevel], "kafka-go's errors")
}
