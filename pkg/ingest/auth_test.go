package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/leadscore/leads/pkg/auth"
	"github.com/leadscore/leads/pkg/event"
)

const (
	zoomToken = "zoom-0123456789abcdef"
	webToken  = "web-0123456789abcdef"
)

// testTokens: zoom may send webinar events and profile updates, 2 events/s
// with a burst of 3; the website anything, without a limit.
func testTokens(t *testing.T) *auth.Tokens {
	t.Helper()
	tok, err := auth.New(auth.File{
		Sources: []auth.SourceConfig{
			{Name: "zoom", TokenSHA256: auth.Hash(zoomToken), Types: []string{"webinar.*", "contact.updated"}, Rate: 2, Burst: 3},
			{Name: "website", TokenSHA256: auth.Hash(webToken), Types: []string{"*"}},
		},
		Readers: []auth.ReaderConfig{{Name: "crm", TokenSHA256: auth.Hash("read-token")}},
	})
	require.NoError(t, err)
	return tok
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newAuthService(t *testing.T, pub Publisher, log *zap.Logger, opts ...Option) (*Service, *clock, *prometheus.Registry) {
	t.Helper()
	clk := &clock{t: now}
	reg := prometheus.NewRegistry()
	if log == nil {
		log = zaptest.NewLogger(t)
	}
	svc, err := New(testConfig, log, pub, reg, append([]Option{WithClock(clk.Now), WithTokens(testTokens(t))}, opts...)...)
	require.NoError(t, err)
	return svc, clk, reg
}

func post(h http.Handler, token, ct, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/v1/events", strings.NewReader(body))
	req.Header.Set("Content-Type", ct)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func webinar(id string) string { return ev(id, `"type":"webinar.attended"`) }

func TestPostNeedsASourceToken(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, header string }{
		{"no Authorization", ""},
		{"wrong token", "Bearer " + zoomToken + "x"},
		{"the token's hash", "Bearer " + auth.Hash(zoomToken)},
		{"a read token", "Bearer read-token"},
		{"not a bearer token", "Basic " + zoomToken},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pub := &fakePublisher{}
			svc, _, reg := newAuthService(t, pub, nil)
			req := httptest.NewRequest(http.MethodPost, "/v1/events", strings.NewReader(webinar("e1")))
			req.Header.Set("Content-Type", "application/json")
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			rec := httptest.NewRecorder()
			svc.Handler().ServeHTTP(rec, req)
			assert.Equal(t, http.StatusUnauthorized, rec.Code)
			assert.Equal(t, `Bearer realm="leads"`, rec.Header().Get("WWW-Authenticate"))
			assert.JSONEq(t, `{"errors":[{"message":"a source token is required: Authorization: Bearer <token>"}]}`, rec.Body.String())
			assert.Empty(t, pub.Calls())
			assert.Equal(t, 1.0, sample(t, reg, "leads_ingest_requests_total", "401"))
		})
	}
}

func TestUnauthorizedIsAnsweredBeforeTheBodyIsJudged(t *testing.T) {
	t.Parallel()
	svc, _, _ := newAuthService(t, &fakePublisher{}, nil)
	assert.Equal(t, http.StatusUnauthorized, post(svc.Handler(), "", "text/plain", "not json").Code)
	assert.Equal(t, http.StatusUnauthorized, post(svc.Handler(), "", "application/json", strings.Repeat("x", 10000)).Code)
}

func TestTokenLimitsEventTypes(t *testing.T) {
	t.Parallel()
	pub := &fakePublisher{}
	svc, _, reg := newAuthService(t, pub, nil)
	rec := post(svc.Handler(), zoomToken, "application/x-ndjson", lines(webinar("e1"), ev("e2"), webinar("e3"), ev("e4", `"type":"deal.won"`)))
	assert.Equal(t, http.StatusForbidden, rec.Code)
	assert.JSONEq(t, `{"errors":[{"index":1,"field":"type","message":"this source may not send email.opened"},`+
		`{"index":3,"field":"type","message":"this source may not send deal.won"}]}`, rec.Body.String())
	assert.Empty(t, pub.Calls(), "nothing of the batch is published")
	assert.Equal(t, 2.0, sample(t, reg, "leads_ingest_events_rejected_total", ""))

	rec = post(svc.Handler(), zoomToken, "application/json", array(webinar("e1"), ev("e2", `"type":"contact.updated"`)))
	assert.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	rec = post(svc.Handler(), webToken, "application/json", ev("e3", `"type":"deal.won"`))
	assert.Equal(t, http.StatusAccepted, rec.Code, "a * source sends anything")
}

