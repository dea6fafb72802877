package ingest

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
