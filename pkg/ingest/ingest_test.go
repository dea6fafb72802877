package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/httperr"
	"github.com/leadscore/leads/pkg/stream"
)

// fakePublisher records every call, or fails them all with err.
type fakePublisher struct {
	mu    sync.Mutex
	calls [][]event.Event
	err   error
}

func (f *fakePublisher) Publish(_ context.Context, b event.Batch) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, b.Events)
	return f.err
}

func (f *fakePublisher) Calls() [][]event.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

var now = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

var testConfig = Config{MaxBodyBytes: 4096, MaxEvents: 4, RetryAfter: 5 * time.Second}

func newService(t *testing.T, pub Publisher, opts ...Option) (*Service, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	svc, err := New(testConfig, zaptest.NewLogger(t), pub, reg, append([]Option{WithClock(func() time.Time { return now })}, opts...)...)
	require.NoError(t, err)
	return svc, reg
}

// ev returns an event line with the id; ev("e1", `"contact_id":"x"`) overrides fields.
func ev(id string, fields ...string) string {
	m := map[string]any{"id": id, "type": "email.opened", "contact_id": "c-1", "time": "2026-11-20T10:00:00Z"}
	for _, f := range fields {
		var kv map[string]any
		if err := json.Unmarshal([]byte("{"+f+"}"), &kv); err != nil {
			panic(err)
		}
		for k, v := range kv {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func lines(items ...string) string { return strings.Join(items, "\n") + "\n" }
func array(items ...string) string { return "[" + strings.Join(items, ",") + "]" }

func do(h http.Handler, method, path, ct, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func ids(evs []event.Event) []string {
	out := make([]string, len(evs))
	for i := range evs {
		out[i] = evs[i].ID
	}
	return out
}

func TestPostAccepts(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, ct, body string
		ids            []string
	}{
		{"one object", "application/json", ev("e1"), []string{"e1"}},
		{"array", "application/json", array(ev("e1"), ev("e2")), []string{"e1", "e2"}},
		{"NDJSON", "application/x-ndjson", lines(ev("e1"), ev("e2"), ev("e3")), []string{"e1", "e2", "e3"}},
		{"NDJSON sniffed without a Content-Type", "", lines(ev("e1"), ev("e2")), []string{"e1", "e2"}},
		{"NDJSON sniffed under application/json", "application/json", lines(ev("e1"), ev("e2")), []string{"e1", "e2"}},
		{"JSON with charset", "application/json; charset=UTF-8", ev("e1"), []string{"e1"}},
		{"duplicate ids in one batch (dedupe is downstream)", "application/x-ndjson", lines(ev("e1"), ev("e1")), []string{"e1", "e1"}},
		{"account event with account_id only", "application/json",
			ev("e1", `"type":"account.updated","contact_id":null,"account_id":"acme.com"`), []string{"e1"}},
		{"4 minutes ahead is fine", "application/json", ev("e1", `"time":"2026-11-20T12:04:00Z"`), []string{"e1"}},
		{"old times are fine (backfill)", "application/json", ev("e1", `"time":"2019-01-01T00:00:00Z"`), []string{"e1"}},
		{"unknown fields ignored", "application/json", ev("e1", `"campaign":{"id":7}`), []string{"e1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pub := &fakePublisher{}
			svc, _ := newService(t, pub)
			rec := do(svc.Handler(), http.MethodPost, "/v1/events", tt.ct, tt.body)
			assert.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			assert.JSONEq(t, fmt.Sprintf(`{"accepted":%d}`, len(tt.ids)), rec.Body.String())
			calls := pub.Calls()
			require.Len(t, calls, 1, "one Publish per request, with every event")
			assert.Equal(t, tt.ids, ids(calls[0]))
		})
	}
}

func TestPostRefuses(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, ct, body string
		status         int
		want           string // the exact JSON answer, when given
		index          int    // else the first error's index, field and message
		field, msg     string
	}{
		{name: "missing id", ct: "application/json", body: ev("e1", `"id":null`), status: 400,
			want: `{"errors":[{"index":0,"field":"id","message":"is required"}]}`},
		{name: "bad type", ct: "application/x-ndjson", body: lines(ev("e1"), ev("e2", `"type":"Email.Opened"`)), status: 400,
			want: `{"errors":[{"index":1,"field":"type","message":"must be lower-case dotted, like web.page_viewed"}]}`},
		{name: "time more than 5 minutes ahead", ct: "application/json", body: ev("e1", `"time":"2026-11-20T12:06:00Z"`), status: 400,
			want: `{"errors":[{"index":0,"field":"time","message":"is more than 5m0s in the future"}]}`},
		{name: "account event without account_id", ct: "application/json", body: array(ev("e1"), ev("e2", `"type":"account.updated"`)), status: 400,
			want: `{"errors":[{"index":1,"field":"account_id","message":"is required"}]}`},
		{name: "contact event without contact_id", ct: "application/json", body: ev("e1", `"contact_id":null`), status: 400,
			want: `{"errors":[{"index":0,"field":"contact_id","message":"is required"}]}`},
		{name: "every problem of every event", ct: "application/x-ndjson", body: lines(ev("e1", `"id":null`), ev("e2"), ev("e3", `"type":"x","time":null`)), status: 400,
			want: `{"errors":[{"index":0,"field":"id","message":"is required"},` +
				`{"index":2,"field":"type","message":"must be lower-case dotted, like web.page_viewed"},` +
				`{"index":2,"field":"time","message":"is required (RFC 3339)"}]}`},
		{name: "invalid JSON at item 3", ct: "application/x-ndjson", body: ev("e0") + "\n" + ev("e1") + "\n" + ev("e2") + "\n" + `{"id":"e3",` + "\n",
			status: 400, index: 3, msg: "invalid JSON"},
		{name: "time is a number", ct: "application/json", body: ev("e1", `"time":5`), status: 400, index: 0, field: "time", msg: "RFC 3339"},
		{name: "id is a number", ct: "application/json", body: array(ev("e1"), ev("e2", `"id":5`)), status: 400, index: 1, field: "id", msg: "wrong type"},
		{name: "invalid UTF-8", ct: "application/json", body: "{\"id\":\"\xff\"}", status: 400, index: 0, msg: "UTF-8"},
		{name: "nested too deeply", ct: "application/json", body: ev("e1", `"properties":{"a":`+strings.Repeat("[", 20)+strings.Repeat("]", 20)+`}`),
			status: 400, index: 0, msg: "deeper"},
		{name: "empty body", ct: "application/json", body: "", status: 400, index: 0, msg: "empty"},
		{name: "not JSON", ct: "application/json", body: "hello", status: 400, index: 0, msg: "JSON"},
		{name: "too many events in NDJSON", ct: "application/x-ndjson", body: lines(ev("1"), ev("2"), ev("3"), ev("4"), ev("5")), status: 413,
			want: `{"errors":[{"message":"event count over the limit of 4"}]}`},
		{name: "too many events in an array", ct: "application/json", body: array(ev("1"), ev("2"), ev("3"), ev("4"), ev("5")), status: 413,
			want: `{"errors":[{"message":"event count over the limit of 4"}]}`},
		{name: "body too large", ct: "application/json", body: ev(strings.Repeat("x", 5000)), status: 413,
			want: `{"errors":[{"message":"body over the limit of 4096 bytes"}]}`},
		{name: "form Content-Type", ct: "application/x-www-form-urlencoded", body: ev("e1"), status: 415},
		{name: "text Content-Type", ct: "text/plain", body: ev("e1"), status: 415},
		{name: "unparsable Content-Type", ct: "application/json; charset", body: ev("e1"), status: 415},
		{name: "non-UTF-8 charset", ct: "application/json; charset=latin1", body: ev("e1"), status: 415},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pub := &fakePublisher{}
			svc, _ := newService(t, pub)
			rec := do(svc.Handler(), http.MethodPost, "/v1/events", tt.ct, tt.body)
			assert.Equal(t, tt.status, rec.Code, rec.Body.String())
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			assert.Empty(t, pub.Calls(), "nothing of a refused batch is published")
			switch {
			case tt.want != "":
				assert.JSONEq(t, tt.want, rec.Body.String())
			case tt.status == http.StatusBadRequest:
				var got errorsBody
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got), rec.Body.String())
				require.NotEmpty(t, got.Errors)
				assert.Equal(t, tt.index, got.Errors[0].Index)
				assert.Equal(t, tt.field, got.Errors[0].Field)
				assert.Contains(t, got.Errors[0].Message, tt.msg)
				assert.Contains(t, rec.Body.String(), `"field":`, "field is always present")
			default:
				// Errors that are about no item have no index.
				var got struct{ Errors []httperr.Error }
				dec := json.NewDecoder(strings.NewReader(rec.Body.String()))
				dec.DisallowUnknownFields()
				require.NoError(t, dec.Decode(&got), rec.Body.String())
				require.Len(t, got.Errors, 1, rec.Body.String())
				assert.NotEmpty(t, got.Errors[0].Message)
			}
		})
	}
}

