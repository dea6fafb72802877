package scoring

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
)

func mergeEvent(from, into string, at time.Time) event.Event {
	return event.Event{ID: "merge:" + from, Type: event.ContactMerged, ContactID: from, Time: at,
		Properties: map[string]any{event.MergeInto: into}}
}

// applyAll applies events in one workspace each, committing after each,
// and returns the crossings and ledger lines they made.
func applyAll(t interface {
	require.TestingT
	Helper()
}, e *Engine, mem *Memory, evs ...event.Event) ([]Crossing, []Entry) {
	t.Helper()
	var crossings []Crossing
	var lines []Entry
	for i := range evs {
		w := mem.Workspace(e)
		require.NoError(t, w.Apply(&evs[i]))
		for _, h := range w.Homes {
			crossings = append(crossings, h.Crossings...)
			lines = append(lines, h.Ledger...)
		}
		mem.Commit(w)
	}
	return crossings, lines
}

func visit(id, contact, url string, at time.Time) event.Event {
	return event.Event{ID: id, Type: "web.page_viewed", ContactID: contact, Time: at, Properties: map[string]any{"url": url}}
}

// TestMergeCountsTheVisitorForTheContact: an anonymous visitor's pricing
// visits and webinar, merged into a known contact, count for it at once
// (the sum of both behaviors, no decay between), with the crossing the
// merge causes; the visitor is left a tombstone, its later events count
// for the contact, and a second merge of it does nothing.
func TestMergeCountsTheVisitorForTheContact(t *testing.T) {
	t.Parallel()
	e := New(model.Default())
	mem := NewMemory()
	applyAll(t, e, mem,
		visit("v1", "anon:x", "https://acme.io/pricing", t0),
		visit("v2", "anon:x", "https://acme.io/pricing?plan=pro", t0.Add(time.Hour)),
		event.Event{ID: "v3", Type: "webinar.attended", ContactID: "anon:x", Time: t0.Add(2 * time.Hour)},
		event.Event{ID: "k1", Type: "contact.updated", ContactID: "u-1", AccountID: "acme.io", Time: t0.Add(3 * time.Hour),
			Properties: map[string]any{"title": "VP Marketing", "email": "vp@acme.io"}},
		event.Event{ID: "k2", Type: "meeting.booked", ContactID: "u-1", AccountID: "acme.io", Time: t0.Add(3 * time.Hour)},
	)
	anon, known := mem.Contact("anon:x").Clone(), mem.Contact("u-1").Clone()
	require.Positive(t, anon.Behavior)
	require.False(t, known.MQL, "not an MQL before the merge: %d", known.Score())
	require.GreaterOrEqual(t, known.Score()+anon.Behavior, int32(model.Default().MQL.Enter), "the merge must cross MQL")

	merge := mergeEvent("anon:x", "u-1", t0.Add(4*time.Hour))
	crossings, _ := applyAll(t, e, mem, merge)
	got := mem.Contact("u-1")
	assert.Equal(t, known.Behavior+anon.Behavior, got.Behavior)
	assert.Equal(t, known.Fit, got.Fit, "the contact keeps its own fit")
	assert.Equal(t, known.Events+anon.Events, got.Events)
	assert.True(t, got.MQL)
	assert.Equal(t, []string{"anon:x"}, got.Merged)
	for _, p := range anon.Products {
		assert.Contains(t, got.Products, Product{Name: p.Name, Anchor: p.Anchor, Score: p.Score})
	}
	var became *Crossing
	for i := range crossings {
		if crossings[i].Type == BecameMQL && crossings[i].ContactID == "u-1" {
			became = &crossings[i]
		}
	}
	require.NotNil(t, became, "%+v", crossings)
	assert.Equal(t, merge.ID, became.Cause)
	assert.Equal(t, got.Score(), became.Score)

	tomb := mem.Contact("anon:x")
	assert.Equal(t, &Contact{ID: "anon:x", MergedInto: "u-1", Model: e.Model().Version}, tomb)
	assert.Equal(t, got.Behavior, mem.Homes["a:acme.io"].Account.Members["u-1"])

	// The visitor's late event counts for the contact.
	before := got.Behavior
	applyAll(t, e, mem, event.Event{ID: "v4", Type: "webinar.attended", ContactID: "anon:x", Time: t0.Add(5 * time.Hour)})
	assert.Equal(t, before+25, mem.Contact("u-1").Behavior)
	assert.Equal(t, "anon:x", mem.Contact("anon:x").ID)
	assert.Zero(t, mem.Contact("anon:x").Behavior)

	// Once: merging it again, into the same or another contact, does nothing.
	again := mem.Contact("u-1").Clone()
	applyAll(t, e, mem, mergeEvent("anon:x", "u-1", t0.Add(6*time.Hour)), mergeEvent("anon:x", "u-2", t0.Add(6*time.Hour)))
	assert.Equal(t, again, mem.Contact("u-1"))
	assert.Nil(t, mem.Contact("u-2"))
}

// TestMergeJoinsOnTheLaterDecayClock: a visitor idle for 40 days merged
// into a contact who engaged yesterday keeps what decay left it (one step
// of 10), and the merged behavior decays from the contact's clock.
func TestMergeJoinsOnTheLaterDecayClock(t *testing.T) {
	t.Parallel()
	e := New(model.Default())
	mem := NewMemory()
	applyAll(t, e, mem,
		event.Event{ID: "v1", Type: "webinar.attended", ContactID: "anon:x", Time: t0},
		event.Event{ID: "k1", Type: "meeting.booked", ContactID: "u-1", Time: t0.Add(day(40))},
		mergeEvent("anon:x", "u-1", t0.Add(day(41))))
	got := mem.Contact("u-1")
	assert.Equal(t, int32(25-10+40), got.Behavior)
	assert.Equal(t, t0.Add(day(40)).Unix(), got.DecayFrom)
	assert.Equal(t, t0.Add(day(40)).Unix(), got.LastEngaged)
}

