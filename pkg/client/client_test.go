package client_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/client"
	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/store"
)

// server answers POST /v1/events with the given answers in turn, and
// records the bodies it got.
type server struct {
	mu      sync.Mutex
	answers []func(w http.ResponseWriter)
	bodies  []string
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bodies = append(s.bodies, string(b))
	answer := s.answers[min(len(s.bodies), len(s.answers))-1]
	answer(w)
}

func status(code int, body string, header ...string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
}

var ev = event.Event{ID: "e-1", Type: "webinar.attended", ContactID: "c-1", Time: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}

// TestPostRetriesWhatMaySucceedLater: 503 and 429 are sent again, the same
// body each time, until the ingestor accepts.
func TestPostRetriesWhatMaySucceedLater(t *testing.T) {
	t.Parallel()
	s := &server{answers: []func(http.ResponseWriter){
		status(503, `{"errors":[{"message":"Kafka is unavailable"}]}`),
		status(429, `{"errors":[{"message":"slow down"}]}`),
		status(202, `{"accepted":1}`),
	}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	n, err := client.New(srv.URL, client.WithRetry(time.Millisecond, 5*time.Millisecond, 10*time.Second)).Post(context.Background(), ev)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	require.Len(t, s.bodies, 3)
	assert.Equal(t, s.bodies[0], s.bodies[2], "the same events each time")
	var sent []event.Event
	require.NoError(t, json.Unmarshal([]byte(s.bodies[0]), &sent))
	assert.Equal(t, []event.Event{ev}, sent)
}

// TestPostDoesNotRetryARefusal: a 400 comes back at once as an APIError
// naming the item and field.
func TestPostDoesNotRetryARefusal(t *testing.T) {
	t.Parallel()
	s := &server{answers: []func(http.ResponseWriter){
		status(400, `{"errors":[{"index":0,"field":"contact_id","message":"is required"}]}`),
	}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	_, err := client.New(srv.URL, client.WithRetry(time.Millisecond, 5*time.Millisecond, 10*time.Second)).Post(context.Background(), ev)
	var ae *client.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 400, ae.Status)
	require.Len(t, ae.Errors, 1)
	assert.Equal(t, "contact_id", ae.Errors[0].Field)
	assert.Equal(t, 0, ae.Errors[0].Index)
	assert.Contains(t, err.Error(), "item 0: contact_id: is required")
	assert.Len(t, s.bodies, 1, "not sent again")
}

// TestPostWaitsTheServersRetryAfter: a Retry-After longer than what is
// left of the retry budget ends the retries at once instead of posting
// again before the server asked.
func TestPostWaitsTheServersRetryAfter(t *testing.T) {
	t.Parallel()
	s := &server{answers: []func(http.ResponseWriter){
		status(429, `{"errors":[{"message":"rate limited"}]}`, "Retry-After", "60"),
		status(202, `{"accepted":1}`),
	}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	_, err := client.New(srv.URL, client.WithRetry(time.Millisecond, 5*time.Millisecond, 2*time.Second)).Post(context.Background(), ev)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "gave up")
	assert.Len(t, s.bodies, 1, "not posted again before the 60 s the server asked for")
}

// TestReadsEscapeIDs: an id holding /, ?, # and % reaches its own resource.
func TestReadsEscapeIDs(t *testing.T) {
	t.Parallel()
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.URL.EscapedPath())
		status(404, `{"errors":[{"message":"no such contact"}]}`)(w)
	}))
	defer srv.Close()
	_, err := client.New(srv.URL).Contact(context.Background(), "a/b?c#d%e")
	assert.True(t, client.NotFound(err), "%v", err)
	assert.Equal(t, []string{"/v1/contacts/a%2Fb%3Fc%23d%25e"}, got)
}

// TestFilteredAsksForEveryFilterAndTheCursor: the filters go as one
// parameter a field, with the limit and the cursor, and the answer decodes.
func TestFilteredAsksForEveryFilterAndTheCursor(t *testing.T) {
	t.Parallel()
	var got url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.Query()
		status(200, `{"by":"contact","items":[{"id":"c-1","score":90}],"filters":[],"complete":false,"scanned":12,"next":"abc"}`)(w)
	}))
	defer srv.Close()
	out, err := client.New(srv.URL).Filtered(context.Background(),
		[]store.Filter{{Field: "grade", Value: "A"}, {Field: "stage", Value: "late & more"}}, 10, "xyz")
	require.NoError(t, err)
	assert.Equal(t, url.Values{"by": {"contact"}, "grade": {"A"}, "stage": {"late & more"}, "limit": {"10"}, "after": {"xyz"}}, got)
	assert.Equal(t, []client.Ranked{{ID: "c-1", Score: 90}}, out.Items)
	assert.False(t, out.Complete)
	assert.Equal(t, "abc", out.Next)
}
