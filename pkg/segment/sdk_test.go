package segment

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"
	analytics "gopkg.in/segmentio/analytics-go.v3"

	"github.com/leadscore/leads/pkg/auth"
	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/ingest"
)

const writeKey = "wk-segment-0123456789"

// recorder is a Publisher that keeps what it is given.
type recorder struct {
	mu     sync.Mutex
	events []event.Event
}

func (r *recorder) Publish(_ context.Context, b event.Batch) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, b.Events...)
	return nil
}

func (r *recorder) byID() map[string]event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]event.Event{}
	for _, ev := range r.events {
		out[ev.ID] = ev
	}
	return out
}

// newIngestor serves the ingest service with the default mapping's
// intakes, a source whose token is writeKey, and the given clock.
func newIngestor(t *testing.T, now func() time.Time, types ...string) (*httptest.Server, *recorder) {
	t.Helper()
	if len(types) == 0 {
		types = []string{"*"}
	}
	tokens, err := auth.New(auth.File{Sources: []auth.SourceConfig{{Name: "segment", TokenSHA256: auth.Hash(writeKey), Types: types}}})
	require.NoError(t, err)
	rec := &recorder{}
	opts := []ingest.Option{ingest.WithTokens(tokens), ingest.WithClock(now)}
	for _, in := range Default().Intakes() {
		opts = append(opts, ingest.WithIntake(in))
	}
	svc, err := ingest.New(ingest.DefaultConfig(), zaptest.NewLogger(t), rec, nil, opts...)
	require.NoError(t, err)
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(srv.Close)
	return srv, rec
}

// callbacks counts the SDK's successes and failures.
type callbacks struct {
	mu       sync.Mutex
	ok, fail int
	errs     []error
}

func (c *callbacks) Success(analytics.Message) { c.mu.Lock(); c.ok++; c.mu.Unlock() }
func (c *callbacks) Failure(_ analytics.Message, err error) {
	c.mu.Lock()
	c.fail++
	c.errs = append(c.errs, err)
	c.mu.Unlock()
}

