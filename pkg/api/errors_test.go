package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
)

// countingDown is a Redis that does not answer (downReader) and counts
// the report reads, which a refused window must not make.
type countingDown struct {
	downReader
	reports int
}

func (r *countingDown) Report(ctx context.Context, version string) (map[string]string, error) {
	r.reports++
	return r.downReader.Report(ctx, version)
}

// TestReadErrorsAreTheOneJSONShape: the read API answered {"error":"..."}
// where POST /v1/events answers {"errors":[{"index","field","message"}]};
// every read error is now {"errors":[{"field"?,"message"}]}, the field
// naming the query parameter at fault. A report window whose since is
// later than its until was accepted (an empty report); it is a 400 now,
// decided before Redis is asked.
func TestReadErrorsAreTheOneJSONShape(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		path   string
		reader Reader
		status int
		field  string
	}{
		{"/v1/contacts/c-404", memReader{scoring.NewMemory()}, 404, ""},
		{"/v1/accounts/a-404", memReader{scoring.NewMemory()}, 404, ""},
		{"/v1/reports/effectiveness?model=9", memReader{scoring.NewMemory()}, 404, "model"},
		{"/v1/contacts/c-1", &countingDown{}, 503, ""},
		{"/v1/leaderboard", &countingDown{}, 503, ""},
		{"/v1/leaderboard?by=team", &countingDown{}, 400, "by"},
		{"/v1/leaderboard?limit=1001", &countingDown{}, 400, "limit"},
		{"/v1/contacts/c-1/history?limit=0", &countingDown{}, 400, "limit"},
		{"/v1/reports/effectiveness?since=2026-12-01&until=2026-11-01", &countingDown{}, 400, "since"},
		{"/v1/reports/effectiveness?since=2026-11-31", &countingDown{}, 400, "since"},
		{"/v1/reports/effectiveness?until=yesterday", &countingDown{}, 400, "until"},
	} {
		a := New(tt.reader, scoring.New(model.Default()), zaptest.NewLogger(t))
		mux := http.NewServeMux()
		a.Register(mux)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
		if !assert.Equal(t, tt.status, rec.Code, "%s: %s", tt.path, rec.Body) {
			continue
		}
		assert.Equal(t, "application/json", rec.Header().Get("Content-Type"), tt.path)
		var got struct {
			Errors []struct {
				Field   string `json:"field"`
				Message string `json:"message"`
			} `json:"errors"`
		}
		dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
		dec.DisallowUnknownFields()
		if !assert.NoError(t, dec.Decode(&got), "%s: want {\"errors\":[{\"field\"?,\"message\"}]}, got %s", tt.path, rec.Body) {
			continue
		}
		require.Len(t, got.Errors, 1, tt.path)
		assert.Equal(t, tt.field, got.Errors[0].Field, tt.path)
		assert.NotEmpty(t, got.Errors[0].Message, tt.path)
		if d, ok := tt.reader.(*countingDown); ok && tt.status == http.StatusBadRequest {
			assert.Zero(t, d.reports, "%s: a refused window reads nothing", tt.path)
		}
		if tt.status == http.StatusServiceUnavailable {
			assert.Equal(t, "1", rec.Header().Get("Retry-After"), tt.path)
		}
	}
}

// TestHistoryServesAsManyLinesAsTheModelKeeps: the limit of a history
// request goes up to the model's ledger.keep (and to 200 under a model
// that keeps fewer): a model that keeps 500 lines lets a client read them.
func TestHistoryServesAsManyLinesAsTheModelKeeps(t *testing.T) {
	t.Parallel()
	keeps500 := func() *model.Model {
		y := bytes.Replace(model.DefaultYAML(), []byte("\ngrades:"), []byte("\nledger: {keep: 500}\n\ngrades:"), 1)
		m, err := model.Parse(y)
		require.NoError(t, err)
		require.Equal(t, 500, m.LedgerKeep)
		return m
	}()
	for _, tt := range []struct {
		m      *model.Model
		limit  string
		status int
	}{
		{model.Default(), "200", 503},
		{model.Default(), "201", 400},
		{keeps500, "500", 503},
		{keeps500, "501", 400},
	} {
		a := New(&countingDown{}, scoring.New(tt.m), zaptest.NewLogger(t))
		mux := http.NewServeMux()
		a.Register(mux)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/contacts/c-1/history?limit="+tt.limit, nil))
		// 503: the limit passed and the (down) store was asked.
		assert.Equal(t, tt.status, rec.Code, "keep %d, limit %s", tt.m.LedgerKeep, tt.limit)
	}
}