// errorsBody is the answer to a batch with invalid items.
type errorsBody struct {
	Errors []httperr.Item `json:"errors"`
}

func TestPublishFailureIs503WithRetryAfter(t *testing.T) {
	t.Parallel()
	pub := &fakePublisher{err: errors.New("kafka: leader not available")}
	svc, reg := newService(t, pub)
	rec := do(svc.Handler(), http.MethodPost, "/v1/events", "application/x-ndjson", lines(ev("e1"), ev("e2")))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, "5", rec.Header().Get("Retry-After"))
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	assert.JSONEq(t, `{"errors":[{"message":"events could not be published; retry later"}]}`, rec.Body.String())
	require.Len(t, pub.Calls(), 1)
	assert.Zero(t, sample(t, reg, "leads_ingest_events_accepted_total", ""))
	assert.Equal(t, 1.0, sample(t, reg, "leads_ingest_requests_total", "503"))
	assert.Equal(t, 1.0, sample(t, reg, "leads_ingest_publish_duration_seconds", "error"))
}

func TestPublishGetsTheRequestContext(t *testing.T) {
	t.Parallel()
	svc, _ := newService(t, publisherFunc(func(ctx context.Context, _ event.Batch) error { return ctx.Err() }))
	req := httptest.NewRequest(http.MethodPost, "/v1/events", strings.NewReader(ev("e1")))
	ctx, cancel := context.WithCancel(req.Context())
	cancel()
	rec := httptest.NewRecorder()
	svc.Handler().ServeHTTP(rec, req.WithContext(ctx))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code, "a client gone before Kafka acknowledged never sees 202")
}