// TestMergeOfAVisitorNeverSeenRedirectsItsLaterEvents: an identify may
// come before the visitor's own events reach the scorer: the merge leaves
// a tombstone, and those events count for the contact.
func TestMergeOfAVisitorNeverSeenRedirectsItsLaterEvents(t *testing.T) {
	t.Parallel()
	e := New(model.Default())
	mem := NewMemory()
	applyAll(t, e, mem,
		mergeEvent("anon:y", "u-1", t0),
		event.Event{ID: "v1", Type: "webinar.attended", ContactID: "anon:y", Time: t0.Add(-time.Hour)})
	assert.Equal(t, int32(25), mem.Contact("u-1").Behavior)
	assert.Equal(t, "u-1", mem.Contact("anon:y").MergedInto)
	assert.Zero(t, mem.Contact("anon:y").Behavior)
}

// TestMergeFinishedAfterALostRetire: the absorbing home was stored, the
// visitor's was not (a crash between the two commits). The merge applied
// again retires the visitor and does not count it twice.
func TestMergeFinishedAfterALostRetire(t *testing.T) {
	t.Parallel()
	e := New(model.Default())
	mem := NewMemory()
	applyAll(t, e, mem,
		event.Event{ID: "v1", Type: "webinar.attended", ContactID: "anon:x", AccountID: "other.io", Time: t0},
		event.Event{ID: "k1", Type: "meeting.booked", ContactID: "u-1", Time: t0})
	merge := mergeEvent("anon:x", "u-1", t0.Add(time.Hour))
	w := mem.Workspace(e)
	require.NoError(t, w.Apply(&merge))
	require.Equal(t, []Move{{Contact: "anon:x", From: "a:other.io", To: "c:u-1"}}, w.Merges)
	mem.Homes["c:u-1"] = w.Homes["c:u-1"] // only the absorbing side
	require.Equal(t, int32(65), mem.Contact("u-1").Behavior)
	require.Equal(t, int32(25), mem.Contact("anon:x").Behavior, "still there")

	applyAll(t, e, mem, merge)
	assert.Equal(t, int32(65), mem.Contact("u-1").Behavior, "counted once")
	assert.Equal(t, "u-1", mem.Contact("anon:x").MergedInto)
	assert.Empty(t, mem.Homes["a:other.io"].Account.Members, "it left its account")
}

// TestMergeFollowsAChain: a contact merged into one that was merged into a
// third goes to the third.
func TestMergeFollowsAChain(t *testing.T) {
	t.Parallel()
	e := New(model.Default())
	mem := NewMemory()
	applyAll(t, e, mem,
		event.Event{ID: "a1", Type: "webinar.attended", ContactID: "anon:a", Time: t0},
		event.Event{ID: "b1", Type: "meeting.booked", ContactID: "u-old", Time: t0},
		mergeEvent("u-old", "u-new", t0.Add(time.Hour)),
		mergeEvent("anon:a", "u-old", t0.Add(2*time.Hour)),
		// A cycle back is refused quietly: u-new is not merged into itself.
		mergeEvent("u-new", "anon:a", t0.Add(3*time.Hour)))
	got := mem.Contact("u-new")
	assert.Equal(t, int32(65), got.Behavior)
	assert.Equal(t, []string{"u-old", "anon:a"}, got.Merged)
	assert.Empty(t, got.MergedInto)
}

// TestMergesAreTheSameInAnyBatching: a history of three contacts with
// merges among them at random points (chains and cycles included) gives
// the same states whether each event has a workspace of its own (a scorer
// with small batches) or all share one (a replay), and the ledger lines of
// every contact not retired add up to its score.
func TestMergesAreTheSameInAnyBatching(t *testing.T) {
	t.Parallel()
	e := New(model.Default())
	ids := []string{"c-0", "c-1", "c-2"}
	rapid.Check(t, func(t *rapid.T) {
		var evs []event.Event
		for _, id := range ids {
			evs = append(evs, genHistory(t, id, false)...)
		}
		evs = rapid.Permutation(evs).Draw(t, "order")
		for range rapid.IntRange(1, 3).Draw(t, "merges") {
			at := rapid.IntRange(0, len(evs)).Draw(t, "at")
			from := rapid.SampledFrom(ids).Draw(t, "from")
			into := rapid.SampledFrom(ids).Draw(t, "into")
			if from == into {
				continue
			}
			when := t0
			if at > 0 {
				when = evs[at-1].Time
			}
			evs = slices.Insert(evs, at, mergeEvent(from, into, when))
		}
		each := NewMemory()
		_, lines := applyAll(t, e, each, evs...)
		ledger := map[string]int32{}
		for _, l := range lines {
			ledger[l.ContactID] += l.Points
		}
		one := NewMemory()
		w := one.Workspace(e)
		for i := range evs {
			require.NoError(t, w.Apply(&evs[i]))
		}
		one.Commit(w)
		for _, id := range ids {
			got, want := one.Contact(id), each.Contact(id)
			require.Equal(t, want, got, id)
			if want != nil && want.MergedInto == "" {
				require.Equal(t, want.Score(), ledger[id], "contact %s: %+v", id, want)
			}
		}
	})
}