func TestInvalidEventsAre400EvenFromAForbiddenType(t *testing.T) {
	t.Parallel()
	svc, _, _ := newAuthService(t, &fakePublisher{}, nil)
	rec := post(svc.Handler(), zoomToken, "application/json", ev("e1", `"type":"Bad"`))
	assert.Equal(t, http.StatusBadRequest, rec.Code, "validation first, then permissions")
}

func TestRateLimitPerSource(t *testing.T) {
	t.Parallel()
	pub := &fakePublisher{}
	svc, clk, reg := newAuthService(t, pub, nil)
	h := svc.Handler()
	// Burst 3 at 2 events/s: two events, then two more need 0.5 s more.
	require.Equal(t, http.StatusAccepted, post(h, zoomToken, "application/json", array(webinar("e1"), webinar("e2"))).Code)
	rec := post(h, zoomToken, "application/json", array(webinar("e3"), webinar("e4")))
	assert.Equal(t, http.StatusTooManyRequests, rec.Code)
	assert.Equal(t, "1", rec.Header().Get("Retry-After"), "0.5 s rounds up to whole seconds")
	assert.JSONEq(t, `{"errors":[{"message":"source zoom is over its rate limit; retry later"}]}`, rec.Body.String())
	assert.Len(t, pub.Calls(), 1, "the refused batch is not published")

	// Another source has a bucket of its own.
	assert.Equal(t, http.StatusAccepted, post(h, webToken, "application/json", array(ev("w1"), ev("w2"), ev("w3"), ev("w4"))).Code)

	// The refused batch took nothing: one event still fits now.
	require.Equal(t, http.StatusAccepted, post(h, zoomToken, "application/json", webinar("e3")).Code)
	// Empty bucket: refused before the body is read, with the time to one event.
	rec = post(h, zoomToken, "application/json", "not even JSON")
	assert.Equal(t, http.StatusTooManyRequests, rec.Code)
	assert.Equal(t, "1", rec.Header().Get("Retry-After"))

	clk.Add(1500 * time.Millisecond) // three events' worth
	rec = post(h, zoomToken, "application/json", array(webinar("e4"), webinar("e5"), webinar("e6")))
	assert.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())

	clk.Add(time.Hour)
	rec = post(h, zoomToken, "application/json", array(webinar("e7"), webinar("e8"), webinar("e9"), webinar("e10")))
	assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code, "over the burst: waiting never helps, so not 429")
	assert.JSONEq(t, `{"errors":[{"message":"event count over this source's burst of 3 events"}]}`, rec.Body.String())
	assert.Equal(t, 2.0, sample(t, reg, "leads_ingest_requests_total", "429"))
}

func TestRetryAfterCoversTheWholeWait(t *testing.T) {
	t.Parallel()
	tok, err := auth.New(auth.File{Sources: []auth.SourceConfig{
		{Name: "slow", TokenSHA256: auth.Hash("slow"), Types: []string{"*"}, Rate: 0.25, Burst: 2}}})
	require.NoError(t, err)
	svc, err := New(testConfig, zaptest.NewLogger(t), &fakePublisher{}, nil, WithClock(func() time.Time { return now }), WithTokens(tok))
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, post(svc.Handler(), "slow", "application/json", ev("e1")).Code)
	rec := post(svc.Handler(), "slow", "application/json", array(ev("e2"), ev("e3")))
	assert.Equal(t, http.StatusTooManyRequests, rec.Code)
	assert.Equal(t, "4", rec.Header().Get("Retry-After"), "one event missing at 0.25/s")
}

func TestAuthenticatedSourceIsRecorded(t *testing.T) {
	t.Parallel()
	sink := &recordingSink{}
	clk := &clock{t: now}
	svc, err := New(testConfig, zaptest.NewLogger(t), &StreamPublisher{Sink: sink, Topic: "events", Now: clk.Now}, nil,
		WithClock(clk.Now), WithTokens(testTokens(t)))
	require.NoError(t, err)
	rec := post(svc.Handler(), webToken, "application/json", array(ev("e1"), ev("e2", `"source":"hubspot"`)))
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	require.Len(t, sink.recs, 2)
	for _, r := range sink.recs {
		assert.Equal(t, "website", r.HeaderValue(SourceHeader), "the header names the token's source, whatever the event says")
	}
	var e1, e2 event.Event
	require.NoError(t, json.Unmarshal(sink.recs[0].Value, &e1))
	require.NoError(t, json.Unmarshal(sink.recs[1].Value, &e2))
	assert.Equal(t, "website", e1.Source, "an empty source field is filled from the token")
	assert.Equal(t, "hubspot", e2.Source, "a given source field is kept (the header is the authority)")
}

