package scoring

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
)

// TestLostOldHomeCommitIsRepaired: a contact moves from old.io to new.io,
// but only the new home is stored (the old home's commit was lost). The
// contact's next event removes the stale copy from the old account.
func TestLostOldHomeCommitIsRepaired(t *testing.T) {
	t.Parallel()
	e := New(model.Default())
	mem := NewMemory()
	w := mem.Workspace(e)
	first := event.Event{ID: "e1", Type: "meeting.booked", ContactID: "c-1", AccountID: "old.io", Time: t0}
	require.NoError(t, w.Apply(&first))
	mem.Commit(w)
	require.Equal(t, int32(40), mem.Homes["a:old.io"].Account.Engagement)

	w = mem.Workspace(e)
	move := event.Event{ID: "e2", Type: "contact.updated", ContactID: "c-1", AccountID: "new.io", Time: t0.Add(time.Hour)}
	require.NoError(t, w.Apply(&move))
	require.Equal(t, []Move{{Contact: "c-1", From: "a:old.io", To: "a:new.io"}}, w.Moves)
	// Store only the new home, as after a conflict or crash on the old one.
	mem.Homes["a:new.io"] = w.Homes["a:new.io"]
	mem.Where["c-1"] = "a:new.io"
	assert.Contains(t, mem.Homes["a:old.io"].Contacts, "c-1", "the stale copy")

	w = mem.Workspace(e)
	next := event.Event{ID: "e3", Type: "email.opened", ContactID: "c-1", AccountID: "new.io", Time: t0.Add(2 * time.Hour)}
	require.NoError(t, w.Apply(&next))
	mem.Commit(w)
	assert.NotContains(t, mem.Homes["a:old.io"].Contacts, "c-1")
	assert.Empty(t, mem.Homes["a:old.io"].Account.Members)
	assert.Equal(t, int32(0), mem.Homes["a:old.io"].Account.Engagement)
	c := mem.Contact("c-1")
	assert.Empty(t, c.MovedFrom)
	assert.Equal(t, int32(45), c.Behavior)
	assert.Equal(t, int32(45), mem.Homes["a:new.io"].Account.Engagement)

	// Once repaired, later events do not look at the old home again.
	w = mem.Workspace(e)
	later := event.Event{ID: "e4", Type: "email.opened", ContactID: "c-1", AccountID: "new.io", Time: t0.Add(3 * time.Hour)}
	require.NoError(t, w.Apply(&later))
	assert.NotContains(t, w.Homes, "a:old.io")
}

// TestAccountCrossingByDecayIsTheSameInAnyOrder: members of an account
// decayed one order or the other give the same crossings, with the same
// ids, the account's included.
func TestAccountCrossingByDecayIsTheSameInAnyOrder(t *testing.T) {
	t.Parallel()
	e := New(model.Default())
	members := []string{"c-1", "c-2", "c-3"}
	decayed := func(order []string) map[string]string {
		mem := NewMemory()
		w := mem.Workspace(e)
		for i, id := range members {
			ev := event.Event{ID: "m-" + id, Type: "meeting.booked", ContactID: id, AccountID: "acme.io", Time: t0.Add(time.Duration(i) * time.Hour)}
			require.NoError(t, w.Apply(&ev))
		}
		mem.Commit(w)
		require.True(t, mem.Homes["a:acme.io"].Account.MQA)
		w = mem.Workspace(e)
		for _, id := range order {
			w.Locate(id, "a:acme.io")
			_, err := w.Decay(id, t0.Add(100*24*time.Hour))
			require.NoError(t, err)
		}
		ids := map[string]string{}
		for _, x := range w.Homes["a:acme.io"].Crossings {
			ids[x.ID()] = x.Type + " " + x.Subject() + " <- " + x.Cause
		}
		mem.Commit(w)
		require.False(t, mem.Homes["a:acme.io"].Account.MQA)
		return ids
	}
	forward := decayed(members)
	assert.Contains(t, forward, (&Crossing{Type: LeftMQA, AccountID: "acme.io", Cause: AccountDecayCause("acme.io", t0.Add(100*24*time.Hour))}).ID())
	assert.Equal(t, forward, decayed([]string{"c-3", "c-1", "c-2"}))
}
