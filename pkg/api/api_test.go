package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
)

func TestModelEndpointShowsVersionAndReviewSchedule(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		now     string
		overdue bool
	}{{"2027-01-23T12:00:00Z", false}, {"2027-01-24T00:00:01Z", true}} {
		a := New(nil, scoring.New(model.Default()), zaptest.NewLogger(t))
		a.now = func() time.Time { t, _ := time.Parse(time.RFC3339, tc.now); return t }
		mux := http.NewServeMux()
		a.Register(mux)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/model", nil))
		require.Equal(t, http.StatusOK, rec.Code)
		var got map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
		assert.Equal(t, model.Default().Version, got["version"])
		assert.Equal(t, "2026-11-24T00:00:00Z", got["first_version"])
		assert.Equal(t, "2027-01-23T00:00:00Z", got["review_due"])
		assert.Equal(t, tc.overdue, got["review_overdue"], tc.now)
		assert.Equal(t, "2026-11-24", got["changelog"].([]any)[0].(map[string]any)["date"])
	}
}
