package app

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestReadyzAnswersWithinASecondWhateverTheChecksDo: a check that never
// returns (it ignores its context, as a client with its own timeouts may)
// and one that fails naming an address: /readyz answers 503 within the
// deadline naming both, without the address, which goes to the log once;
// probes meanwhile share the hung check's one call; ready again once both
// answer.
func TestReadyzAnswersWithinASecondWhateverTheChecksDo(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var hungCalls atomic.Int32
	var healthy atomic.Bool
	core, logs := observer.New(zapcore.InfoLevel)
	h := &Health{Gatherer: prometheus.NewRegistry(), Log: zap.New(core), Checks: []Check{
		{Name: "redis", Ping: func(context.Context) error {
			if healthy.Load() {
				return nil
			}
			hungCalls.Add(1)
			<-release
			return errors.New("i/o timeout")
		}},
		{Name: "kafka", Ping: func(context.Context) error {
			if healthy.Load() {
				return nil
			}
			return errors.New("dial tcp 10.1.2.3:9092: connect: connection refused")
		}},
		{Name: "scorer", Failing: "retrying Redis or Kafka", Ping: func(context.Context) error { return nil }},
	}}
	mux := http.NewServeMux()
	h.Register(mux)
	probe := func() (int, string, time.Duration) {
		start := time.Now()
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code, rec.Body.String(), time.Since(start)
	}

	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, body, took := probe()
			assert.Equal(t, http.StatusServiceUnavailable, code)
			assert.JSONEq(t, `{"errors":[{"message":"not ready: redis: not reachable (no answer within 1s); kafka: not reachable"}]}`, body)
			assert.Less(t, took, 2*time.Second)
			assert.GreaterOrEqual(t, took, ReadyTimeout, "the hung check was waited for up to the deadline")
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(1), hungCalls.Load(), "probes share the hung check's call")
	warnings := logs.FilterMessage("not ready").All()
	if assert.Len(t, warnings, 1, "logged once, not per probe") {
		assert.Contains(t, warnings[0].ContextMap()["errors"], map[string]any{"error": "kafka: dial tcp 10.1.2.3:9092: connect: connection refused"},
			"the log says why")
	}

	healthy.Store(true)
	close(release)
	assert.Eventually(t, func() bool { code, _, _ := probe(); return code == http.StatusOK }, 5*time.Second, 10*time.Millisecond)
	code, body, _ := probe()
	assert.Equal(t, http.StatusOK, code)
	assert.JSONEq(t, `{"status":"ready"}`, body)
	assert.Equal(t, 1, logs.FilterMessage("ready").Len())
}

// TestReadyGaugeSaysWhatReadyzSays: leads_ready is 1 while every check
// answers, 0 while one fails or the program drains, so that an alert sees
// what the probes see.
func TestReadyGaugeSaysWhatReadyzSays(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	h := &Health{Gatherer: prometheus.NewRegistry(), Checks: []Check{{Name: "redis", Ping: func(context.Context) error {
		if down.Load() {
			return errors.New("dial tcp: connection refused")
		}
		return nil
	}}}}
	g := h.ReadyGauge()
	assert.Equal(t, 1.0, promtest.ToFloat64(g))
	down.Store(true)
	assert.Equal(t, 0.0, promtest.ToFloat64(g))
	down.Store(false)
	assert.Equal(t, 1.0, promtest.ToFloat64(g))
	h.Drain()
	assert.Equal(t, 0.0, promtest.ToFloat64(g))
}
