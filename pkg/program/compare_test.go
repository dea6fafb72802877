package program

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/rescore"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/testutil"
)

// TestCompareRefusesANamespaceWithoutData: `scorer compare leads nothere`
// compared against a namespace nothing was ever written to and reported
// every contact as changed, without a word about the typo. A namespace
// with no contact and no account is refused, naming it.
func TestCompareRefusesANamespaceWithoutData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testutil.RedisClient(t)
	ns := testutil.Prefix(t)
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	bf := &rescore.Backfill{Log: testutil.Logger(t), Store: store.New(rdb, ns), Engine: scoring.New(model.Default())}
	_, err := bf.FromFile(ctx, testutil.WriteNDJSON(t, t.TempDir(), []event.Event{
		{ID: "e1", Type: "webinar.attended", ContactID: "c-1", AccountID: "acme.io", Time: at},
		{ID: "e2", Type: "meeting.booked", ContactID: "c-2", Time: at},
	}))
	require.NoError(t, err)
	compare := func(a, b string) (string, error) {
		var out bytes.Buffer
		err := Scorer(ctx, []string{"compare", "--redis-addr=" + rdb.Options().Addr, a, b}, Options{Stdout: &out})
		return out.String(), err
	}
	out, err := compare(ns, ns)
	require.NoError(t, err)
	assert.Contains(t, out, "contacts")

	for _, args := range [][2]string{{ns, ns + "-nothere"}, {ns + "-nothere", ns}} {
		out, err := compare(args[0], args[1])
		require.Error(t, err, "%v: %s", args, out)
		assert.Contains(t, err.Error(), `namespace "`+ns+`-nothere" holds no contact or account`)
		assert.NotZero(t, ExitCode(err))
		assert.Empty(t, out, "nothing compared")
	}
}
