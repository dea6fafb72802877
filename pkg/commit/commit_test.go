package commit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	json "github.com/goccy/go-json"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/stream"
	"github.com/leadscore/leads/pkg/testutil"
	"github.com/leadscore/leads/pkg/transition"
)

const topic = "leads.transitions"

// at is the event time of the crossings below.
const at = 1772366400

var engine = scoring.New(model.Default())

// sink records what is published to it.
type sink struct {
	mu   sync.Mutex
	recs []stream.Record
}

func (s *sink) Publish(_ context.Context, recs ...stream.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = append(s.recs, recs...)
	return nil
}

// ids are the ids of the transitions published, in order.
func (s *sink) ids(t *testing.T) []string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, len(s.recs))
	for i, r := range s.recs {
		require.Equal(t, topic, r.Topic)
		var ce transition.CloudEvent
		require.NoError(t, json.Unmarshal(r.Value, &ce))
		ids[i] = ce.ID
	}
	return ids
}

func newStore(t *testing.T) *store.Store {
	t.Helper()
	return store.New(testutil.RedisClient(t), testutil.Prefix(t))
}

func scorer(st *store.Store, s Sink) *Committer {
	return &Committer{Store: st, Sink: s, Topic: topic, Engine: engine, Writer: ScorerWriter()}
}

func decayer(st *store.Store, s Sink, owner string) *Committer {
	return &Committer{Store: st, Sink: s, Topic: topic, Engine: engine, Writer: DecayerWriter(owner), Track: true, Owner: owner}
}

// batch is one batch of a committer: the homes loaded, then changed.
type batch struct {
	ws *scoring.Workspace
	b  *Batch
}

// load loads whole homes, as a batch does before applying its events.
func load(t *testing.T, st *store.Store, homes ...string) *batch {
	t.Helper()
	whole := map[string]bool{}
	for _, h := range homes {
		whole[h] = true
	}
	b, err := (&Committer{Store: st, Engine: engine}).Load(context.Background(), nil, nil, &Needs{Whole: whole})
	require.NoError(t, err)
	return &batch{ws: b.WS, b: b}
}

// score changes contact in home as an event would, with crossings of the
// given causes.
func (b *batch) score(home, contact string, causes ...string) []scoring.Crossing {
	h := b.ws.Homes[home]
	c := h.Contacts[contact]
	if c == nil {
		c = &scoring.Contact{ID: contact, AccountID: h.Account.ID}
		h.Contacts[contact] = c
		b.ws.Where[contact] = home
	}
	c.Behavior += 10
	c.Anchor, c.DecayFrom, c.LastEngaged = c.Behavior, at, at
	var xs []scoring.Crossing
	for _, cause := range causes {
		xs = append(xs, scoring.Crossing{Type: scoring.BecameMQL, ContactID: contact, AccountID: h.Account.ID, Cause: cause,
			Time: at, Score: c.Behavior, Behavior: c.Behavior, ModelVersion: engine.Model().Version})
	}
	h.Crossings = append(h.Crossings, xs...)
	h.Changed = true
	b.ws.Touched[contact] = true
	return xs
}

func (b *batch) batch() *Batch { return b.b }

func ids(xs ...scoring.Crossing) []string {
	out := make([]string, len(xs))
	for i := range xs {
		out[i] = xs[i].ID()
	}
	return out
}

// outbox is what a home's outbox holds: crossing id → writer.
func outbox(t *testing.T, st *store.Store, home string) map[string]string {
	t.Helper()
	_, m, err := st.LoadHome(context.Background(), home)
	require.NoError(t, err)
	out := map[string]string{}
	for _, e := range m.Outbox {
		out[e.ID()] = e.Writer
	}
	return out
}

func version(t *testing.T, st *store.Store, home string) int64 {
	t.Helper()
	_, m, err := st.LoadHome(context.Background(), home)
	require.NoError(t, err)
	return m.Version
}

