package devstack

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/api"
	"github.com/leadscore/leads/pkg/program"
	"github.com/leadscore/leads/pkg/report"
	"github.com/leadscore/leads/pkg/testutil"
)

// TestEndToEndOnRedisCluster runs the whole pipeline on a 3-node Redis
// Cluster (--redis-addr as a comma list): the same scores, ledger,
// transitions and report as on one Redis, then a decayer pass and a
// compare across namespaces, which scan every node.
func TestEndToEndOnRedisCluster(t *testing.T) {
	t.Parallel()
	nodes := testutil.RedisCluster(t, 3)
	s := startStackWith(t, Config{RedisAddr: strings.Join(nodes, ",")})
	day0 := recent()
	code, body := postEvents(t, s.IngestorURL, relative(historyNDJSON, day0))
	require.Equal(t, http.StatusAccepted, code, body)

	c := waitContact(t, s, "c-42", 7)
	assert.Equal(t, int32(60), c.Fit)
	assert.Equal(t, int32(70), c.Behavior)
	assert.True(t, c.MQL)
	assert.True(t, c.AQL)
	var hist struct{ Entries []api.Entry }
	require.Equal(t, http.StatusOK, getJSON(t, s.IngestorURL+"/v1/contacts/c-42/history", &hist))
	var sum int32
	for _, e := range hist.Entries {
		sum += e.Points
	}
	assert.Equal(t, int32(130), sum, "the ledger adds up to the score")
	var acct api.Account
	require.Equal(t, http.StatusOK, getJSON(t, s.IngestorURL+"/v1/accounts/acme.io", &acct))
	assert.Equal(t, 2, acct.ContactCount)
	var board struct{ Entries []struct{ ID string } }
	require.Equal(t, http.StatusOK, getJSON(t, s.IngestorURL+"/v1/leaderboard?by=contact&limit=5", &board))
	ces := transitions(t, s, 5, 20*time.Second)
	assert.Equal(t, []string{
		"lead.stage_changed<-h-5", "lead.became_mql<-h-5", "lead.became_aql<-h-5", "lead.stage_changed<-h-7",
	}, byContact(ces, "c-42"))
	assert.Equal(t, []string{"account.became_mqa<-h-7"}, byContact(ces, "acme.io"))
	var rep report.Effectiveness
	require.Eventually(t, func() bool {
		return getJSON(t, s.IngestorURL+"/v1/reports/effectiveness", &rep) == http.StatusOK && rep.MQLs == 1
	}, 20*time.Second, 20*time.Millisecond, "report counters on the cluster")

	// A decayer pass over a year later: due index shards and leases on every node.
	ctx := context.Background()
	common := []string{"--kafka-brokers=" + strings.Join(s.Brokers, ","), "--redis-addr=" + strings.Join(nodes, ","),
		"--events-topic=" + s.EventsTopic, "--transitions-topic=" + s.TransitionsTopic, "--dlq-topic=" + s.DLQTopic, "--log-level=warn"}
	require.NoError(t, program.Decayer(ctx, append(common, "--once", "--now="+day0.AddDate(1, 1, 0).Format(time.RFC3339), "--http-addr=127.0.0.1:0"),
		program.Options{Logger: testutil.Logger(t)}))
	c = waitContact(t, s, "c-42", 7)
	assert.Equal(t, int32(10), c.Behavior, "decayed to the floor")
	assert.True(t, c.Dormant)
	assert.False(t, c.AQL, "below AQL's behavior gate")
	assert.True(t, c.MQL, "fit 60 + floor 10 = 70, MQL's leave threshold")

	// compare scans every master of the cluster.
	var out strings.Builder
	require.NoError(t, program.Scorer(ctx, []string{"compare", "--json", "--redis-addr=" + strings.Join(nodes, ","), "leads", "leads"},
		program.Options{Stdout: &out, Logger: testutil.Logger(t)}))
	assert.Contains(t, out.String(), `"contacts": 2`)
}
