package devstack

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/openapi/openapitest"
	"github.com/leadscore/leads/pkg/report"
)

// TestEveryAnswerIsAsTheAPIDescriptionSays calls every endpoint of the
// ingestor, with good requests and bad ones, through a client that checks
// each answer against openapi.yaml (fields, types, statuses); the other
// end-to-end tests use the same client for theirs.
func TestEveryAnswerIsAsTheAPIDescriptionSays(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	c := openapitest.Client(t)
	code, body := postEvents(t, s.IngestorURL, relative(historyNDJSON, recent()))
	require.Equal(t, http.StatusAccepted, code, body)
	waitContact(t, s, "c-42", 7)
	var rep report.Effectiveness
	require.Eventually(t, func() bool {
		return getJSON(t, s.IngestorURL+"/v1/reports/effectiveness", &rep) == http.StatusOK && rep.Contacts > 0
	}, 20*time.Second, 50*time.Millisecond)

	do := func(method, path, ctype, body string) int {
		req, err := http.NewRequest(method, s.IngestorURL+path, bytes.NewBufferString(body))
		require.NoError(t, err)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := c.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		method, path, ctype, body string
		want                      int
	}{
		{"POST", "/v1/events", "application/json", `[{"id":"x","type":"email.opened","time":"2026-01-01T00:00:00Z"}]`, 400},
		{"POST", "/v1/events", "text/plain", `{}`, 415},
		{"POST", "/v1/batch", "application/json", `{"batch":[{"type":"track","messageId":"m-1","userId":"u-9","event":"Email Opened",` +
			`"timestamp":"` + time.Now().UTC().Add(-time.Minute).Format(time.RFC3339) + `"}]}`, 200},
		{"POST", "/v1/track", "application/json", `{"type":"track","event":"Email Opened"}`, 400},
		{"GET", "/v1/contacts/c-42", "", "", 200},
		{"GET", "/v1/contacts/nobody", "", "", 404},
		{"GET", "/v1/contacts?email=ADA@acme.io", "", "", 200},
		{"GET", "/v1/contacts?email=nobody@acme.io", "", "", 404},
		{"GET", "/v1/contacts?email=", "", "", 400},
		{"GET", "/v1/contacts/c-42/history?limit=3", "", "", 200},
		{"GET", "/v1/contacts/c-42/history?limit=0", "", "", 400},
		{"GET", "/v1/accounts/acme.io", "", "", 200},
		{"GET", "/v1/accounts/nowhere.io", "", "", 404},
		{"GET", "/v1/leaderboard?by=contact&limit=5", "", "", 200},
		{"GET", "/v1/leaderboard?by=account", "", "", 200},
		{"GET", "/v1/leaderboard?by=planet", "", "", 400},
		{"GET", "/v1/model", "", "", 200},
		{"GET", "/v1/reports/effectiveness?model=no-such-version", "", "", 404},
		{"GET", "/openapi.json", "", "", 200},
		{"GET", "/schemas/event.json", "", "", 200},
		{"GET", "/healthz", "", "", 200},
		{"GET", "/readyz", "", "", 200},
	} {
		assert.Equal(t, tc.want, do(tc.method, tc.path, tc.ctype, tc.body), "%s %s", tc.method, tc.path)
	}
	checked := c.Checked()
	for _, want := range []string{"POST /v1/batch 200", "POST /v1/track 400", "POST /v1/events 400", "POST /v1/events 415",
		"GET /v1/contacts/{id} 200", "GET /v1/contacts/{id} 404",
		"GET /v1/contacts 200", "GET /v1/contacts 404", "GET /v1/contacts 400", "GET /v1/contacts/{id}/history 200",
		"GET /v1/contacts/{id}/history 400", "GET /v1/accounts/{id} 200", "GET /v1/leaderboard 400", "GET /v1/model 200",
		"GET /openapi.json 200"} {
		assert.Contains(t, checked, want, "checked against the description")
	}
}
