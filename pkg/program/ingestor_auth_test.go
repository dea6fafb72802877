package program

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/leadscore/leads/pkg/auth"
	"github.com/leadscore/leads/pkg/ingest"
	"github.com/leadscore/leads/pkg/segment"
	"github.com/leadscore/leads/pkg/stream"
	"github.com/leadscore/leads/pkg/testutil"
)

// startIngestor runs the ingestor program on a free port until the test
// ends and returns its base URL.
func startIngestor(t *testing.T, log *zap.Logger, args ...string) string {
	t.Helper()
	return startProgram(t, "ingestor", Ingestor, log, args...)
}

// startProgram runs a program on a free port until the test ends and
// returns its base URL.
func startProgram(t *testing.T, name string, run func(context.Context, []string, Options) error, log *zap.Logger,
	args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	up := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append(args, "--http-addr=127.0.0.1:0"), Options{Logger: log, OnListen: func(a string) { up <- a }})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Errorf("%s did not stop within 10s", name)
		}
	})
	select {
	case a := <-up:
		return "http://" + a
	case err := <-done:
		t.Fatalf("%s failed: %v", name, err)
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not start within 20s", name)
	}
	return ""
}

func call(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestIngestorWithTokens runs the ingestor with a tokens file against the
// embedded broker and redis-server: writes and reads need their tokens,
// health and metrics do not, and the source lands in a Kafka header.
func TestIngestorWithTokens(t *testing.T) {
	t.Parallel()
	p := testutil.Prefix(t)
	topic := p + ".events"
	brokers := testutil.Kafka(t, 1, topic)
	redisAddr, _ := testutil.Redis(t)
	tokens := filepath.Join(t.TempDir(), "tokens.yaml")
	require.NoError(t, os.WriteFile(tokens, []byte(`
sources:
  - {name: zoom, token_sha256: `+auth.Hash("zoom-token")+`, types: ["webinar.*"], rate: 100, burst: 100}
readers:
  - {name: crm, token_sha256: `+auth.Hash("read-token")+`}
`), 0o600))
	core, logs := observer.New(zapcore.InfoLevel)
	url := startIngestor(t, zap.New(core), "--kafka-brokers="+brokers[0], "--redis-addr="+redisAddr, "--namespace="+p,
		"--events-topic="+topic, "--transitions-topic="+p+".t", "--dlq-topic="+p+".dlq", "--tokens-file="+tokens)

	const event = `{"id":"e1","type":"webinar.attended","contact_id":"c-1","time":"2026-11-20T10:00:00Z"}`
	code, _ := call(t, http.MethodPost, url+"/v1/events", "", event)
	assert.Equal(t, http.StatusUnauthorized, code)
	code, _ = call(t, http.MethodPost, url+"/v1/events", "read-token", event)
	assert.Equal(t, http.StatusUnauthorized, code, "a read token cannot write")
	code, body := call(t, http.MethodPost, url+"/v1/events", "zoom-token", strings.Replace(event, "webinar.attended", "deal.won", 1))
	assert.Equal(t, http.StatusForbidden, code, body)
	code, body = call(t, http.MethodPost, url+"/v1/events", "zoom-token", event)
	require.Equal(t, http.StatusAccepted, code, body)

	for _, path := range []string{"/v1/contacts/c-404", "/v1/contacts/c-404/history", "/v1/accounts/a-404", "/v1/leaderboard"} {
		code, _ = call(t, http.MethodGet, url+path, "", "")
		assert.Equal(t, http.StatusUnauthorized, code, path)
		code, _ = call(t, http.MethodGet, url+path, "zoom-token", "")
		assert.Equal(t, http.StatusUnauthorized, code, "a source token cannot read: "+path)
		code, _ = call(t, http.MethodGet, url+path, "read-token", "")
		assert.NotEqual(t, http.StatusUnauthorized, code, path)
	}
	code, _ = call(t, http.MethodGet, url+"/v1/leaderboard", "read-token", "")
	assert.Equal(t, http.StatusOK, code)
	code, _ = call(t, http.MethodGet, url+"/v1/contacts/c-404", "read-token", "")
	assert.Equal(t, http.StatusNotFound, code)
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		code, _ = call(t, http.MethodGet, url+path, "", "")
		assert.Equal(t, http.StatusOK, code, path)
	}

	c := stream.NewConsumer(stream.Config{Brokers: brokers}, p+"-check", topic, zap.NewNop())
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	recs, err := c.FetchBatch(ctx, 10, 100*time.Millisecond)
	require.NoError(t, err)
	require.Len(t, recs, 1, "only the accepted event was published")
	assert.Equal(t, "zoom", recs[0].HeaderValue(ingest.SourceHeader))
	assert.Contains(t, string(recs[0].Value), `"source":"zoom"`)

	assert.Equal(t, 1, logs.FilterMessage("bearer tokens required").Len())
	assert.Zero(t, logs.FilterLevelExact(zapcore.WarnLevel).Len())
}

func TestIngestorWithoutTokensWarns(t *testing.T) {
	t.Parallel()
	p := testutil.Prefix(t)
	brokers := testutil.Kafka(t, 1, p+".events")
	redisAddr, _ := testutil.Redis(t)
	core, logs := observer.New(zapcore.InfoLevel)
	url := startIngestor(t, zap.New(core), "--kafka-brokers="+brokers[0], "--redis-addr="+redisAddr, "--namespace="+p,
		"--events-topic="+p+".events", "--transitions-topic="+p+".t", "--dlq-topic="+p+".dlq")
	warnings := logs.FilterLevelExact(zapcore.WarnLevel).All()
	require.Len(t, warnings, 1)
	assert.Contains(t, warnings[0].Message, "NO --tokens-file")
	code, body := call(t, http.MethodPost, url+"/v1/events", "", `{"id":"e1","type":"deal.won","contact_id":"c-1","time":"2026-11-20T10:00:00Z"}`)
	assert.Equal(t, http.StatusAccepted, code, body)
	code, _ = call(t, http.MethodGet, url+"/v1/leaderboard", "", "")
	assert.Equal(t, http.StatusOK, code)
}

func TestIngestorRefusesABadTokensFile(t *testing.T) {
	t.Parallel()
	tokens := filepath.Join(t.TempDir(), "tokens.yaml")
	require.NoError(t, os.WriteFile(tokens, []byte(`sources: [{name: zoom, token_sha256: plaintext-token, types: ["*"]}]`), 0o600))
	err := Ingestor(context.Background(), []string{"--tokens-file=" + tokens}, Options{Logger: zap.NewNop()})
	require.ErrorIs(t, err, auth.ErrHash)
	assert.NotContains(t, err.Error(), "plaintext-token", "a token pasted by mistake is not echoed")
}

// TestIngestorRefusesABadSegmentMapping: a mapping file that does not
// validate stops the ingestor at start, naming the line.
func TestIngestorRefusesABadSegmentMapping(t *testing.T) {
	t.Parallel()
	mapping := filepath.Join(t.TempDir(), "segment.yaml")
	require.NoError(t, os.WriteFile(mapping, []byte("track:\n  Demo Requested: Demo\n"), 0o600))
	err := Ingestor(context.Background(), []string{"--segment-mapping=" + mapping}, Options{Logger: zap.NewNop()})
	require.ErrorIs(t, err, segment.ErrInvalid)
	assert.Contains(t, err.Error(), "line 2: track[Demo Requested].type")
}
