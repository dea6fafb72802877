package httperr

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHandlerAnswersUnknownRoutesAndWrongMethodsAsJSON: a ServeMux answers
// a path it has no pattern for, and a method the path's patterns do not
// take, in text/plain; Handler answers both in the error shape, keeping
// the mux's status and Allow header, and leaves every other answer alone.
func TestHandlerAnswersUnknownRoutesAndWrongMethodsAsJSON(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/contacts/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"contact_id":"` + r.PathValue("id") + `"}`))
	})
	mux.HandleFunc("POST /v1/events", func(w http.ResponseWriter, _ *http.Request) { WriteField(w, 400, "type", "is required") })
	h := Handler(mux)
	for _, tt := range []struct {
		method, path string
		status       int
		allow        string
		body         string
	}{
		{"GET", "/v1/nothing", 404, "", `{"errors":[{"message":"no such resource: /v1/nothing"}]}`},
		{"GET", "/v1/contacts/c-1/history", 404, "", `{"errors":[{"message":"no such resource: /v1/contacts/c-1/history"}]}`},
		{"DELETE", "/v1/contacts/c-1", 405, "GET, HEAD", `{"errors":[{"message":"DELETE is not allowed on /v1/contacts/c-1: use GET or HEAD"}]}`},
		{"GET", "/v1/events", 405, "POST", `{"errors":[{"message":"GET is not allowed on /v1/events: use POST"}]}`},
		{"GET", "/v1/contacts/c-1", 200, "", `{"contact_id":"c-1"}`},
		{"POST", "/v1/events", 400, "", `{"errors":[{"field":"type","message":"is required"}]}`},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		assert.Equal(t, tt.status, rec.Code, "%s %s", tt.method, tt.path)
		assert.Equal(t, "application/json", rec.Header().Get("Content-Type"), "%s %s", tt.method, tt.path)
		assert.Equal(t, tt.allow, rec.Header().Get("Allow"), "%s %s", tt.method, tt.path)
		assert.JSONEq(t, tt.body, rec.Body.String(), "%s %s", tt.method, tt.path)
	}
	// A path the mux cleans is redirected, as before.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1//contacts/c-1", nil))
	assert.Equal(t, http.StatusTemporaryRedirect, rec.Code)
	assert.Equal(t, "/v1/contacts/c-1", rec.Header().Get("Location"))
}

func TestItemsKeepIndexAndField(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	WriteItems(rec, 400, []Item{{Index: 0, Message: "is not an object"}, {Index: 2, Field: "time", Message: "is required"}})
	var got map[string][]map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	assert.Equal(t, map[string]any{"index": 0.0, "field": "", "message": "is not an object"}, got["errors"][0])
	assert.Equal(t, map[string]any{"index": 2.0, "field": "time", "message": "is required"}, got["errors"][1])
}
