package reliability

import (
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/stream"
)

// replay runs `scorer dlq replay` with the lane's topics and returns its
// standard output.
func (l *lane) replay(extra ...string) string {
	l.t.Helper()
	args := []string{"dlq", "replay", "--kafka-brokers", strings.Join(l.brokers, ","), "--events-topic", l.events,
		"--dlq-topic", l.dlq, "--log-level", logLevel()}
	cmd := exec.Command(filepath.Join(bin, "scorer"), append(args, extra...)...)
	var errOut strings.Builder
	cmd.Stderr = &errOut
	out, err := cmd.Output()
	require.NoError(l.t, err, "scorer dlq replay: %s", errOut.String())
	return string(out)
}

// TestDLQReplay: the scorer dead-letters what it cannot process, with the
// dlq.* headers; once the cause is fixed, `scorer dlq replay --filter`
// puts the chosen records back on the events topic, where the scorer
// scores them once, even when replayed twice.
func TestDLQReplay(t *testing.T) {
	t.Parallel()
	r := newRig(t, 5, 40)
	l := r.lane(t, "dlq")
	r.publish(r.history...)
	x := pure(t, r.history)

	// Records that once failed in the engine (their cause since fixed),
	// as the scorer dead-letters them, and one that is not JSON at all.
	fixed := []event.Event{
		{ID: r.prefix + "-late-1", Type: "meeting.booked", ContactID: r.contacts[0], AccountID: r.history[0].AccountID, Time: begin.Add(time.Hour)},
		{ID: r.prefix + "-late-2", Type: "webinar.attended", ContactID: r.prefix + "-new", Time: begin.Add(2 * time.Hour)},
	}
	var dead []stream.Record
	for i, ev := range fixed {
		b, err := json.Marshal(&ev)
		require.NoError(t, err)
		rec := stream.Record{Topic: r.events, Partition: i, Offset: int64(100 + i), Key: []byte(ev.Key()), Value: b,
			Headers: []stream.Header{{Key: "traceparent", Value: "00-abc-def-01"}}}
		dead = append(dead, stream.DLQRecord(rec, r.dlq, errors.New("engine failed 3 times: engine panic on event "+ev.ID), time.Now()))
	}
	require.NoError(t, r.w.Publish(r.ctx, dead...))
	require.NoError(t, r.w.Publish(r.ctx, stream.Record{Topic: r.events, Key: []byte("junk"), Value: []byte(`{not json`)}))

	s := l.run("scorer", "")
	l.converges(x, 30*time.Second)
	var poison []stream.Record
	eventually(t, 20*time.Second, "the scorer dead-letters the junk", func() bool {
		poison = poison[:0]
		require.NoError(t, stream.Scan(r.ctx, r.kcfg, r.dlq, 0, func(rec stream.Record) error {
			if rec.HeaderValue(stream.HeaderDLQTopic) == r.events && strings.HasPrefix(rec.HeaderValue(stream.HeaderDLQError), "invalid JSON") {
				poison = append(poison, rec)
			}
			return nil
		}))
		return len(poison) == 1
	})
	p := poison[0]
	assert.Equal(t, "{not json", string(p.Value))
	assert.NotEmpty(t, p.HeaderValue(stream.HeaderDLQPartition))
	assert.NotEmpty(t, p.HeaderValue(stream.HeaderDLQOffset))
	_, err := time.Parse(time.RFC3339Nano, p.HeaderValue(stream.HeaderDLQTime))
	assert.NoError(t, err)

	out := l.replay("--filter", "^engine failed", "--dry-run")
	assert.Contains(t, out, "would replay 2 of 3 DLQ records")
	assert.Contains(t, out, fixed[0].ID)

	out = l.replay("--filter", "^engine failed")
	assert.Contains(t, out, "replayed 2 of 3 DLQ records to "+r.events)
	want := pure(t, append(append([]event.Event{}, r.history...), fixed...))
	l.converges(want, 30*time.Second)

	// Replayed again: the events are on the topic twice and count once.
	out = l.replay("--filter", "^engine failed")
	assert.Contains(t, out, "replayed 2 of 3 DLQ records")
	// From an offset past the end of every partition: nothing.
	out = l.replay("--from-offset", "1000")
	assert.Contains(t, out, "replayed 0 of 0 DLQ records")

	var back []stream.Record
	require.NoError(t, stream.Scan(r.ctx, r.kcfg, r.events, 0, func(rec stream.Record) error {
		if rec.HeaderValue(stream.HeaderReplayedFrom) != "" {
			back = append(back, rec)
		}
		return nil
	}))
	require.Len(t, back, 4)
	for _, rec := range back {
		assert.Equal(t, "00-abc-def-01", rec.HeaderValue("traceparent"), "original headers kept")
		assert.Empty(t, rec.HeaderValue(stream.HeaderDLQError), "dlq headers dropped")
		assert.True(t, strings.HasPrefix(rec.HeaderValue(stream.HeaderReplayedFrom), r.dlq+"/"))
	}
	// The scorer, still running, scored the second replay as duplicates.
	l.converges(want, 10*time.Second)
	s.kill()
}