func tracked(t *testing.T, st *store.Store) map[string]string {
	t.Helper()
	tr, err := st.TrackedOutboxes(context.Background(), 1000)
	require.NoError(t, err)
	return tr
}

func TestACommitterPublishesOnlyOutboxEntriesNobodyElseIsPublishing(t *testing.T) {
	t.Parallel()
	const me, other = "scorer/1", "scorer/2"
	dec, decOther := DecayerWriter("d1"), DecayerWriter("d2")
	tests := []struct {
		name          string
		writer, entry string
		publishes     bool
	}{
		{"a scorer leaves its own entries: they are in flight in its posts", me, me, false},
		{"a scorer publishes another scorer's: that one died or lost the partition", me, other, true},
		{"a scorer leaves a decayer's to the decayers' drain", me, dec, false},
		{"a scorer publishes entries written before entries had writers", me, "", true},
		{"a decayer leaves its own entries", dec, dec, false},
		{"a decayer leaves another decayer's to the drain", dec, decOther, false},
		{"a decayer leaves a scorer's to the redelivery of their events", dec, other, false},
		{"a decayer publishes entries written before entries had writers", dec, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := &Committer{Writer: tt.writer}
			assert.Equal(t, tt.publishes, c.publishes(tt.entry))
		})
	}
}

func TestCommitThenDeliverPublishesEachNewCrossingOnceAndClearsItFromTheOutbox(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, s := newStore(t), &sink{}
	c := scorer(st, s)
	const home = "a:acme.io"

	b := load(t, st, home)
	xs := append(b.score(home, "c-1", "evt-1"), b.score(home, "c-2", "evt-2")...)
	p, err := c.Commit(ctx, b.batch())
	require.NoError(t, err)
	assert.Empty(t, s.ids(t), "Commit publishes nothing")
	assert.Equal(t, map[string]string{xs[0].ID(): c.Writer, xs[1].ID(): c.Writer}, outbox(t, st, home),
		"committed in the outbox, under this committer's name, before they are published")
	assert.ElementsMatch(t, ids(xs...), ids(p.Crossings...))

	require.NoError(t, c.Deliver(ctx, p))
	assert.ElementsMatch(t, ids(xs...), s.ids(t))
	assert.Empty(t, outbox(t, st, home))

	// The next batch of the home publishes only its own crossings.
	b = load(t, st, home)
	more := b.score(home, "c-1", "evt-3")
	p, err = c.Commit(ctx, b.batch())
	require.NoError(t, err)
	require.NoError(t, c.Deliver(ctx, p))
	assert.ElementsMatch(t, ids(append(xs, more...)...), s.ids(t))
	assert.Empty(t, outbox(t, st, home))
}

// TestACrossingInFlightIsNotPublishedAgainByItsWritersNextBatch: the
// scorer publishes a batch while it applies the next, which loads the
// outbox the first has not cleared yet.
func TestACrossingInFlightIsNotPublishedAgainByItsWritersNextBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, s := newStore(t), &sink{}
	c := scorer(st, s)
	const home = "c:c-1"

	b := load(t, st, home)
	first := b.score(home, "c-1", "evt-1")
	p1, err := c.Commit(ctx, b.batch())
	require.NoError(t, err)

	b = load(t, st, home)
	second := b.score(home, "c-1", "evt-2")
	p2, err := c.Commit(ctx, b.batch())
	require.NoError(t, err)
	assert.Equal(t, ids(second...), ids(p2.Crossings...))

	require.NoError(t, c.Deliver(ctx, p1))
	require.NoError(t, c.Deliver(ctx, p2))
	assert.Equal(t, ids(append(first, second...)...), s.ids(t))
	assert.Empty(t, outbox(t, st, home))
}