func TestOpenModeRecordsNoSource(t *testing.T) {
	t.Parallel()
	sink := &recordingSink{}
	svc, err := New(testConfig, zaptest.NewLogger(t), &StreamPublisher{Sink: sink, Topic: "events"}, nil,
		WithClock(func() time.Time { return now }), WithTokens(auth.Open()))
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, post(svc.Handler(), "", "application/json", ev("e1")).Code)
	require.Len(t, sink.recs, 1)
	assert.Empty(t, sink.recs[0].Headers)
}

// TestLogsCarryNoTokensOrPII sends requests carrying a token, an email and a
// phone number through every answer the service gives (202, 400, 401, 403,
// 413, 429, 503) with logging at Debug, and checks no log line holds any of
// them, nor a contact id.
func TestLogsCarryNoTokensOrPII(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zapcore.DebugLevel)
	pub := &fakePublisher{}
	svc, clk, _ := newAuthService(t, pub, zap.New(core))
	h := svc.Handler()
	pii := func(id string, extra ...string) string {
		return ev(id, append([]string{`"type":"contact.updated","contact_id":"c-secret-42",` +
			`"properties":{"email":"jane.doe@example.com","phone":"+1-202-555-0147","first_name":"Jane"}`}, extra...)...)
	}
	codes := map[int]bool{}
	for _, r := range []struct{ token, ct, body string }{
		{zoomToken, "application/json", pii("e1")},                                             // 202
		{zoomToken, "application/json", pii("e2", `"id":null`)},                                // 400
		{zoomToken + "-wrong", "application/json", pii("e3")},                                  // 401
		{webToken, "text/plain", pii("e4")},                                                    // 415
		{zoomToken, "application/json", array(pii("e5"), ev("e6"))},                            // 403
		{zoomToken, "application/json", array(pii("e7"), pii("e8"), pii("e9"))},                // 429
		{zoomToken, "application/json", "{\"email\":\"jane.doe@example.com\",\"x\":\"\xff\"}"}, // 400 or 429
	} {
		codes[post(h, r.token, r.ct, r.body).Code] = true
	}
	clk.Add(time.Hour)
	codes[post(h, zoomToken, "application/json", array(pii("a"), pii("b"), pii("c"), pii("d"))).Code] = true // 413
	pub.mu.Lock()
	pub.err = errors.New("kafka: broker 127.0.0.1:9092 unreachable")
	pub.mu.Unlock()
	codes[post(h, zoomToken, "application/json", pii("e10")).Code] = true // 503
	for _, c := range []int{202, 400, 401, 403, 413, 415, 429, 503} {
		assert.True(t, codes[c], "answered %d", c)
	}
	require.NotZero(t, logs.Len())
	for _, entry := range logs.All() {
		line := fmt.Sprint(entry.Message, entry.ContextMap())
		for _, secret := range []string{zoomToken, webToken, auth.Hash(zoomToken), "jane.doe", "example.com", "555-0147",
			"202-555", "Jane", "c-secret-42"} {
			assert.NotContains(t, line, secret)
		}
	}
}

func TestNoTokensMeansOpen(t *testing.T) {
	t.Parallel()
	pub := &fakePublisher{}
	svc, err := New(testConfig, zaptest.NewLogger(t), pub, nil, WithClock(func() time.Time { return now }))
	require.NoError(t, err)
	assert.Equal(t, http.StatusAccepted, post(svc.Handler(), "", "application/json", ev("e1")).Code)
	assert.Equal(t, http.StatusAccepted, post(svc.Handler(), "anything", "application/json", ev("e2")).Code)
	calls := pub.Calls()
	require.Len(t, calls, 2)
	assert.Empty(t, calls[0][0].Source, "no source is made up")
}

