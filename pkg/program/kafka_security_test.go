package program

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/leadscore/leads/pkg/testutil"
)

// TestProgramsAreReadyOnASecuredKafka runs each program against a broker
// that speaks only TLS and needs a SCRAM login: each turns ready, so every
// Kafka connection it makes, the readiness check's included, uses the
// security flags.
func TestProgramsAreReadyOnASecuredKafka(t *testing.T) {
	t.Parallel()
	files := testutil.TLS(t)
	p := testutil.Prefix(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(files.Server), kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-512", "leads", "s3cret"),
		kfake.SeedTopics(2, p+".events", p+".transitions", p+".dlq"))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	redisAddr, _ := testutil.Redis(t)
	args := []string{"--kafka-brokers=" + c.ListenAddrs()[0], "--kafka-tls", "--kafka-tls-ca=" + files.CA,
		"--kafka-sasl-mechanism=scram-sha-512", "--kafka-sasl-username=leads", "--kafka-sasl-password=s3cret",
		"--redis-addr=" + redisAddr, "--namespace=" + p, "--events-topic=" + p + ".events",
		"--transitions-topic=" + p + ".transitions", "--dlq-topic=" + p + ".dlq", "--log-level=warn"}
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
		require.Eventually(t, func() bool {
			resp, err := http.Get(url + "/readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		}, 15*time.Second, 50*time.Millisecond, "%s ready", prog.name)
	}
}