// TestAHomeWithNothingToCommitStillPublishesADeadScorersLeftovers: the
// redelivery of a dead scorer's events finds them applied (watermarks),
// so the home is not committed again; its outbox is published all the same,
// except what a decayer wrote, which is the decayers' to drain.
func TestAHomeWithNothingToCommitStillPublishesADeadScorersLeftovers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, s := newStore(t), &sink{}
	const home = "a:acme.io"

	b := load(t, st, home)
	dead := b.score(home, "c-1", "evt-1")
	_, err := scorer(st, s).Commit(ctx, b.batch()) // and dies before publishing
	require.NoError(t, err)
	b = load(t, st, home)
	decayed := b.score(home, "c-2", "decay:1")
	d := decayer(st, s, "d1")
	_, err = d.Commit(ctx, b.batch()) // still at work: publishing
	require.NoError(t, err)
	require.Empty(t, s.ids(t))
	v := version(t, st, home)

	live := scorer(st, s)
	b = load(t, st, home)
	p, err := live.Commit(ctx, b.batch())
	require.NoError(t, err)
	require.NoError(t, live.Deliver(ctx, p))
	assert.Equal(t, ids(dead...), s.ids(t))
	assert.Equal(t, map[string]string{decayed[0].ID(): d.Writer}, outbox(t, st, home))
	assert.Equal(t, v, version(t, st, home), "nothing committed")
}

func TestAScorerLeavesAnotherLiveWritersEntriesAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, s := newStore(t), &sink{}
	const home = "a:acme.io"

	b := load(t, st, home)
	decayed := b.score(home, "c-1", "decay:1")
	d := decayer(st, s, "d1")
	_, err := d.Commit(ctx, b.batch())
	require.NoError(t, err)

	live := scorer(st, s)
	b = load(t, st, home)
	mine := b.score(home, "c-2", "evt-1")
	p, err := live.Commit(ctx, b.batch())
	require.NoError(t, err)
	require.NoError(t, live.Deliver(ctx, p))
	assert.Equal(t, ids(mine...), s.ids(t))
	assert.Equal(t, map[string]string{decayed[0].ID(): d.Writer}, outbox(t, st, home))
}

// TestPublishOrphansPublishesADeadDecayersEntriesAndLeavesABusyOnesAlone: decayers
// that committed and did not publish (they died, or are still at it).
func TestPublishOrphansPublishesADeadDecayersEntriesAndLeavesABusyOnesAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, s := newStore(t), &sink{}
	const deadHome, busyHome = "c:c-1", "c:c-2"

	b := load(t, st, deadHome)
	dead := b.score(deadHome, "c-1", "decay:1")
	_, err := decayer(st, s, "dead").Commit(ctx, b.batch())
	require.NoError(t, err)
	b = load(t, st, busyHome)
	busy := b.score(busyHome, "c-2", "decay:1")
	_, err = decayer(st, s, "busy").Commit(ctx, b.batch())
	require.NoError(t, err)
	require.Equal(t, []string{"busy", "dead"}, owners(tracked(t, st)))

	published, more, err := decayer(st, s, "me").PublishOrphans(ctx, 100, func(owner string) bool { return owner == "busy" })
	require.NoError(t, err)
	assert.False(t, more)
	assert.Equal(t, ids(dead...), ids(published...))
	assert.Equal(t, ids(dead...), s.ids(t))
	assert.Empty(t, outbox(t, st, deadHome))
	assert.Equal(t, map[string]string{busy[0].ID(): DecayerWriter("busy")}, outbox(t, st, busyHome))
	assert.Equal(t, []string{"busy"}, owners(tracked(t, st)))
}

// TestADecayerRestartedUnderItsOwnerDrainsItsOwnEntries: its owner holds
// leases (the restarted decayer's), yet nobody else publishes them.
func TestADecayerRestartedUnderItsOwnerDrainsItsOwnEntries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, s := newStore(t), &sink{}
	const home = "c:c-1"

	b := load(t, st, home)
	mine := b.score(home, "c-1", "decay:1")
	_, err := decayer(st, s, "d1").Commit(ctx, b.batch())
	require.NoError(t, err)

	published, _, err := decayer(st, s, "d1").PublishOrphans(ctx, 100, func(string) bool { return true })
	require.NoError(t, err)
	assert.Equal(t, ids(mine...), ids(published...))
	assert.Equal(t, ids(mine...), s.ids(t))
	assert.Empty(t, outbox(t, st, home))
	assert.Empty(t, tracked(t, st))
}