// TestAnUnchangedSegmentSDKIsTakenAsItsOwnAPI points Segment's own Go
// client at the ingestor: its track, identify, group and page calls, posted
// to /v1/batch with the write key as Basic user, are accepted and become
// the catalogue's events; its messageId is the event id.
func TestAnUnchangedSegmentSDKIsTakenAsItsOwnAPI(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC().Truncate(time.Millisecond)
	srv, rec := newIngestor(t, time.Now)
	cb := &callbacks{}
	client, err := analytics.NewWithConfig(writeKey, analytics.Config{Endpoint: srv.URL, Interval: 10 * time.Millisecond,
		BatchSize: 100, Callback: cb, RetryAfter: func(int) time.Duration { return time.Millisecond }})
	require.NoError(t, err)

	ctx := &analytics.Context{Extra: map[string]any{"groupId": "acme.com"}}
	for _, msg := range []analytics.Message{
		analytics.Identify{MessageId: "m-identify", UserId: "u-1", Timestamp: now, Context: ctx,
			Traits: analytics.NewTraits().SetFirstName("Ada").SetLastName("Lovelace").SetEmail("ada@acme.com").
				SetTitle("VP Engineering").Set("company", map[string]any{"name": "Acme"}).Set("phone", "+1 555 0100")},
		analytics.Group{MessageId: "m-group", UserId: "u-1", GroupId: "acme.com", Timestamp: now,
			Traits: analytics.NewTraits().SetName("Acme").Set("employees", 5000).Set("industry", "software").
				Set("address", map[string]any{"country": "US"})},
		analytics.Track{MessageId: "m-webinar", UserId: "u-1", Event: "Webinar Attended", Timestamp: now,
			Properties: analytics.NewProperties().Set("webinar_id", "w-9")},
		analytics.Track{MessageId: "m-click", UserId: "u-1", Event: "Email Link Clicked", Timestamp: now,
			Properties: analytics.NewProperties().Set("link_url", "https://acme.example/pricing").Set("email_id", "e-1")},
		analytics.Track{MessageId: "m-other", UserId: "u-1", Event: "Order Completed", Timestamp: now,
			Properties: analytics.NewProperties().SetRevenue(10)},
		analytics.Page{MessageId: "m-page", AnonymousId: "a-77", Name: "Pricing", Timestamp: now,
			Properties: analytics.NewProperties().SetURL("https://acme.example/pricing")},
	} {
		require.NoError(t, client.Enqueue(msg))
	}
	require.NoError(t, client.Close())
	require.Empty(t, cb.errs)
	assert.Equal(t, 6, cb.ok)

	got := rec.byID()
	require.Len(t, got, 7, "six calls, and the group's membership")
	want := []event.Event{
		{ID: "m-identify", Type: "contact.updated", ContactID: "u-1", AccountID: "acme.com", Properties: map[string]any{
			"first_name": "Ada", "last_name": "Lovelace", "email": "ada@acme.com", "title": "VP Engineering", "company": "Acme",
			"phone": "+1 555 0100"}},
		{ID: "m-group", Type: "account.updated", ContactID: "u-1", AccountID: "acme.com", Properties: map[string]any{
			"name": "Acme", "employees": "5000", "industry": "software", "country": "US"}},
		{ID: "member:m-group", Type: "contact.updated", ContactID: "u-1", AccountID: "acme.com"},
		{ID: "m-webinar", Type: "webinar.attended", ContactID: "u-1", Properties: map[string]any{"webinar_id": "w-9"}},
		{ID: "m-click", Type: "email.clicked", ContactID: "u-1", Properties: map[string]any{
			"url": "https://acme.example/pricing", "email_id": "e-1"}},
		{ID: "m-other", Type: "segment.track", ContactID: "u-1", Properties: map[string]any{"event": "Order Completed"}},
		{ID: "m-page", Type: "web.page_viewed", ContactID: "anon:a-77", Properties: map[string]any{
			"url": "https://acme.example/pricing", "name": "Pricing"}},
	}
	for _, w := range want {
		ev, ok := got[w.ID]
		if !assert.True(t, ok, w.ID) {
			continue
		}
		assert.Equal(t, w.Type, ev.Type, w.ID)
		assert.Equal(t, w.ContactID, ev.ContactID, w.ID)
		assert.Equal(t, w.AccountID, ev.AccountID, w.ID)
		assert.Equal(t, "segment", ev.Source, w.ID)
		assert.True(t, ev.Time.Equal(now), "%s: time %s, want %s", w.ID, ev.Time, now)
		assert.Equal(t, w.Properties, stringify(ev.Properties), w.ID)
	}
}

// TestAReSentMessageIDIsTheSameEvent: an SDK retrying a batch, or an app
// sending a call twice with its messageId, makes events of one id, which
// the scorer dedupes.
func TestAReSentMessageIDIsTheSameEvent(t *testing.T) {
	t.Parallel()
	srv, rec := newIngestor(t, time.Now)
	for range 2 {
		client, err := analytics.NewWithConfig(writeKey, analytics.Config{Endpoint: srv.URL, Interval: 10 * time.Millisecond})
		require.NoError(t, err)
		require.NoError(t, client.Enqueue(analytics.Track{MessageId: "m-1", UserId: "u-1", Event: "Email Opened"}))
		require.NoError(t, client.Close())
	}
	require.Len(t, rec.events, 2)
	assert.Equal(t, "m-1", rec.events[0].ID)
	assert.Equal(t, "m-1", rec.events[1].ID)
	assert.Equal(t, "email.opened", rec.events[1].Type)
}

// stringify writes json.Numbers as their text, for comparing.
func stringify(props map[string]any) map[string]any {
	if props == nil {
		return nil
	}
	out := make(map[string]any, len(props))
	for k, v := range props {
		if n, ok := v.(interface{ String() string }); ok {
			out[k] = n.String()
		} else {
			out[k] = v
		}
	}
	return out
}
