package ingest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/leadscore/leads/pkg/event"
)

// TestBadInputAtTheEdge: what the ingestor answers to hostile or broken
// bodies. Every refusal publishes nothing and names the item and field.
func TestBadInputAtTheEdge(t *testing.T) {
	t.Parallel()
	long := func(n int) string { return strings.Repeat("x", n) }
	props := func(n int) string {
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"p%03d":1`, i)
		}
		return `"properties":{` + b.String() + `}`
	}
	for _, tt := range []struct {
		name, ct, body string
		status         int
		index          int
		field, msg     string
	}{
		// Numbers: JSON has no NaN or Infinity; a literal is invalid JSON, and
		// a number too large for a float64 is not finite.
		{name: "NaN literal", body: `{"id":"e1","type":"video.watched","contact_id":"c","time":"2026-11-20T10:00:00Z","properties":{"percent":NaN}}`,
			status: 400, msg: "invalid JSON"},
		{name: "Infinity literal", body: `{"id":"e1","type":"video.watched","contact_id":"c","time":"2026-11-20T10:00:00Z","properties":{"percent":-Infinity}}`,
			status: 400, msg: "invalid JSON"},
		{name: "number overflowing float64", body: `{"id":"e1","type":"video.watched","contact_id":"c","time":"2026-11-20T10:00:00Z","properties":{"percent":1e999}}`,
			status: 400, field: "properties.percent", msg: "not a finite number"},
		{name: "negative overflow nested", body: `{"id":"e1","type":"a.b","contact_id":"c","time":"2026-11-20T10:00:00Z","properties":{"x":{"y":[-1e400]}}}`,
			status: 400, field: "properties.x", msg: "not a finite number"},
		{name: "huge integer is a finite number", body: `{"id":"e1","type":"a.b","contact_id":"c","time":"2026-11-20T10:00:00Z","properties":{"n":123456789012345678901234567890}}`,
			status: 202},

		// Lengths.
		{name: "id of 128 bytes", body: ev(long(128)), status: 202},
		{name: "id of 129 bytes", body: ev(long(129)), status: 400, field: "id", msg: "longer than 128 bytes"},
		{name: "contact_id of 129 bytes", body: ev("e1", `"contact_id":"`+long(129)+`"`), status: 400, field: "contact_id", msg: "longer than 128"},
		{name: "account_id of 129 bytes", body: ev("e1", `"account_id":"`+long(129)+`"`), status: 400, field: "account_id", msg: "longer than 128"},
		{name: "type of 65 bytes", body: ev("e1", `"type":"a.`+strings.Repeat("b", 63)+`"`), status: 400, field: "type", msg: "longer than 64"},
		{name: "source of 65 bytes", body: ev("e1", `"source":"`+long(65)+`"`), status: 400, field: "source", msg: "longer than 64"},
		{name: "property value of 2049 bytes", body: ev("e1", `"properties":{"url":"`+long(2049)+`"}`), status: 400, field: "properties.url", msg: "longer than 2048"},
		{name: "64 properties", body: ev("e1", props(64)), status: 202},
		{name: "65 properties", body: ev("e1", props(65)), status: 400, field: "properties", msg: "more than 64"},
		{name: "property key of 65 bytes", body: ev("e1", `"properties":{"`+long(65)+`":1}`), status: 400, field: "properties", msg: "key longer than 64"},
		{name: "array property of 65 items", body: ev("e1", `"properties":{"technologies":[`+strings.TrimSuffix(strings.Repeat(`"go",`, 65), ",")+`]}`),
			status: 400, field: "properties.technologies", msg: "more than 64 items"},

		// Encoding.
		{name: "invalid UTF-8 in a property", body: "{\"id\":\"e1\",\"type\":\"a.b\",\"contact_id\":\"c\",\"time\":\"2026-11-20T10:00:00Z\",\"properties\":{\"n\":\"\xc3\x28\"}}",
			status: 400, msg: "not valid UTF-8"},
		{name: "invalid UTF-8 on NDJSON line 2", ct: "application/x-ndjson", body: lines(ev("e1"), "{\"id\":\"e2\xff\"}"), status: 400, index: 1, msg: "UTF-8"},
		{name: "NUL escaped in an id", body: ev("e1", `"contact_id":"c\u0000"`), status: 400, field: "contact_id", msg: "control characters"},
		{name: "lone surrogate escape becomes U+FFFD", body: ev("e1", `"properties":{"name":"\ud800"}`), status: 202},
		{name: "byte order mark", body: "\xef\xbb\xbf" + ev("e1"), status: 202},

		// Shapes and types.
		{name: "scalar body", body: `5`, status: 400, msg: "JSON object"},
		{name: "null body", body: `null`, status: 400, msg: "JSON object"},
		{name: "array item is an array", body: `[[` + ev("e1") + `]]`, status: 400, msg: "JSON object"},
		{name: "NDJSON line is an array", ct: "application/x-ndjson", body: lines(ev("e1"), "["+ev("e2")+"]"), status: 400, index: 1, msg: "JSON object"},
		{name: "type is a number", body: ev("e1", `"type":7`), status: 400, field: "type", msg: "expected a string"},
		{name: "contact_id is an object", body: ev("e1", `"contact_id":{"email":"x"}`), status: 400, field: "contact_id", msg: "expected a string"},
		{name: "properties is a string", body: ev("e1", `"properties":"x"`), status: 400, field: "properties", msg: "expected an object"},
		{name: "type is null", body: `{"id":"e1","type":null,"contact_id":"c","time":"2026-11-20T10:00:00Z"}`, status: 400, field: "type", msg: "required"},
		{name: "deep nesting in an unknown field", body: ev("e1", `"extra":`+strings.Repeat("[", 17)+strings.Repeat("]", 17)), status: 400, msg: "deeper than 16"},

		// Times.
		{name: "time with a space", body: ev("e1", `"time":"2026-11-20 10:00:00Z"`), status: 400, field: "time", msg: "RFC 3339"},
		{name: "time without a zone", body: ev("e1", `"time":"2026-11-20T10:00:00"`), status: 400, field: "time", msg: "RFC 3339"},
		{name: "date only", body: ev("e1", `"time":"2026-11-20"`), status: 400, field: "time", msg: "RFC 3339"},
		{name: "Unix seconds", body: ev("e1", `"time":1763632800`), status: 400, field: "time", msg: "RFC 3339"},
		{name: "before 1970", body: ev("e1", `"time":"1969-12-31T23:59:59Z"`), status: 400, field: "time", msg: "1970"},
		{name: "year 0001", body: ev("e1", `"time":"0001-01-01T00:00:00Z"`), status: 400, field: "time", msg: "required"},
		{name: "year 10000", body: ev("e1", `"time":"10000-01-01T00:00:00Z"`), status: 400, field: "time", msg: "RFC 3339"},
		{name: "5 minutes ahead in another zone", body: ev("e1", `"time":"2026-11-20T13:05:00+01:00"`), status: 202},
		{name: "6 minutes ahead in another zone", body: ev("e1", `"time":"2026-11-20T13:06:00+01:00"`), status: 400, field: "time", msg: "future"},

		// Transport.
		{name: "upper-case media type", ct: "APPLICATION/JSON", body: ev("e1"), status: 202},
		{name: "NDJSON with charset", ct: "application/x-ndjson; charset=utf-8", body: lines(ev("e1")), status: 202},
		{name: "application/jsonl", ct: "application/jsonl", body: lines(ev("e1")), status: 415},
		{name: "UTF-16", ct: "application/json; charset=utf-16", body: ev("e1"), status: 415},
		{name: "multipart", ct: "multipart/form-data; boundary=x", body: ev("e1"), status: 415},
		{name: "whitespace over the body limit", body: strings.Repeat(" ", 4097), status: 413},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pub := &fakePublisher{}
			svc, _ := newService(t, pub)
			ct := tt.ct
			if ct == "" {
				ct = "application/json"
			}
			rec := do(svc.Handler(), http.MethodPost, "/v1/events", ct, tt.body)
			require.Equal(t, tt.status, rec.Code, rec.Body.String())
			if tt.status == http.StatusAccepted {
				require.Len(t, pub.Calls(), 1)
				return
			}
			assert.Empty(t, pub.Calls(), "nothing of a refused batch is published")
			if tt.status != http.StatusBadRequest {
				return
			}
			var got errorsBody
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got), rec.Body.String())
			require.NotEmpty(t, got.Errors)
			assert.Equal(t, tt.index, got.Errors[0].Index)
			assert.Equal(t, tt.field, got.Errors[0].Field)
			assert.Contains(t, got.Errors[0].Message, tt.msg)
		})
	}
}

func httptestRequest(body string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/v1/events", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return req
}

func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestCompressedBodiesAreRefused(t *testing.T) {
	t.Parallel()
	pub := &fakePublisher{}
	svc, _ := newService(t, pub)
	for _, enc := range []string{"gzip", "br", "deflate"} {
		req := httptestRequest(ev("e1"))
		req.Header.Set("Content-Encoding", enc)
		rec := serve(svc.Handler(), req)
		assert.Equal(t, http.StatusUnsupportedMediaType, rec.Code, enc)
		assert.JSONEq(t, `{"errors":[{"message":"Content-Encoding is not supported: send the body uncompressed"}]}`, rec.Body.String())
	}
	req := httptestRequest(ev("e1"))
	req.Header.Set("Content-Encoding", "identity")
	assert.Equal(t, http.StatusAccepted, serve(svc.Handler(), req).Code)
	assert.Len(t, pub.Calls(), 1)
}

// TestWhatIsPublishedIsWhatWasValidated: the record value is the decoded
// event encoded again, so unknown fields are dropped rather than forwarded,
// and with a key given twice the last one counts for validation and for
// the record alike.
func TestWhatIsPublishedIsWhatWasValidated(t *testing.T) {
	t.Parallel()
	sink := &recordingSink{}
	svc, err := New(testConfig, zaptest.NewLogger(t), &StreamPublisher{Sink: sink, Topic: "events"}, nil,
		WithClock(func() time.Time { return now }))
	require.NoError(t, err)
	body := `{"id":"e1","type":"Bad","contact_id":"c-1","time":"2026-11-20T10:00:00Z","campaign":{"secret":"x"},"type":"email.opened","id":"e2"}`
	rec := do(svc.Handler(), http.MethodPost, "/v1/events", "application/json", body)
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	require.Len(t, sink.recs, 1)
	var got map[string]any
	require.NoError(t, json.Unmarshal(sink.recs[0].Value, &got))
	assert.Equal(t, "e2", got["id"])
	assert.Equal(t, "email.opened", got["type"])
	assert.NotContains(t, got, "campaign")
	var back event.Event
	require.NoError(t, json.Unmarshal(sink.recs[0].Value, &back))
	assert.Empty(t, back.Validate(now))

	rec = do(svc.Handler(), http.MethodPost, "/v1/events", "application/json",
		`{"id":"e1","type":"email.opened","contact_id":"c-1","time":"2026-11-20T10:00:00Z","type":"Bad"}`)
	assert.Equal(t, http.StatusBadRequest, rec.Code, "the last type counts")
}
