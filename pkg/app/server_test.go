package app

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSlowBodyIsCutOff: a client that sends its headers and then trickles
// the body loses the connection after ReadTimeout instead of holding it.
func TestSlowBodyIsCutOff(t *testing.T) {
	t.Parallel()
	srv, err := Listen("127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusRequestTimeout)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	require.NoError(t, err)
	assert.Equal(t, ReadTimeout, srv.srv.ReadTimeout, "the server bounds whole requests")
	srv.srv.ReadTimeout = 300 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, time.Second) }()
	t.Cleanup(func() { cancel(); <-done })

	conn, err := net.Dial("tcp", srv.Addr())
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = io.ReadAll(conn) // returns when the server closes the connection
	require.NoError(t, err)
	assert.Less(t, time.Since(start), 5*time.Second, "the server closed the stalled request")
}

// TestReadinessAnswersJSON: /readyz answered text/plain "not ready: ..."
// beside a JSON API; a 503 is now in the error shape every HTTP error
// takes, and the 200s are JSON too.
func TestReadinessAnswersJSON(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	h := &Health{Gatherer: prometheus.NewRegistry(), Checks: []Check{{Name: "redis", Ping: func(context.Context) error {
		if down.Load() {
			return errors.New("dial tcp 10.0.0.7:6379: connection refused")
		}
		return nil
	}}}}
	mux := http.NewServeMux()
	h.Register(mux)
	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		assert.Equal(t, "application/json", rec.Header().Get("Content-Type"), path)
		return rec
	}
	for _, tt := range []struct {
		setup  func()
		path   string
		status int
		body   string
	}{
		{func() {}, "/healthz", 200, `{"status":"ok"}`},
		{func() {}, "/readyz", 200, `{"status":"ready"}`},
		{func() { down.Store(true) }, "/readyz", 503, `{"errors":[{"message":"not ready: redis: not reachable"}]}`},
		{func() { down.Store(false); h.Drain() }, "/readyz", 503, `{"errors":[{"message":"not ready: shutting down"}]}`},
	} {
		tt.setup()
		rec := get(tt.path)
		assert.Equal(t, tt.status, rec.Code, tt.path)
		assert.JSONEq(t, tt.body, rec.Body.String(), tt.path)
	}
}

// TestShutdownEndsAStreamThatWatchesStopping: a response that streams
// until its client leaves holds a graceful shutdown until its deadline,
// unless it watches Stopping, which closes when the shutdown begins.
func TestShutdownEndsAStreamThatWatchesStopping(t *testing.T) {
	t.Parallel()
	for _, watch := range []bool{true, false} {
		started := make(chan struct{})
		srv, err := Listen("127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			close(started)
			stopping := Stopping(r.Context())
			if !watch {
				stopping = nil
			}
			select {
			case <-r.Context().Done():
			case <-stopping:
			}
		}))
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ctx, 500*time.Millisecond) }()
		resp, err := http.Get("http://" + srv.Addr() + "/events")
		require.NoError(t, err)
		<-started
		cancel()
		if watch {
			assert.NoError(t, <-done, "the stream ended when the shutdown began")
		} else {
			assert.ErrorIs(t, <-done, context.DeadlineExceeded, "the stream held the shutdown")
		}
		resp.Body.Close()
	}
	assert.Nil(t, Stopping(context.Background()))
}