type publisherFunc func(context.Context, event.Batch) error

func (f publisherFunc) Publish(ctx context.Context, b event.Batch) error { return f(ctx, b) }

func TestMetricsCountRequestsAndEvents(t *testing.T) {
	t.Parallel()
	svc, reg := newService(t, &fakePublisher{})
	h := svc.Handler()
	do(h, http.MethodPost, "/v1/events", "application/json", array(ev("e1"), ev("e2")))
	do(h, http.MethodPost, "/v1/events", "application/json", array(ev("e1", `"type":"Bad"`, `"id":null`), ev("e2"), ev("e3", `"type":"x"`)))
	do(h, http.MethodPost, "/v1/events", "application/x-ndjson", lines(ev("e1"), "{"))
	do(h, http.MethodPost, "/v1/events", "text/plain", ev("e1"))
	assert.Equal(t, 2.0, sample(t, reg, "leads_ingest_events_accepted_total", ""))
	assert.Equal(t, 3.0, sample(t, reg, "leads_ingest_events_rejected_total", ""), "events, not errors: two invalid events and one malformed")
	assert.Equal(t, 1.0, sample(t, reg, "leads_ingest_requests_total", "202"))
	assert.Equal(t, 2.0, sample(t, reg, "leads_ingest_requests_total", "400"))
	assert.Equal(t, 1.0, sample(t, reg, "leads_ingest_requests_total", "415"))
	assert.Equal(t, 1.0, sample(t, reg, "leads_ingest_publish_duration_seconds", "ok"))

	text := metricsText(t, reg)
	for _, name := range []string{"leads_ingest_events_accepted_total 2", "leads_ingest_events_rejected_total 3",
		`leads_ingest_requests_total{code="202"} 1`, `leads_ingest_publish_duration_seconds_count{result="ok"} 1`} {
		assert.Contains(t, text, name)
	}
}