func owners(tracked map[string]string) []string {
	var out []string
	for _, tok := range tracked {
		out = append(out, store.TokenOwner(tok))
	}
	slices.Sort(out)
	return out
}

// move moves contact from one home to another in the batch, as a
// contact.updated naming another account does.
func (b *batch) move(contact, from, to string) {
	old := b.ws.Homes[from]
	c := old.Contacts[contact]
	delete(old.Contacts, contact)
	old.Removed = append(old.Removed, contact)
	old.Changed = true
	c.AccountID = b.ws.Homes[to].Account.ID
	b.ws.Homes[to].Contacts[contact] = c
	b.ws.Homes[to].Changed = true
	b.ws.Where[contact] = to
	b.ws.Touched[contact] = true
	b.ws.Moves = append(b.ws.Moves, scoring.Move{Contact: contact, From: from, To: to})
}

// commitOrder records the homes of each pipeline of commit script calls.
type commitOrder struct {
	mu    sync.Mutex
	homes map[string]string // home key → home
	calls [][]string
}

func (o *commitOrder) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (o *commitOrder) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (o *commitOrder) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		var homes []string
		for _, cmd := range cmds {
			args := cmd.Args()
			if name := strings.ToLower(cmd.Name()); name != "evalsha" && name != "eval" {
				continue
			}
			for _, key := range args[3:] {
				if home, ok := o.homes[fmt.Sprint(key)]; ok {
					homes = append(homes, home)
				}
			}
		}
		if len(homes) > 0 {
			o.mu.Lock()
			o.calls = append(o.calls, homes)
			o.mu.Unlock()
		}
		return next(ctx, cmds)
	}
}

func TestAHomeAContactMovedIntoIsCommittedBeforeTheHomeItLeft(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testutil.RedisClient(t)
	st := store.New(rdb, testutil.Prefix(t))
	c := scorer(st, &sink{})
	const from, to = "c:c-1", "a:acme.io"

	b := load(t, st, from, to)
	b.score(from, "c-1")
	b.score(to, "c-2")
	_, err := c.Commit(ctx, b.batch())
	require.NoError(t, err) // the commit script is loaded now

	order := &commitOrder{homes: map[string]string{st.HomeKey(from): from, st.HomeKey(to): to}}
	rdb.AddHook(order)
	b = load(t, st, from, to)
	b.move("c-1", from, to)
	_, err = c.Commit(ctx, b.batch())
	require.NoError(t, err)
	assert.Equal(t, [][]string{{to}, {from}}, order.calls, "one round trip each, the new home first")
}

func TestALeftHomeIsCommittedOnlyOnceTheHomeItsContactMovedToIs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		conflict bool
	}{
		{"the new home commits: so does the home left", false},
		{"the new home conflicts: the home left is not committed", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := newStore(t)
			c := scorer(st, &sink{})
			const from, to = "c:c-1", "a:acme.io"

			b := load(t, st, from, to)
			b.score(from, "c-1")
			b.score(to, "c-2")
			_, err := c.Commit(ctx, b.batch())
			require.NoError(t, err)

			b = load(t, st, from, to)
			if tt.conflict {
				// Another writer commits the new home after this batch loaded it.
				other := load(t, st, to)
				other.score(to, "c-2")
				_, err := scorer(st, &sink{}).Commit(ctx, other.batch())
				require.NoError(t, err)
			}
			vFrom, vTo := version(t, st, from), version(t, st, to)
			b.move("c-1", from, to)
			moved := b.score(to, "c-1", "evt-1")
			p, err := c.Commit(ctx, b.batch())

			left, _, lerr := st.LoadHome(ctx, from)
			require.NoError(t, lerr)
			if !tt.conflict {
				require.NoError(t, err)
				assert.Equal(t, vFrom+1, version(t, st, from))
				assert.Equal(t, vTo+1, version(t, st, to))
				assert.NotContains(t, left.Contacts, "c-1")
				assert.Equal(t, ids(moved...), ids(p.Crossings...))
				return
			}
			require.ErrorIs(t, err, store.ErrConflict)
			assert.ErrorContains(t, err, "c:c-1 waits for a:acme.io, where c-1 moved")
			assert.Equal(t, vFrom, version(t, st, from), "the home left is not committed")
			assert.Equal(t, vTo, version(t, st, to))
			assert.Contains(t, left.Contacts, "c-1", "the contact is still where it was")
			if p != nil {
				assert.Empty(t, p.Crossings)
			}
			var herr *store.HomeError
			assert.False(t, errors.As(err, &herr), "a conflict, not a home Redis refuses")
		})
	}
}

