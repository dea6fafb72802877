package program

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/app"
	"github.com/leadscore/leads/pkg/testutil"
)

// TestEveryProgramServesItsBuild: /metrics of the ingestor, the scorer
// and the decayer has leads_build_info with the binary's version, VCS
// revision and Go version, at 1.
func TestEveryProgramServesItsBuild(t *testing.T) {
	t.Parallel()
	p := testutil.Prefix(t)
	brokers := testutil.Kafka(t, 1, p+".events", p+".transitions", p+".dlq")
	redisAddr, _ := testutil.Redis(t)
	args := []string{"--kafka-brokers=" + brokers[0], "--redis-addr=" + redisAddr, "--namespace=" + p, "--events-topic=" + p + ".events",
		"--transitions-topic=" + p + ".transitions", "--dlq-topic=" + p + ".dlq", "--log-level=warn"}
	b := app.ReadBuild()
	want := `leads_build_info{go_version="` + b.GoVersion + `",revision="` + b.Revision + `",version="` + b.Version + `"} 1` + "\n"
	for _, prog := range []struct {
		name  string
		run   func(context.Context, []string, Options) error
		extra []string
	}{
		{"ingestor", Ingestor, nil},
		{"scorer", Scorer, []string{"--group=" + p}},
		{"decayer", Decayer, []string{"--interval=1h"}},
	} {
		url := startProgram(t, prog.name, prog.run, testutil.Logger(t), append(args, prog.extra...)...)
		resp, err := http.Get(url + "/metrics")
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Contains(t, string(body), want, "%s /metrics", prog.name)
	}
}