func TestRegisterMountsOnlyTheEventsRoute(t *testing.T) {
	t.Parallel()
	pub := &fakePublisher{}
	svc, _ := newService(t, pub)
	mux := http.NewServeMux()
	svc.Register(mux)
	assert.Equal(t, http.StatusAccepted, do(mux, http.MethodPost, "/v1/events", "", ev("e1")).Code)
	assert.Equal(t, http.StatusNotFound, do(mux, http.MethodGet, "/healthz", "", "").Code)
	assert.Equal(t, http.StatusNotFound, do(mux, http.MethodGet, "/metrics", "", "").Code)
}

// metricsText is what a registry serves on /metrics.
func metricsText(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	return rec.Body.String()
}

func TestLogsCarryNoEventContents(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zapcore.DebugLevel)
	pub := &fakePublisher{err: errors.New("kafka down")}
	svc, err := New(testConfig, zap.New(core), pub, nil, WithClock(func() time.Time { return now }))
	require.NoError(t, err)
	pii := ev("e1", `"type":"contact.updated","properties":{"email":"jane@example.com","phone":"+1 555 0100"}`)
	do(svc.Handler(), http.MethodPost, "/v1/events", "application/json", pii)
	do(svc.Handler(), http.MethodPost, "/v1/events", "application/json", ev("e1", `"id":null,"properties":{"email":"jane@example.com"}`))
	require.NotZero(t, logs.Len())
	for _, entry := range logs.All() {
		line := fmt.Sprint(entry.Message, entry.ContextMap())
		assert.NotContains(t, line, "jane@example.com")
		assert.NotContains(t, line, "555")
		assert.NotContains(t, line, "c-1")
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	_, err := New(Config{}, zaptest.NewLogger(t), &fakePublisher{}, nil)
	assert.ErrorIs(t, err, ErrMaxBody)
	_, err = New(testConfig, zaptest.NewLogger(t), nil, nil)
	assert.Error(t, err)
	reg := prometheus.NewRegistry()
	_, err = New(testConfig, zaptest.NewLogger(t), &fakePublisher{}, reg)
	require.NoError(t, err)
	_, err = New(testConfig, zaptest.NewLogger(t), &fakePublisher{}, reg)
	assert.Error(t, err, "registering twice is an error, not a panic")
}

