package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
)

// downReader fails every read the way the store does when Redis is down:
// the error names the id asked for.
type downReader struct{}

var errDown = errors.New("dial tcp 10.0.0.7:6379: connect: connection refused")

func (downReader) Contact(_ context.Context, id string) (*scoring.Contact, string, error) {
	return nil, "", fmt.Errorf("contact %q: %w", id, errDown)
}
func (downReader) ContactByEmail(context.Context, string) (string, error) {
	return "", fmt.Errorf("email: %w", errDown)
}
func (downReader) Account(_ context.Context, id string) (*scoring.Account, error) {
	return nil, fmt.Errorf("account %q: %w", id, errDown)
}
func (downReader) History(_ context.Context, id string, _ int) ([]scoring.Entry, error) {
	return nil, fmt.Errorf("history of %q: %w", id, errDown)
}
func (downReader) Leaderboard(context.Context, string, int) ([]store.Ranked, error) {
	return nil, fmt.Errorf("leaderboard contact: %w", errDown)
}
func (downReader) Filtered(context.Context, []store.Filter, int, *store.Ranked, int) (*store.Matching, error) {
	return nil, fmt.Errorf("leaderboard contact: %w", errDown)
}
func (downReader) Report(_ context.Context, version string) (map[string]string, error) {
	return nil, fmt.Errorf("report %q: %w", version, errDown)
}

// TestLogsCarryNoIDs: ids in the path may be email addresses or phone
// numbers; a failed read logs why, not what was asked for.
func TestLogsCarryNoIDs(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zapcore.DebugLevel)
	mux := http.NewServeMux()
	New(downReader{}, scoring.New(model.Default()), zap.New(core)).Register(mux)
	for _, path := range []string{"/v1/contacts/jane.doe@example.com", "/v1/contacts/+1-202-555-0147/history",
		"/v1/accounts/jane.doe@example.com", "/v1/leaderboard"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		assert.Equal(t, http.StatusServiceUnavailable, rec.Code, path)
		assert.Equal(t, "1", rec.Header().Get("Retry-After"))
	}
	require.Equal(t, 4, logs.FilterMessage("read failed").Len())
	for _, entry := range logs.All() {
		line := fmt.Sprint(entry.Message, entry.ContextMap())
		assert.Contains(t, line, "connection refused", "the cause is logged")
		for _, secret := range []string{"jane.doe", "example.com", "555-0147"} {
			assert.NotContains(t, line, secret)
		}
	}
}
