package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/stream"
	tu "github.com/leadscore/leads/pkg/testutil"
)

type fakePublisher struct {
	mu    sync.Mutex
	calls [][]event.Event
	err   error
}

func (f *fakePublisher) Publish(_ context.Context, evs []event.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.calls = append(f.calls, evs)
	return nil
}

var now = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func newServer(t *testing.T, pub Publisher) (*httptest.Server, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	svc, err := New(Config{MaxBodyBytes: 4096, MaxEvents: 3, RetryAfter: 7 * time.Second}, tu.Logger(t), pub, reg, func() time.Time { return now })
	require.NoError(t, err)
	mux := http.NewServeMux()
	svc.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, reg
}

const ev1 = `{"id":"e1","type":"email.opened","contact_id":"c-1","time":"2026-11-20T10:00:00Z"}`

func post(t *testing.T, url, ct, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/v1/events", strings.NewReader(body))
	require.NoError(t, err)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestPost(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, ct, body string
		status         int
		published      int
		want           string
	}{
		{"one object", "application/json", ev1, 202, 1, `{"accepted":1}`},
		{"array", "application/json", "[" + ev1 + "," + ev1 + "]", 202, 2, `{"accepted":2}`},
		{"ndjson", "application/x-ndjson", ev1 + "\n" + ev1 + "\n" + ev1, 202, 3, `{"accepted":3}`},
		{"no content type", "", ev1, 202, 1, `{"accepted":1}`},
		{"json with charset", "application/json; charset=utf-8", ev1, 202, 1, `{"accepted":1}`},
		{"invalid item refuses the batch", "application/x-ndjson", ev1 + "\n" + `{"id":"e2","type":"email.opened","time":"2026-11-20T10:00:00Z"}`, 400, 0,
			`{"errors":[{"index":1,"field":"contact_id","message":"is required"}]}`},
		{"future time", "application/json", `{"id":"e1","type":"a.b","contact_id":"c","time":"2026-11-20T12:06:00Z"}`, 400, 0,
			`{"errors":[{"index":0,"field":"time","message":"is more than 5m0s in the future"}]}`},
		{"broken JSON", "application/json", `[` + ev1 + `,{"id":`, 400, 0, ""},
		{"too many events", "application/x-ndjson", strings.Repeat(ev1+"\n", 4), 413, 0, `{"error":"event count over the limit of 3"}`},
		{"body too large", "application/json", `{"id":"` + strings.Repeat("x", 5000) + `"}`, 413, 0, `{"error":"body over the limit of 4096"}`},
		{"form content type", "application/x-www-form-urlencoded", ev1, 415, 0, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pub := &fakePublisher{}
			srv, _ := newServer(t, pub)
			resp, body := post(t, srv.URL, tt.ct, tt.body)
			assert.Equal(t, tt.status, resp.StatusCode, body)
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			if tt.want != "" {
				assert.JSONEq(t, tt.want, body)
			}
			n := 0
			for _, c := range pub.calls {
				n += len(c)
			}
			assert.Equal(t, tt.published, n)
			assert.LessOrEqual(t, len(pub.calls), 1, "one publish per request")
		})
	}
}

func TestPublishFailureIs503WithRetryAfter(t *testing.T) {
	t.Parallel()
	srv, reg := newServer(t, &fakePublisher{err: errors.New("kafka down")})
	resp, body := post(t, srv.URL, "application/json", ev1)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "7", resp.Header.Get("Retry-After"))
	assert.NotContains(t, body, "accepted")
	assert.Zero(t, counter(t, reg, "leads_ingest_events_accepted_total", ""))
	assert.Equal(t, 1.0, counter(t, reg, "leads_ingest_requests_total", "503"))
}

func TestMetricsCountAcceptedAndRejected(t *testing.T) {
	t.Parallel()
	srv, reg := newServer(t, &fakePublisher{})
	post(t, srv.URL, "application/json", "["+ev1+","+ev1+"]")
	post(t, srv.URL, "application/json", `[{"id":"x","type":"Bad","contact_id":"c","time":"2026-11-20T10:00:00Z"}]`)
	assert.Equal(t, 2.0, counter(t, reg, "leads_ingest_events_accepted_total", ""))
	assert.Equal(t, 1.0, counter(t, reg, "leads_ingest_events_rejected_total", ""))
	assert.Equal(t, 1.0, counter(t, reg, "leads_ingest_requests_total", "202"))
	assert.Equal(t, 1.0, counter(t, reg, "leads_ingest_requests_total", "400"))
}

// counter reads a counter, or the sample of a vector whose only label has value code.
func counter(t *testing.T, reg *prometheus.Registry, name, code string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if code == "" || (len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == code) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

type recordingSink struct{ recs []stream.Record }

func (r *recordingSink) Publish(_ context.Context, recs ...stream.Record) error {
	r.recs = append(r.recs, recs...)
	return nil
}

func TestStreamPublisherKeysByAccountElseContact(t *testing.T) {
	t.Parallel()
	sink := &recordingSink{}
	p := &StreamPublisher{Sink: sink, Topic: "leads.events", Now: func() time.Time { return now }}
	evs := []event.Event{
		{ID: "e1", Type: "email.opened", ContactID: "c-1", AccountID: "acme.io", Time: now},
		{ID: "e2", Type: "email.opened", ContactID: "c-2", Time: now},
	}
	require.NoError(t, p.Publish(context.Background(), evs))
	require.Len(t, sink.recs, 2)
	assert.Equal(t, "acme.io", string(sink.recs[0].Key))
	assert.Equal(t, "c-2", string(sink.recs[1].Key))
	assert.Equal(t, now, sink.recs[0].Time, "the record time is the ingest time")
	var back event.Event
	require.NoError(t, json.Unmarshal(sink.recs[0].Value, &back))
	assert.Equal(t, "e1", back.ID)
}