func TestConfig(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		args []string
		want Config
		errs []error
	}{
		{"defaults", nil, Config{MaxBodyBytes: 5 << 20, MaxEvents: 10000, MaxDecodingBytes: 12 << 20, RetryAfter: 5 * time.Second}, nil},
		{"set", []string{"--max-body-bytes=2048", "--max-events=7", "--max-decoding-bytes=2048", "--retry-after=10s"},
			Config{MaxBodyBytes: 2048, MaxEvents: 7, MaxDecodingBytes: 2048, RetryAfter: 10 * time.Second}, nil},
		{"too small", []string{"--max-body-bytes=10", "--max-events=0", "--max-decoding-bytes=9", "--retry-after=0s"},
			Config{MaxBodyBytes: 10, MaxDecodingBytes: 9, RetryAfter: 0}, []error{ErrMaxBody, ErrMaxEvents, ErrMaxDecoding, ErrRetryAfter}},
		{"too large", []string{"--max-body-bytes=2000000000", "--max-events=2000000", "--retry-after=2h"},
			Config{MaxBodyBytes: 2000000000, MaxEvents: 2000000, MaxDecodingBytes: 12 << 20, RetryAfter: 2 * time.Hour},
			[]error{ErrMaxBody, ErrMaxEvents, ErrMaxDecoding, ErrRetryAfter}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs := flag.NewFlagSet("ingestor", flag.ContinueOnError)
			var cfg Config
			cfg.RegisterFlags(fs)
			require.NoError(t, fs.Parse(tt.args))
			assert.Equal(t, tt.want, cfg)
			err := cfg.Validate()
			if tt.errs == nil {
				assert.NoError(t, err)
			}
			for _, e := range tt.errs {
				assert.ErrorIs(t, err, e)
			}
		})
	}
	assert.Equal(t, DefaultConfig(), func() Config {
		var c Config
		c.RegisterFlags(flag.NewFlagSet("", flag.ContinueOnError))
		return c
	}())
}

// sample reads a counter or a histogram's count, or the sample of a vector
// whose only label has the value.
func sample(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" || (len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == label) {
				if h := m.GetHistogram(); h != nil {
					return float64(h.GetSampleCount())
				}
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
	require.NoError(t, p.Publish(context.Background(), event.Batch{Events: evs}))
	require.Len(t, sink.recs, 2)
	assert.Equal(t, "acme.io", string(sink.recs[0].Key))
	assert.Equal(t, "c-2", string(sink.recs[1].Key))
	assert.Equal(t, "leads.events", sink.recs[0].Topic)
	assert.Equal(t, now, sink.recs[0].Time, "the record time is the ingest time")
	var back event.Event
	require.NoError(t, json.Unmarshal(sink.recs[0].Value, &back))
	assert.Equal(t, "e1", back.ID)
}

// TestRecordsAreTheEventsEncoded: each record the ingestor writes is
// event.Encode of the event as accepted (with the source its token gives
// when it has none), byte for byte, whether the item was posted already
// so encoded, and is written as posted, or not, and is encoded again.
func TestRecordsAreTheEventsEncoded(t *testing.T) {
	t.Parallel()
	const at = `"time":"2026-11-20T10:00:00Z"`
	items := []string{
		`{"id":"e1","type":"webinar.attended","contact_id":"c-1","account_id":"acme.com",` + at + `,"properties":{"webinar_id":"w-9"}}`,
		`{"id":"e2","type":"webinar.attended","contact_id":"c-1",` + at + `,"source":"zoom"}`,
		`{"id":"e3","type":"webinar.attended","contact_id":"c-\u00e9",` + at + `}`,
		`{"id":"e4","type":"web.page_viewed","contact_id":"c-1",` + at + `,"properties":{"url":"https://acme.com/?a=1&b=<2>"}}`,
		`{"id":"e5","type":"web.page_viewed","contact_id":"c-1",` + at + `,"properties":{"url":"/"},"extra":{"a":[1,2]}}`,
		`{"id":"e6","type":"web.page_viewed","contact_id":"c-1","contact_id":"c-2",` + at + `}`,
		`{"id":"e7","type":"video.watched","contact_id":"c-1",` + at + `,"properties":{"percent":75.50,"n":-0,"e":1E+2}}`,
		`{"id":"e8","type":"web.page_viewed","contact_id":"c-1",` + at + `,"properties":{"url":"` + strings.Repeat("x", event.MaxPropertyValue) + `"}}`,
		`{"type":"web.page_viewed","id":"e9", "contact_id":"c-1",` + at + `}`,
		`{"id":"e10","type":"account.updated","account_id":"acme.com","time":"2026-11-20T11:00:00.120+01:00","properties":{"b":1,"a":2}}`,
	}
	body := strings.Join(items, "\n")
	for _, token := range []string{"", webToken} {
		sink := &recordingSink{}
		opts := []Option{WithClock(func() time.Time { return now })}
		if token != "" {
			opts = append(opts, WithTokens(testTokens(t)))
		}
		svc, err := New(DefaultConfig(), zaptest.NewLogger(t), &StreamPublisher{Sink: sink, Topic: "leads.events"}, nil, opts...)
		require.NoError(t, err)
		rec := post(svc.Handler(), token, "application/x-ndjson", body)
		require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
		evs, err := event.DecodeBytes([]byte(body), "application/x-ndjson", event.DefaultLimits)
		require.NoError(t, err)
		require.Len(t, sink.recs, len(evs))
		for i := range evs {
			if token != "" && evs[i].Source == "" {
				evs[i].Source = "website"
			}
			want, err := event.Encode(&evs[i])
			require.NoError(t, err)
			assert.Equal(t, string(want), string(sink.recs[i].Value), "event %d, token %q", i, token)
			assert.Equal(t, evs[i].Key(), string(sink.recs[i].Key))
		}
	}
}

