package scorer

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/demo"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
)

// TestWipeAndReplayRebuildsIdenticalState: Redis holds derived state only.
// After a wipe, a new consumer group reading the events topic from the start
// rebuilds every contact and account exactly, ledgers included.
func TestWipeAndReplayRebuildsIdenticalState(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	gen := demo.New(11, 60, base, "rb-")
	evs := append(gen.Accounts(), gen.Next(800, 3*time.Hour)...)
	r.publish(t, evs...)
	contacts := map[string]bool{}
	accounts := map[string]bool{}
	for _, e := range evs {
		if e.ContactID != "" {
			contacts[e.ContactID] = true
		}
		if e.AccountID != "" {
			accounts[e.AccountID] = true
		}
	}
	snapshot := func() (map[string]*scoring.Contact, map[string]*scoring.Account, map[string][]scoring.Entry) {
		cs, as, ls := map[string]*scoring.Contact{}, map[string]*scoring.Account{}, map[string][]scoring.Entry{}
		for id := range contacts {
			c, _, err := r.st.Contact(r.ctx, id)
			require.NoError(t, err)
			cs[id] = c
			h, err := r.st.History(r.ctx, id, store.DefaultLedgerMax)
			require.NoError(t, err)
			ls[id] = h
		}
		for id := range accounts {
			a, err := r.st.Account(r.ctx, id)
			require.NoError(t, err)
			as[id] = a
		}
		return cs, as, ls
	}
	waitAll := func() {
		t.Helper()
		require.Eventually(t, func() bool {
			var n int32
			for id := range contacts {
				c, _, err := r.st.Contact(r.ctx, id)
				if err != nil {
					return false
				}
				n += c.Events
			}
			for id := range accounts {
				a, err := r.st.Account(r.ctx, id)
				if err != nil {
					return false
				}
				n += a.Events
			}
			return int(n) == len(evs)
		}, 30*time.Second, 50*time.Millisecond)
	}
	stop := r.run(t)
	waitAll()
	stop()
	c1, a1, l1 := snapshot()

	require.NoError(t, r.st.Client().FlushAll(r.ctx).Err())
	r.group += "-rebuild"
	stop = r.run(t)
	defer stop()
	waitAll()
	c2, a2, l2 := snapshot()
	assert.Equal(t, c1, c2)
	assert.Equal(t, a1, a2)
	assert.Equal(t, l1, l2)
}
