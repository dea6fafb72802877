package program

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/auth"
	"github.com/leadscore/leads/pkg/testutil"
)

// errorBody is the one error shape of every HTTP answer: index only for
// an item of a posted batch, field where one parameter or field is at
// fault.
type errorBody struct {
	Errors []struct {
		Index   *int    `json:"index"`
		Field   *string `json:"field"`
		Message string  `json:"message"`
	} `json:"errors"`
}

// checkErrorShape checks an answer is the JSON error shape, nothing else
// (no "error" key, no text), and returns it.
func checkErrorShape(t *testing.T, what string, resp *http.Response, body []byte) (errorBody, bool) {
	t.Helper()
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"), "%s: Content-Type; body %s", what, body)
	var got errorBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil || len(got.Errors) == 0 {
		t.Errorf("%s: want {\"errors\":[{\"message\":...}]}, got %s", what, bytes.TrimSpace(body))
		return got, false
	}
	for _, e := range got.Errors {
		assert.NotEmpty(t, e.Message, "%s: %s", what, body)
	}
	return got, true
}

// TestEveryProgramAnswersErrorsInOneJSONShape: the ingestor's POST
// /v1/events answered {"errors":[...]} for invalid events but
// {"error":"..."} for everything else, the read API {"error":"..."} too,
// and unknown routes and wrong methods text/plain from the mux, on every
// program. Every error is now {"errors":[{"field"?,"message"}]}
// (with "index" for an item of a batch) as application/json, and a wrong
// method is a 405 that says in Allow which methods the path takes.
func TestEveryProgramAnswersErrorsInOneJSONShape(t *testing.T) {
	t.Parallel()
	p := testutil.Prefix(t)
	topic := p + ".events"
	brokers := testutil.Kafka(t, 1, topic)
	redisAddr, _ := testutil.Redis(t)
	tokens := filepath.Join(t.TempDir(), "tokens.yaml")
	require.NoError(t, os.WriteFile(tokens, []byte(`
sources:
  - {name: zoom, token_sha256: `+auth.Hash("zoom-token")+`, types: ["webinar.*"], rate: 1000000, burst: 1}
  - {name: slow, token_sha256: `+auth.Hash("slow-token")+`, types: ["webinar.*"], rate: 0.001, burst: 1}
readers:
  - {name: crm, token_sha256: `+auth.Hash("read-token")+`}
`), 0o600))
	common := []string{"--kafka-brokers=" + brokers[0], "--redis-addr=" + redisAddr, "--namespace=" + p,
		"--events-topic=" + topic, "--transitions-topic=" + p + ".t", "--dlq-topic=" + p + ".dlq", "--log-level=error"}
	ingestor := startIngestor(t, testutil.Logger(t), append(common, "--tokens-file="+tokens)...)
	scorer := startProgram(t, "scorer", Scorer, testutil.Logger(t), append(common, "--group="+p)...)
	decayer := startProgram(t, "decayer", Decayer, testutil.Logger(t), append(common, "--interval=1h")...)

	do := func(method, url, token, contentType, body string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		require.NoError(t, err)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		c := http.Client{Timeout: 10 * time.Second}
		resp, err := c.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, b
	}
	const event = `{"id":"e1","type":"webinar.attended","contact_id":"c-1","time":"2026-11-20T10:00:00Z"}`
	const js = "application/json"
	for _, tt := range []struct {
		method, url, token, contentType, body string
		status                                int
		allow                                 string
		index                                 bool   // the errors are about items of a batch
		field                                 string // the field of the first error, if any
	}{
		{"POST", ingestor + "/v1/events", "", js, event, 401, "", false, ""},
		{"GET", ingestor + "/v1/contacts/c-1", "zoom-token", "", "", 401, "", false, ""},
		{"POST", ingestor + "/v1/events", "zoom-token", js, strings.Replace(event, "webinar.attended", "deal.won", 1), 403, "", true, "type"},
		{"POST", ingestor + "/v1/events", "zoom-token", "text/plain", event, 415, "", false, ""},
		{"POST", ingestor + "/v1/events", "zoom-token", js, "[" + event + "," + event + "]", 413, "", false, ""},
		{"POST", ingestor + "/v1/events", "zoom-token", js, `{"id":"x","type":"Bad"}`, 400, "", true, "type"},
		{"POST", ingestor + "/v1/events", "zoom-token", js, `{"id":`, 400, "", true, ""},
		{"GET", ingestor + "/v1/contacts/c-404", "read-token", "", "", 404, "", false, ""},
		{"GET", ingestor + "/v1/accounts/a-404", "read-token", "", "", 404, "", false, ""},
		{"GET", ingestor + "/v1/leaderboard?by=team", "read-token", "", "", 400, "", false, "by"},
		{"GET", ingestor + "/v1/leaderboard?limit=0", "read-token", "", "", 400, "", false, "limit"},
		{"GET", ingestor + "/v1/contacts/c-1/history?limit=x", "read-token", "", "", 400, "", false, "limit"},
		{"GET", ingestor + "/v1/reports/effectiveness?model=none", "read-token", "", "", 404, "", false, "model"},
		{"GET", ingestor + "/v1/reports/effectiveness?since=Monday", "read-token", "", "", 400, "", false, "since"},
		{"GET", ingestor + "/v1/contacts/c-1/history/all", "read-token", "", "", 404, "", false, ""},
		{"GET", ingestor + "/v1/nothing", "", "", "", 404, "", false, ""},
		{"GET", ingestor + "/", "", "", "", 404, "", false, ""},
		{"GET", ingestor + "/v1/events", "", "", "", 405, "POST", false, ""},
		{"DELETE", ingestor + "/v1/contacts/c-1", "read-token", "", "", 405, "GET, HEAD", false, ""},
		{"POST", ingestor + "/healthz", "", js, "{}", 405, "GET, HEAD", false, ""},
		{"GET", scorer + "/v1/contacts/c-1", "", "", "", 404, "", false, ""},
		{"POST", scorer + "/metrics", "", js, "{}", 405, "GET, HEAD", false, ""},
		{"GET", decayer + "/nothing", "", "", "", 404, "", false, ""},
		{"PUT", decayer + "/readyz", "", js, "{}", 405, "GET, HEAD", false, ""},
	} {
		what := tt.method + " " + tt.url
		resp, body := do(tt.method, tt.url, tt.token, tt.contentType, tt.body)
		if !assert.Equal(t, tt.status, resp.StatusCode, "%s: %s", what, body) {
			continue
		}
		got, ok := checkErrorShape(t, what, resp, body)
		assert.Equal(t, tt.allow, resp.Header.Get("Allow"), "%s: Allow", what)
		if !ok {
			continue
		}
		for _, e := range got.Errors {
			assert.Equal(t, tt.index, e.Index != nil, "%s: index only for the items of a batch: %s", what, body)
		}
		if tt.field != "" {
			require.NotNil(t, got.Errors[0].Field, "%s: %s", what, body)
			assert.Equal(t, tt.field, *got.Errors[0].Field, "%s", what)
		}
	}

	// 429: the slow source's one token is taken by the first event. (zoom
	// refills at once: its refused requests above cost it tokens too.)
	resp, body := do("POST", ingestor+"/v1/events", "slow-token", js, event)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "%s", body)
	resp, body = do("POST", ingestor+"/v1/events", "slow-token", js, strings.Replace(event, "e1", "e2", 1))
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "%s", body)
	checkErrorShape(t, "429", resp, body)
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
}
