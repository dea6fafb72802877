package program

import (
	"bytes"
	"context"
	"flag"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/testutil"
)

// TestModelHistoryReadsAPasswordProtectedRedis: `scorer model history`
// without files reads the registry with the Redis security settings that
// the other commands take.
func TestModelHistoryReadsAPasswordProtectedRedis(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testutil.RedisClient(t)
	addr := rdb.Options().Addr
	ns := testutil.Prefix(t)
	def := model.Default()
	require.NoError(t, store.RegisterModel(ctx, rdb, ns, def.Version, model.DefaultYAML()))
	require.NoError(t, rdb.ConfigSet(ctx, "requirepass", "hist-s3cret").Err())

	history := func(extra ...string) (string, error) {
		var out bytes.Buffer
		args := append([]string{"model", "history", "--redis-addr=" + addr, "--namespace=" + ns}, extra...)
		err := Scorer(ctx, args, Options{Stdout: &out})
		return out.String(), err
	}
	out, err := history("--redis-password=hist-s3cret")
	require.NoError(t, err)
	assert.Contains(t, out, def.Version)
	_, err = history("--redis-password=wrong")
	assert.ErrorContains(t, err, "WRONGPASS")
}

// Subcommands (backfill, compare, promote, report and model parse their
// flags with interspersed) name each flag's LEADS_ variable in --help, as
// the programs do.
func TestSubcommandHelpNamesTheVariables(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("scorer backfill", flag.ContinueOnError)
	var out bytes.Buffer
	fs.SetOutput(&out)
	fs.String("redis-addr", "localhost:6379", "Redis")
	_, _, err := interspersed(fs, []string{"A", "--help"})
	require.ErrorIs(t, err, flag.ErrHelp)
	assert.Contains(t, out.String(), "--redis-addr string  [$LEADS_REDIS_ADDR]")
}
