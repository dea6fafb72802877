package scorer

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/stream"
)

// TestLogsCarryNoPII scores events carrying an email address and a phone
// number, and dead-letters poison messages that carry them where the
// decoder complains (a time, a broken object), with logs at Debug: no log
// line and no DLQ error header holds them.
func TestLogsCarryNoPII(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	evs := history("pii-")
	evs[1].Properties["email"], evs[1].Properties["phone"] = "jane.doe@example.com", "+1-202-555-0147"
	r.publish(t, evs...)
	poison := []string{
		`{"id":"p1","type":"email.opened","contact_id":"c-9","time":"jane.doe@example.com"}`,
		`{"id":"p2","type":"contact.updated","contact_id":"c-9","time":"2026-11-02T09:00:00Z","properties":{"email":"jane.doe@example.com" "phone":"+1-202-555-0147"}}`,
		`{"id":"p3","type":"contact.updated","contact_id":"c-9","time":"2026-11-02T09:00:00Z","properties":{"phone":["+1-202-555-0147",` +
			`[[[[[["jane.doe@example.com"]]]]]]]}}`,
	}
	recs := make([]stream.Record, len(poison))
	for i, p := range poison {
		recs[i] = stream.Record{Topic: r.cfg.EventsTopic, Key: []byte("c-9"), Value: []byte(p)}
	}
	require.NoError(t, r.w.Publish(r.ctx, recs...))

	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(core)
	src := stream.NewConsumer(r.consumer, r.group, r.cfg.EventsTopic, log)
	s, err := New(r.cfg, log, src, r.w, r.st, scoring.New(model.Default()), nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(r.ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	dlq := r.read(t, r.cfg.DLQTopic, len(poison), 30*time.Second)
	cancel()
	require.NoError(t, <-done)
	require.NoError(t, src.Close())
	require.Len(t, dlq, len(poison), "every poison message dead-lettered")

	require.NotZero(t, logs.FilterMessage("event sent to the DLQ").Len())
	for _, secret := range []string{"jane.doe", "example.com", "555-0147", "202-555"} {
		for _, entry := range logs.All() {
			assert.NotContains(t, fmt.Sprint(entry.Message, entry.ContextMap()), secret)
		}
		for _, rec := range dlq {
			assert.NotContains(t, rec.HeaderValue(stream.HeaderDLQError), secret)
		}
	}
}
