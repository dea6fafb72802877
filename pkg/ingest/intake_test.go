package ingest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/event"
)

// lineIntake is an intake whose items are lines of "type contact", each
// one event, and "pair" two events (webinar.registered and .attended).
var lineIntake = Intake{
	Paths: []string{"/v1/lines"},
	Decode: func(body []byte, now time.Time, lim event.Limits) ([]event.Event, []int, error) {
		var evs []event.Event
		var item []int
		for i, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
			typ, contact, _ := strings.Cut(line, " ")
			types := []string{typ}
			if typ == "pair" {
				types = []string{"webinar.registered", "webinar.attended"}
			}
			for j, t := range types {
				evs = append(evs, event.Event{ID: line + string(rune('a'+j)), Type: t, ContactID: contact, Time: now})
				item = append(item, i)
			}
		}
		if len(evs) > lim.MaxEvents {
			return nil, nil, &event.TooLargeError{What: "event count", Limit: int64(lim.MaxEvents)}
		}
		return evs, item, nil
	},
	Accepted: func(w http.ResponseWriter) int { w.WriteHeader(http.StatusOK); return http.StatusOK },
}

func gzipped(s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte(s))
	_ = zw.Close()
	return b.Bytes()
}

// TestAnIntakeIsJudgedAsEventsAre: an intake's requests take the write
// key as Basic user, may be gzip-encoded within the body limit once
// decompressed, and are refused per item of the request, not per event.
func TestAnIntakeIsJudgedAsEventsAre(t *testing.T) {
	t.Parallel()
	pub := &fakePublisher{}
	svc, _, reg := newAuthService(t, pub, nil, WithIntake(lineIntake))
	h := svc.Handler()
	do := func(user, encoding string, body []byte) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/v1/lines", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if encoding != "" {
			req.Header.Set("Content-Encoding", encoding)
		}
		if user != "" {
			req.SetBasicAuth(user, "")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	rec := do("", "", []byte("webinar.attended c-1"))
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.Equal(t, `Basic realm="leads"`, rec.Header().Get("WWW-Authenticate"))

	assert.Equal(t, http.StatusOK, do(zoomToken, "", []byte("webinar.attended c-1")).Code)
	assert.Equal(t, http.StatusOK, do(zoomToken, "gzip", gzipped("pair c-2")).Code)
	require.Len(t, pub.Calls(), 2)
	assert.Len(t, pub.Calls()[1], 2)

	// The decompressed size is bounded (testConfig: 4096 bytes), however
	// small the compressed body.
	bomb := gzipped("webinar.attended c-1\n" + strings.Repeat(" ", 5000))
	require.Less(t, len(bomb), 4096)
	rec = do(webToken, "gzip", bomb)
	assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code, rec.Body.String())
	assert.Equal(t, http.StatusBadRequest, do(webToken, "gzip", []byte("not gzip")).Code)
	assert.Equal(t, http.StatusUnsupportedMediaType, do(webToken, "br", []byte("x")).Code)

	// zoom may send webinar.* and contact.updated: item 1 is refused, by
	// its index in the request.
	rec = do(webToken+"x", "", []byte("x"))
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	rec = do("web-0123456789abcdef", "", []byte("pair c-3\nemail.opened c-3"))
	assert.Equal(t, http.StatusOK, rec.Code, "website may send anything")
	rec = do(zoomToken, "", []byte("pair c-3\nemail.opened c-3"))
	require.Equal(t, http.StatusForbidden, rec.Code)
	var body struct{ Errors []map[string]any }
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	assert.Equal(t, []map[string]any{{"index": 1.0, "field": "type", "message": "this source may not send email.opened"}}, body.Errors)

	// /v1/events still refuses an encoded body.
	req := httptest.NewRequest(http.MethodPost, "/v1/events", bytes.NewReader(gzipped(webinar("e1"))))
	req.Header.Set("Authorization", "Bearer "+webToken)
	req.Header.Set("Content-Encoding", "gzip")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusUnsupportedMediaType, rec.Code)

	text := metricsText(t, reg)
	assert.Contains(t, text, `leads_ingest_intake_requests_total{code="200",path="/v1/lines"} 3`)
	assert.Contains(t, text, `leads_ingest_intake_requests_total{code="401",path="/v1/lines"} 2`)
}
