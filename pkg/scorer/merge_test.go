package scorer

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/stream"
)

// TestALateEventOfAMergedContactFindsItsHeir: after a merge, a batch
// holding only an event of the merged contact finds the contact it merged
// into (a batch that did not ask where it lives: the try is redone with it
// located) and scores the event there, once, however often the batch is
// delivered.
func TestALateEventOfAMergedContactFindsItsHeir(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, st := newScorers(t).at("late", nil, &flakySink{})
	offset := int64(0)
	batch := func(evs ...event.Event) []stream.Record {
		var recs []stream.Record
		for i := range evs {
			v, err := json.Marshal(&evs[i])
			require.NoError(t, err)
			offset++
			recs = append(recs, stream.Record{Topic: "e", Partition: 2, Offset: offset, Value: v})
		}
		return recs
	}
	at := base.Add(time.Hour)
	require.NoError(t, s.Process(ctx, batch(
		event.Event{ID: "v1", Type: "webinar.attended", ContactID: "anon:v", Time: at},
		event.Event{ID: "k1", Type: "meeting.booked", ContactID: "u-1", AccountID: "acme.example", Time: at})))
	require.NoError(t, s.Process(ctx, batch(event.Event{ID: "merge:anon:v", Type: event.ContactMerged, ContactID: "anon:v",
		Time: at.Add(time.Hour), Properties: map[string]any{event.MergeInto: "u-1"}})))
	c, _, err := st.Contact(ctx, "u-1")
	require.NoError(t, err)
	require.Equal(t, int32(65), c.Behavior)

	late := batch(event.Event{ID: "v2", Type: "webinar.attended", ContactID: "anon:v", Time: at.Add(2 * time.Hour)})
	require.NoError(t, s.Process(ctx, late))
	require.NoError(t, s.Process(ctx, late)) // delivered again
	c, home, err := st.Contact(ctx, "u-1")
	require.NoError(t, err)
	assert.Equal(t, int32(90), c.Behavior)
	assert.Equal(t, "a:acme.example", home)
	v, _, err := st.Contact(ctx, "anon:v")
	require.NoError(t, err)
	assert.Equal(t, "u-1", v.MergedInto)
	assert.Zero(t, v.Behavior)
}