// TestADeadDecayersCrossingSurvivesAnotherDecayerCommittingItsHome:
// decayer A commits a home's crossing and dies before publishing it;
// decayer B then commits, publishes and untracks the same home for a
// crossing of its own. A's crossing must stay tracked, so that a later
// Drain publishes it: B leaves it alone (A's writer), and nobody else
// would ever publish it.
func TestADeadDecayersCrossingSurvivesAnotherDecayerCommittingItsHome(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, s := newStore(t), &sink{}
	const home = "a:acme.io"

	b := load(t, st, home)
	lost := b.score(home, "c-1", "decay:1")
	_, err := decayer(st, &sink{}, "a").Commit(ctx, b.batch()) // A dies before publishing
	require.NoError(t, err)

	b = load(t, st, home)
	own := b.score(home, "c-2", "decay:2")
	p, err := decayer(st, s, "b").Commit(ctx, b.batch())
	require.NoError(t, err)
	require.NoError(t, decayer(st, s, "b").Deliver(ctx, p))
	assert.Equal(t, ids(own...), s.ids(t), "B publishes its own crossing only")

	published, _, err := decayer(st, s, "c").PublishOrphans(ctx, 100, func(owner string) bool { return owner == "b" })
	require.NoError(t, err)
	assert.Equal(t, ids(lost...), ids(published...), "A's crossing is drained")
	assert.Empty(t, outbox(t, st, home))
	assert.Empty(t, tracked(t, st))
}

// TestAWorkersCrossingSurvivesAnotherWorkerOfItsDecayerPublishingItsHome:
// two workers of one decayer commit the same home (contacts of one account
// fall in groups of shards the workers decay at once); one publishes its
// crossing and untracks the home, then the process dies before the other
// publishes. The other's crossing stays tracked, and the decayer restarted
// under the same owner publishes it.
func TestAWorkersCrossingSurvivesAnotherWorkerOfItsDecayerPublishingItsHome(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, s := newStore(t), &sink{}
	const home = "a:acme.io"

	b := load(t, st, home)
	lost := b.score(home, "c-1", "decay:1")
	_, err := decayer(st, &sink{}, "d").Commit(ctx, b.batch()) // the first worker, not yet published
	require.NoError(t, err)

	b = load(t, st, home)
	own := b.score(home, "c-2", "decay:2")
	second := decayer(st, s, "d")
	p, err := second.Commit(ctx, b.batch())
	require.NoError(t, err)
	require.NoError(t, second.Deliver(ctx, p))
	assert.Equal(t, ids(own...), s.ids(t), "the second worker publishes its own crossing only")
	require.Len(t, tracked(t, st), 1, "the first worker's commit is still tracked")

	published, _, err := decayer(st, s, "d").PublishOrphans(ctx, 100, func(string) bool { return true })
	require.NoError(t, err)
	assert.Equal(t, ids(lost...), ids(published...), "the restarted decayer publishes the first worker's crossing")
	assert.Empty(t, outbox(t, st, home))
	assert.Empty(t, tracked(t, st))
}