// TestRateLimitHoldsUnderConcurrency: 50 requests at one instant from one
// source with a burst of 3 get exactly three 202s; the rest 429.
func TestRateLimitHoldsUnderConcurrency(t *testing.T) {
	t.Parallel()
	pub := &fakePublisher{}
	svc, _, _ := newAuthService(t, pub, nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for i := range 50 {
		wg.Go(func() {
			rec := post(svc.Handler(), zoomToken, "application/json", webinar(fmt.Sprintf("e%d", i)))
			mu.Lock()
			codes[rec.Code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	assert.Equal(t, map[int]int{http.StatusAccepted: 3, http.StatusTooManyRequests: 47}, codes)
	assert.Len(t, pub.Calls(), 3)
}

func TestMetricsPerSource(t *testing.T) {
	t.Parallel()
	svc, _, reg := newAuthService(t, &fakePublisher{}, nil)
	h := svc.Handler()
	post(h, zoomToken, "application/json", array(webinar("e1"), webinar("e2")))          // 202
	post(h, zoomToken, "application/json", array(webinar("e3"), webinar("e4")))          // 429
	post(h, zoomToken, "application/json", ev("e5"))                                     // 403
	post(h, webToken, "application/json", array(ev("w1"), ev("w2"), ev("w3"), ev("w4"))) // 202
	post(h, "nobody", "application/json", ev("x"))                                       // 401, no source
	text := metricsText(t, reg)
	for _, line := range []string{
		`leads_ingest_source_requests_total{code="202",source="zoom"} 1`,
		`leads_ingest_source_requests_total{code="429",source="zoom"} 1`,
		`leads_ingest_source_requests_total{code="403",source="zoom"} 1`,
		`leads_ingest_source_requests_total{code="202",source="website"} 1`,
		`leads_ingest_source_events_accepted_total{source="zoom"} 2`,
		`leads_ingest_source_events_accepted_total{source="website"} 4`,
	} {
		assert.Contains(t, text, line)
	}
	assert.Equal(t, 1.0, sample(t, reg, "leads_ingest_requests_total", "401"))
	assert.NotContains(t, text, `source="nobody"`)
}

// TestUnpublishedBatchDoesNotCountAgainstTheRate: a 503 gives the batch's
// events back to the source's bucket, so its retry is not throttled.
func TestUnpublishedBatchDoesNotCountAgainstTheRate(t *testing.T) {
	t.Parallel()
	pub := &fakePublisher{err: errors.New("kafka down")}
	svc, _, _ := newAuthService(t, pub, nil)
	h := svc.Handler()
	body := array(webinar("e1"), webinar("e2"), webinar("e3"))
	require.Equal(t, http.StatusServiceUnavailable, post(h, zoomToken, "application/json", body).Code)
	pub.mu.Lock()
	pub.err = nil
	pub.mu.Unlock()
	assert.Equal(t, http.StatusAccepted, post(h, zoomToken, "application/json", body).Code, "the retry fits the burst of 3 at the same instant")
	assert.Equal(t, http.StatusTooManyRequests, post(h, zoomToken, "application/json", webinar("e4")).Code, "and now the bucket is empty")
}

// TestInventedTypesAddNoIngestSeries: the ingestor's labels are its status
// codes and the configured sources, so a client posting hundreds of event
// types it made up, accepted or refused, adds no series to /metrics.
func TestInventedTypesAddNoIngestSeries(t *testing.T) {
	t.Parallel()
	svc, _, reg := newAuthService(t, &fakePublisher{}, nil)
	h := svc.Handler()
	invent := func(from, to int) {
		for i := from; i < to; i++ {
			typ := fmt.Sprintf(`"type":"made.up%d"`, i)
			require.Equal(t, http.StatusAccepted, post(h, webToken, "application/json", ev(fmt.Sprintf("w%d", i), typ)).Code)
			post(h, zoomToken, "application/json", ev(fmt.Sprintf("z%d", i), typ)) // 403, then 429: refusals spend its rate
		}
	}
	invent(0, 20) // every status these requests get has its series
	before := metricSeries(metricsText(t, reg))
	invent(20, 520)
	after := metricSeries(metricsText(t, reg))
	assert.Equal(t, before, after, "500 invented types add no series")
}

// metricSeries counts the sample lines of a /metrics text (the Go runtime
// ones aside: they change as the process runs).
func metricSeries(text string) int {
	n := 0
	for _, line := range strings.Split(text, "\n") {
		if line != "" && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "go_") && !strings.HasPrefix(line, "process_") {
			n++
		}
	}
	return n
}
