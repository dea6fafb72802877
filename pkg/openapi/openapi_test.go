package openapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/openapi"
	"github.com/leadscore/leads/pkg/openapi/openapitest"
)

// TestTheDescriptionIsValidOpenAPI31: it loads and validates, and
// /openapi.json serves it as JSON, with the event's JSON Schema apart.
func TestTheDescriptionIsValidOpenAPI31(t *testing.T) {
	t.Parallel()
	doc, err := openapitest.Load()
	require.NoError(t, err)
	assert.True(t, doc.IsOpenAPI31OrLater())
	for _, path := range []string{"/v1/events", "/v1/batch", "/v1/track", "/v1/contacts/{id}", "/v1/contacts/{id}/history",
		"/v1/accounts/{id}", "/v1/leaderboard", "/v1/model", "/v1/reports/effectiveness"} {
		assert.NotNil(t, doc.Paths.Find(path), path)
	}

	mux := http.NewServeMux()
	openapi.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for path, check := range map[string]func(map[string]any){
		"/openapi.json": func(m map[string]any) { assert.Equal(t, "3.1.0", m["openapi"]) },
		"/schemas/event.json": func(m map[string]any) {
			assert.Equal(t, "https://json-schema.org/draft/2020-12/schema", m["$schema"])
			assert.ElementsMatch(t, []any{"id", "type", "time"}, m["required"])
		},
	} {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		var m map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&m), path)
		resp.Body.Close()
		check(m)
	}
}

// recorder is a testing.TB that keeps what it was told.
type recorder struct{ errs []string }

func (r *recorder) Helper()                      {}
func (r *recorder) Errorf(f string, args ...any) { r.errs = append(r.errs, fmt.Sprintf(f, args...)) }
func (r *recorder) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }

// TestTheCheckerCatchesAnAnswerThatDrifted: a field the description does
// not have, a wrong type, or an undocumented path fails the test.
func TestTheCheckerCatchesAnAnswerThatDrifted(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		path, body string
		bad        bool
	}{
		"as described":     {"/v1/leaderboard?by=account", `{"by":"account","items":[{"id":"a","score":3}]}`, false},
		"a field too many": {"/v1/leaderboard", `{"by":"contact","items":[],"cursor":"x"}`, true},
		"a wrong type":     {"/v1/leaderboard", `{"by":"contact","items":[{"id":"a","score":"3"}]}`, true},
		"not described":    {"/v1/nowhere", `{}`, true},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(tc.body))
		}))
		rec := &recorder{}
		c := openapitest.Client(rec)
		resp, err := c.Get(srv.URL + tc.path)
		require.NoError(t, err, name)
		resp.Body.Close()
		srv.Close()
		assert.Equal(t, tc.bad, len(rec.errs) > 0, "%s: %v", name, rec.errs)
	}
}