type nopPublisher struct{}

func (nopPublisher) Publish(context.Context, event.Batch) error { return nil }

// BenchmarkPost posts 1,000-event NDJSON batches of ~250-byte events through
// the handler, with a publisher that does nothing.
func BenchmarkPost(b *testing.B) {
	const n = 1000
	var body bytes.Buffer
	for i := range n {
		fmt.Fprintf(&body, `{"id":"evt-%08d","type":"web.page_viewed","contact_id":"c-%06d","account_id":"acme-%04d.com",`+
			`"time":"2026-11-20T10:00:00Z","source":"website","properties":{"url":"https://acme.com/pricing/enterprise?utm_source=news","percent":75}}`+"\n",
			i, i%100000, i%1000)
	}
	cfg := DefaultConfig()
	svc, err := New(cfg, zap.NewNop(), nopPublisher{}, prometheus.NewRegistry(), WithClock(func() time.Time { return now }))
	require.NoError(b, err)
	h := svc.Handler()
	raw := body.Bytes()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v1/events", bytes.NewReader(raw))
		req.Header.Set("Content-Type", "application/x-ndjson")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
	b.ReportMetric(float64(b.N)*n/b.Elapsed().Seconds(), "events/s")
}

// TestAMergePostedAsEncodedIsCheckedWithItsProperties: a contact.merged
// event posted exactly as Encode writes it (kept as posted, its
// properties not built) is still checked for its "into": taken when it
// names another contact, refused when it is missing or names itself.
func TestAMergePostedAsEncodedIsCheckedWithItsProperties(t *testing.T) {
	t.Parallel()
	encoded := func(into any) string {
		ev := event.Event{ID: "m1", Type: event.ContactMerged, ContactID: "anon:x", Time: now.Add(-time.Hour)}
		if into != nil {
			ev.Properties = map[string]any{event.MergeInto: into}
		}
		b, err := event.Encode(&ev)
		require.NoError(t, err)
		return string(b)
	}
	pub := &fakePublisher{}
	svc, _ := newService(t, pub)
	rec := do(svc.Handler(), http.MethodPost, "/v1/events", "application/json", encoded("u-1"))
	assert.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	for into, want := range map[any]string{"anon:x": "cannot merge into itself", 7.0: "must be a string", "": "is required"} {
		rec := do(svc.Handler(), http.MethodPost, "/v1/events", "application/json", encoded(into))
		assert.Equal(t, http.StatusBadRequest, rec.Code, "%v: %s", into, rec.Body.String())
		assert.Contains(t, rec.Body.String(), `"field":"properties.into"`, into)
		assert.Contains(t, rec.Body.String(), want, into)
	}
	rec = do(svc.Handler(), http.MethodPost, "/v1/events", "application/json", encoded(nil))
	assert.Equal(t, http.StatusBadRequest, rec.Code, rec.Body.String())
}
