package ingest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"
)

// TestRefusedRequestsSpendTheSourcesRate: a request refused for what it
// is or carries (400, 403, 413, 415) takes from its source's bucket an
// event for every 1 KiB of body read (testConfig: 4,096 bytes for 4
// events), at least one, at most the burst, so a source cannot have
// bodies judged faster than its rate. zoom's bucket holds 3 events.
func TestRefusedRequestsSpendTheSourcesRate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, ct, body string
		status         int
		cost           int
	}{
		{"an invalid event", "application/json", webinar("e1")[:len(webinar("e1"))-1] + `,"type":"Bad"}`, 400, 1},
		{"broken JSON", "application/json", `{"id":`, 400, 1},
		{"4,000 bytes of broken JSON", "application/json", `{"id":"` + strings.Repeat("x", 4000), 400, 3},
		{"2 KiB with a property over a limit", "application/json",
			ev("e1", `"type":"webinar.attended","properties":{"x":"`+strings.Repeat("x", 2049)+`"}`), 400, 3},
		{"a forbidden type", "application/json", ev("e1"), 403, 1},
		{"more events than the burst", "application/json", array(webinar("e1"), webinar("e2"), webinar("e3"), webinar("e4")), 413, 1},
		{"a body over the limit, unread", "application/json", strings.Repeat(" ", 5000), 413, 1},
		{"a wrong Content-Type", "text/plain", webinar("e1"), 415, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			svc, _, _ := newAuthService(t, &fakePublisher{}, nil)
			h := svc.Handler()
			require.Equal(t, tt.status, post(h, zoomToken, tt.ct, tt.body).Code)
			left := 0
			for left < 3 && post(h, zoomToken, "application/json", webinar("w")).Code == http.StatusAccepted {
				left++
			}
			assert.Equal(t, 3-tt.cost, left, "events left in the bucket")
		})
	}
}

// TestAFloodOfHostileBodiesIsThrottled: a source that only sends bodies
// the ingestor refuses gets 429s, before its bodies are read, once they
// have cost its bucket, and again after each refill.
func TestAFloodOfHostileBodiesIsThrottled(t *testing.T) {
	t.Parallel()
	svc, clk, _ := newAuthService(t, &fakePublisher{}, nil)
	h := svc.Handler()
	hostile := `{"properties":{"x":[` + strings.TrimSuffix(strings.Repeat("{},", 1300), ",") + `]}}`
	codes := map[int]int{}
	for range 10 {
		codes[post(h, zoomToken, "application/json", hostile).Code]++
	}
	assert.Equal(t, map[int]int{http.StatusBadRequest: 1, http.StatusTooManyRequests: 9}, codes)
	clk.Add(1500 * time.Millisecond) // three events at 2/s
	assert.Equal(t, http.StatusBadRequest, post(h, zoomToken, "application/json", hostile).Code)
	assert.Equal(t, http.StatusTooManyRequests, post(h, zoomToken, "application/json", hostile).Code)
}

// firstRead signals when its body is first read, and counts reads.
type firstRead struct {
	r       io.Reader
	started chan struct{}
	reads   atomic.Int32
}

func (f *firstRead) Read(p []byte) (int, error) {
	if f.reads.Add(1) == 1 {
		close(f.started)
	}
	return f.r.Read(p)
}

// TestBodiesInHandAreCapped: with --max-decoding-bytes of 6,000, a request
// holding 4,096 bytes leaves room for 1,904: one more that declares 2,000
// bytes, or declares nothing (counted as --max-body-bytes), is answered
// 503 with Retry-After before its body is read; once the first is
// answered, it gets in.
func TestBodiesInHandAreCapped(t *testing.T) {
	t.Parallel()
	cfg := testConfig
	cfg.MaxDecodingBytes = 6000
	pub := &fakePublisher{}
	svc, err := New(cfg, zaptest.NewLogger(t), pub, nil, WithClock(func() time.Time { return now }))
	require.NoError(t, err)
	h := svc.Handler()

	pr, pw := io.Pipe()
	first := &firstRead{r: pr, started: make(chan struct{})}
	req := httptest.NewRequest(http.MethodPost, "/v1/events", first)
	req.Header.Set("Content-Type", "application/json")
	body := ev("e1") + strings.Repeat(" ", 4096-len(ev("e1")))
	req.ContentLength = int64(len(body))
	answered := make(chan int, 1)
	go func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		answered <- rec.Code
	}()
	select {
	case <-first.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the first body was never read")
	}

	for _, length := range []int64{2000, -1} {
		b := ev("e2")
		second := &firstRead{r: strings.NewReader(b), started: make(chan struct{})}
		req := httptest.NewRequest(http.MethodPost, "/v1/events", second)
		req.Header.Set("Content-Type", "application/json")
		req.ContentLength = length
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		assert.Equal(t, http.StatusServiceUnavailable, rec.Code, "length %d", length)
		assert.Equal(t, "1", rec.Header().Get("Retry-After"))
		assert.JSONEq(t, `{"errors":[{"message":"too many request bodies in hand; retry later"}]}`, rec.Body.String())
		assert.Zero(t, second.reads.Load(), "its body is not read")
	}
	assert.Equal(t, http.StatusAccepted, do(h, http.MethodPost, "/v1/events", "application/json", ev("e3")).Code,
		"a smaller body fits beside the first")

	_, err = io.WriteString(pw, body)
	require.NoError(t, err)
	require.NoError(t, pw.Close())
	select {
	case code := <-answered:
		assert.Equal(t, http.StatusAccepted, code)
	case <-time.After(10 * time.Second):
		t.Fatal("the first request was never answered")
	}
	req = httptest.NewRequest(http.MethodPost, "/v1/events", strings.NewReader(ev("e2")))
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = -1
	assert.Equal(t, http.StatusAccepted, serve(h, req).Code, "room again for the largest body")
	assert.Len(t, pub.Calls(), 3)
}
