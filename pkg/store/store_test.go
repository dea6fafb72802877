package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/testutil"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	rdb := testutil.RedisClient(t)
	return New(rdb, testutil.Prefix(t))
}

func TestCommitLoadRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	s.LedgerMax = 3
	h := scoring.NewHome("a:acme.io")
	h.Account.Fit = 40
	h.Account.Members = map[string]int32{"c-1": 25}
	h.Contacts["c-1"] = &scoring.Contact{ID: "c-1", AccountID: "acme.io", Behavior: 25, Anchor: 25, Grade: "A"}
	for i := range 5 {
		h.Ledger = append(h.Ledger, scoring.Entry{ContactID: "c-1", Cause: "e", Rule: "r", Points: int32(i)})
	}
	x := entries("scorer/1", scoring.Crossing{Type: scoring.BecameMQL, ContactID: "c-1", AccountID: "acme.io", Cause: "e"})
	versions, errs, err := s.CommitAll(ctx, []Commit{{Home: h, Meta: &Meta{}, Offsets: map[int32]int64{2: 41}, Outbox: x}})
	require.NoError(t, err)
	require.NoError(t, errs[0])
	assert.Equal(t, int64(1), versions[0])

	homes, metas, err := s.Load(ctx, map[string]*Request{"a:acme.io": {Contacts: []string{"c-1", "c-2"}, Partitions: []int32{2, 3}}})
	require.NoError(t, err)
	got := homes["a:acme.io"]
	assert.Equal(t, h.Contacts["c-1"], got.Contacts["c-1"])
	assert.Equal(t, int32(40), got.Account.Fit)
	assert.Equal(t, int64(1), metas["a:acme.io"].Version)
	assert.Equal(t, map[int32]int64{2: 41}, metas["a:acme.io"].Offsets)
	assert.Equal(t, outboxOf(x), outboxOf(metas["a:acme.io"].Outbox))

	_, err = s.History(ctx, "c-1", 10)
	require.Error(t, err, "no index entry yet")
	require.NoError(t, s.WriteDerived(ctx, Derived{Where: map[string]string{"c-1": "a:acme.io"}, Contacts: map[string]int32{"c-1": 65}}))
	entries, err := s.History(ctx, "c-1", 10)
	require.NoError(t, err)
	require.Len(t, entries, 3, "ledger trimmed to LedgerMax")
	assert.Equal(t, int32(4), entries[0].Points, "newest first")

	c, home, err := s.Contact(ctx, "c-1")
	require.NoError(t, err)
	assert.Equal(t, "a:acme.io", home)
	assert.Equal(t, int32(25), c.Behavior)
	_, _, err = s.Contact(ctx, "nobody")
	assert.True(t, errors.Is(err, ErrNotFound))
	lb, err := s.Leaderboard(ctx, "contact", 5)
	require.NoError(t, err)
	assert.Equal(t, []Ranked{{ID: "c-1", Score: 65}}, lb)
}

func TestVersionCheckFencesStaleWriters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	h := scoring.NewHome("c:c-9")
	h.Contacts["c-9"] = &scoring.Contact{ID: "c-9", Behavior: 10}
	_, errs, err := s.CommitAll(ctx, []Commit{{Home: h, Meta: &Meta{}}})
	require.NoError(t, err)
	require.NoError(t, errs[0])
	// A zombie that loaded version 0 tries to write over version 1.
	h.Contacts["c-9"] = &scoring.Contact{ID: "c-9", Behavior: 999}
	_, errs, err = s.CommitAll(ctx, []Commit{{Home: h, Meta: &Meta{Version: 0}}})
	require.NoError(t, err)
	assert.True(t, errors.Is(errs[0], ErrConflict))
	homes, _, err := s.Load(ctx, map[string]*Request{"c:c-9": {Contacts: []string{"c-9"}}})
	require.NoError(t, err)
	assert.Equal(t, int32(10), homes["c:c-9"].Contacts["c-9"].Behavior)
}

func entries(writer string, xs ...scoring.Crossing) []OutboxEntry {
	out := make([]OutboxEntry, len(xs))
	for i, x := range xs {
		out[i] = OutboxEntry{Writer: writer, Crossing: x}
	}
	return out
}

// outboxOf names an outbox's entries, "<writer> <type> <cause>", sorted.
func outboxOf(es []OutboxEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Writer + " " + e.Type + " " + e.Cause
	}
	slices.Sort(out)
	return out
}

// TestOutboxEntriesAreClearedByID: a commit between another writer's
// commit and its clear neither keeps what that writer published nor loses
// what it added itself; report deltas are cleared only at their version.
func TestOutboxEntriesAreClearedByID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	h := scoring.NewHome("c:c-1")
	h.Contacts["c-1"] = &scoring.Contact{ID: "c-1"}
	x := entries("scorer/1", scoring.Crossing{Type: scoring.BecameMQL, ContactID: "c-1", Cause: "e1"})
	y := entries("decayer/d", scoring.Crossing{Type: scoring.LeftMQL, ContactID: "c-1", Cause: "e2"})
	h2 := scoring.NewHome("c:c-2")
	h2.Contacts["c-2"] = &scoring.Contact{ID: "c-2"}
	x2 := entries("scorer/1", scoring.Crossing{Type: scoring.BecameMQL, ContactID: "c-2", Cause: "e3"})
	pending := []ReportDelta{{Version: 1, Counts: map[string]map[string]int64{"m": {"n": 1}}}}
	v, _, err := s.CommitAll(ctx, []Commit{{Home: h, Meta: &Meta{}, Outbox: x, Reports: pending}, {Home: h2, Meta: &Meta{}, Outbox: x2}})
	require.NoError(t, err)
	// Another writer commits before the first clears.
	_, _, err = s.CommitAll(ctx, []Commit{{Home: h, Meta: &Meta{Version: v[0]}, Outbox: y, Reports: pending}})
	require.NoError(t, err)
	_, metas, err := s.Load(ctx, map[string]*Request{"c:c-1": {}})
	require.NoError(t, err)
	assert.Equal(t, outboxOf(append(x, y...)), outboxOf(metas["c:c-1"].Outbox), "commits add to the outbox")
	require.NoError(t, s.ClearOutboxes(ctx, map[string]Clear{"c:c-1": {Version: v[0], Entries: x, AtVersion: true},
		"c:c-2": {Version: v[1], Entries: x2}}), "one call, two homes")
	_, metas, err = s.Load(ctx, map[string]*Request{"c:c-1": {}, "c:c-2": {}})
	require.NoError(t, err)
	assert.Equal(t, outboxOf(y), outboxOf(metas["c:c-1"].Outbox), "the published entry is gone, the other writer's stays")
	assert.Equal(t, pending, metas["c:c-1"].Reports, "a stale clear keeps the newer report deltas")
	assert.Empty(t, metas["c:c-2"].Outbox)
	require.NoError(t, s.ClearOutboxes(ctx, map[string]Clear{"c:c-1": {Version: v[0] + 1, Entries: metas["c:c-1"].Outbox, AtVersion: true}}))
	_, metas, err = s.Load(ctx, map[string]*Request{"c:c-1": {}})
	require.NoError(t, err)
	assert.Empty(t, metas["c:c-1"].Outbox)
	assert.Empty(t, metas["c:c-1"].Reports)
}

// TestLegacyOutboxIsReadAndMoved: an outbox in the JSON array form of
// earlier versions is read as entries of no writer, moved into the outbox
// set by the next commit of its home, and cleared like any other entry.
func TestLegacyOutboxIsReadAndMoved(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	old := scoring.Crossing{Type: scoring.BecameMQL, ContactID: "c-1", Cause: "e1"}
	raw, err := json.Marshal([]scoring.Crossing{old})
	require.NoError(t, err)
	require.NoError(t, s.Client().HSet(ctx, s.HomeKey("c:c-1"), "_v", 3, "_x", raw).Err())
	homes, metas, err := s.Load(ctx, map[string]*Request{"c:c-1": {}})
	require.NoError(t, err)
	assert.True(t, metas["c:c-1"].LegacyOutbox)
	assert.Equal(t, outboxOf(entries("", old)), outboxOf(metas["c:c-1"].Outbox))
	fresh := entries("scorer/2", scoring.Crossing{Type: scoring.BecameAQL, ContactID: "c-1", Cause: "e2"})
	_, errs, err := s.CommitAll(ctx, []Commit{{Home: homes["c:c-1"], Meta: metas["c:c-1"], Outbox: fresh}})
	require.NoError(t, err)
	require.NoError(t, errs[0])
	_, metas, err = s.Load(ctx, map[string]*Request{"c:c-1": {}})
	require.NoError(t, err)
	assert.False(t, metas["c:c-1"].LegacyOutbox)
	assert.Equal(t, outboxOf(append(entries("", old), fresh...)), outboxOf(metas["c:c-1"].Outbox))
	require.NoError(t, s.ClearOutboxes(ctx, map[string]Clear{"c:c-1": {Version: 4, Entries: entries("", old)}}))
	_, metas, err = s.Load(ctx, map[string]*Request{"c:c-1": {}})
	require.NoError(t, err)
	assert.Equal(t, outboxOf(fresh), outboxOf(metas["c:c-1"].Outbox))
}

// TestOutboxMembersRoundTrip: an entry with every field set reads back
// as it was written, and a member cut short, or with bytes after its
// last field, is refused as corrupt.
func TestOutboxMembersRoundTrip(t *testing.T) {
	t.Parallel()
	e := OutboxEntry{Writer: "scorer/0a1b", Crossing: scoring.Crossing{Type: scoring.StageChanged, ContactID: "c-1",
		AccountID: "acme.io", Cause: "evt-9", Time: 1767225600, Score: 120, Behavior: -5, Fit: 125, AccountScore: 300,
		Grade: "A", Stage: "SQL", From: "MQL", ModelVersion: "v7", Nurture: "evaluate"}}
	m := outboxMember(&e)
	assert.Equal(t, outboxFormat, m[0])
	got, err := decodeOutboxMember(m)
	require.NoError(t, err)
	assert.Equal(t, e, got)
	js, err := json.Marshal(&e)
	require.NoError(t, err)
	assert.Less(t, len(m), len(js)/2, "smaller than the JSON form of before")
	for n := 1; n < len(m); n++ {
		_, err := decodeOutboxMember(m[:n])
		assert.ErrorIs(t, err, errCorrupt, "cut at %d", n)
	}
	_, err = decodeOutboxMember(m + "x")
	assert.ErrorIs(t, err, errCorrupt, "a byte after the last field")
}

// TestOutboxMembersOfBeforeAreReadAndCleared: a member in the JSON form
// earlier versions wrote, "<crossing id> <JSON>", is read beside the
// binary ones, and a clear of what was loaded removes it as stored.
func TestOutboxMembersOfBeforeAreReadAndCleared(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	old := OutboxEntry{Writer: "scorer/1", Crossing: scoring.Crossing{Type: scoring.BecameMQL, ContactID: "c-1",
		Cause: "e1", Time: 1767225600, Score: 101, Behavior: 60, Fit: 41, ModelVersion: "v1", Grade: "B"}}
	v, err := json.Marshal(&old)
	require.NoError(t, err)
	h := scoring.NewHome("c:c-1")
	h.Contacts["c-1"] = &scoring.Contact{ID: "c-1"}
	fresh := entries("scorer/2", scoring.Crossing{Type: scoring.BecameAQL, ContactID: "c-1", Cause: "e2"})
	_, _, err = s.CommitAll(ctx, []Commit{{Home: h, Meta: &Meta{}, Outbox: fresh}})
	require.NoError(t, err)
	require.NoError(t, s.Client().SAdd(ctx, s.outboxKey("c:c-1"), old.ID()+" "+string(v)).Err())

	_, metas, err := s.Load(ctx, map[string]*Request{"c:c-1": {}})
	require.NoError(t, err)
	got := metas["c:c-1"].Outbox
	require.Len(t, got, 2)
	for i := range got {
		if got[i].Writer == old.Writer {
			assert.Equal(t, old.Crossing, got[i].Crossing)
		}
	}
	assert.Equal(t, outboxOf(append([]OutboxEntry{old}, fresh...)), outboxOf(got))
	require.NoError(t, s.ClearOutboxes(ctx, map[string]Clear{"c:c-1": {Entries: got}}))
	n, err := s.Client().SCard(ctx, s.outboxKey("c:c-1")).Result()
	require.NoError(t, err)
	assert.Zero(t, n, "both forms cleared")
}

// TestReportDeltasInTheHomesHashAreReadAndMoved: report deltas written in
// the home's hash, as before they had a key of their own, are loaded, moved
// out of the hash by the home's next commit with that commit's own, and
// cleared at its version. However large the deltas, the home's hash keeps
// only small values, so Redis keeps it as a listpack.
func TestReportDeltasInTheHomesHashAreReadAndMoved(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	old := []ReportDelta{{Version: 3, Counts: map[string]map[string]int64{"m": {"contacts": 1}}}}
	raw, err := json.Marshal(old)
	require.NoError(t, err)
	state := EncodeContact(&scoring.Contact{ID: "c-1", Behavior: 5})
	require.NoError(t, s.Client().HSet(ctx, s.HomeKey("c:c-1"), "_v", 3, "_r", raw, "c:c-1", state).Err())
	homes, metas, err := s.Load(ctx, map[string]*Request{"c:c-1": {Contacts: []string{"c-1"}}})
	require.NoError(t, err)
	assert.True(t, metas["c:c-1"].LegacyReports)
	assert.Equal(t, old, metas["c:c-1"].Reports)

	large := ReportDelta{Version: 4, Counts: map[string]map[string]int64{"m": {}}}
	for d := range 60 {
		large.Counts["m"][fmt.Sprintf("2026-01-%02d|became_mql", d%28+1)+strings.Repeat("x", d)] = 1
	}
	pending := append(slices.Clone(old), large)
	_, errs, err := s.CommitAll(ctx, []Commit{{Home: homes["c:c-1"], Meta: metas["c:c-1"], Reports: pending}})
	require.NoError(t, err)
	require.NoError(t, errs[0])
	fields, err := s.Client().HGetAll(ctx, s.HomeKey("c:c-1")).Result()
	require.NoError(t, err)
	assert.NotContains(t, fields, "_r", "moved out of the hash")
	if enc, err := s.Client().ObjectEncoding(ctx, s.HomeKey("c:c-1")).Result(); err == nil { // not on miniredis
		assert.Equal(t, "listpack", enc)
	}
	_, metas, err = s.Load(ctx, map[string]*Request{"c:c-1": {}})
	require.NoError(t, err)
	assert.False(t, metas["c:c-1"].LegacyReports)
	assert.Equal(t, pending, metas["c:c-1"].Reports)

	require.NoError(t, s.ClearOutboxes(ctx, map[string]Clear{"c:c-1": {Version: 4, AtVersion: true}}))
	_, metas, err = s.Load(ctx, map[string]*Request{"c:c-1": {}})
	require.NoError(t, err)
	assert.Empty(t, metas["c:c-1"].Reports)
	n, err := s.Client().Exists(ctx, s.reportsKey("c:c-1")).Result()
	require.NoError(t, err)
	assert.Zero(t, n, "cleared")
}

func TestModelRegistryRefusesAChangedFileUnderTheSameVersion(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	require.NoError(t, RegisterModel(ctx, s.Client(), s.Namespace(), "1", []byte("version: 1\n")))
	require.NoError(t, RegisterModel(ctx, s.Client(), s.Namespace(), "1", []byte("version: 1\n")), "the same file again")
	require.NoError(t, RegisterModel(ctx, s.Client(), s.Namespace(), "2", []byte("version: 2\n")))
	err := RegisterModel(ctx, s.Client(), s.Namespace(), "1", []byte("version: 1\n# edited\n"))
	require.ErrorIs(t, err, ErrModelConflict)
	all, err := Models(ctx, s.Client(), s.Namespace())
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"1": "version: 1\n", "2": "version: 2\n"}, all)
}

// TestLeaderboardKeepsTheTopN: a full board takes a score above its lowest
// and updates a member that fell, but does not take in a score below it.
func TestLeaderboardKeepsTheTopN(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	s.LeaderboardSize = 3
	board := func() []redis.Z {
		zs, err := s.rdb.ZRevRangeWithScores(ctx, s.LeaderboardKey("contact"), 0, -1).Result()
		require.NoError(t, err)
		return zs
	}
	write := func(scores map[string]int32) {
		require.NoError(t, s.WriteDerived(ctx, Derived{Contacts: scores}))
	}
	write(map[string]int32{"a": 50, "b": 40})
	write(map[string]int32{"c": 30, "d": 20})
	assert.Equal(t, []redis.Z{{Score: 50, Member: "a"}, {Score: 40, Member: "b"}, {Score: 30, Member: "c"}}, board())
	write(map[string]int32{"e": 10, "a": 5, "f": 35})
	assert.Equal(t, []redis.Z{{Score: 40, Member: "b"}, {Score: 35, Member: "f"}, {Score: 30, Member: "c"}}, board(),
		"a fell below the lowest and was trimmed; e never entered")
	write(map[string]int32{"b": 1, "g": 2})
	assert.Equal(t, []redis.Z{{Score: 35, Member: "f"}, {Score: 30, Member: "c"}, {Score: 1, Member: "b"}}, board(),
		"b is updated in place; g, below the lowest seen, stays out")
	write(map[string]int32{"h": 31})
	assert.Equal(t, []redis.Z{{Score: 35, Member: "f"}, {Score: 31, Member: "h"}, {Score: 30, Member: "c"}}, board())
}

// TestOneCallCommitsManyHomesEachWithItsVersion: homes committed in one
// script call are checked one by one: a stale home in the middle is
// refused and left as it was, the homes around it are written whole
// (states, ledgers, deletions), and more homes than one call takes all land.
func TestOneCallCommitsManyHomesEachWithItsVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	home := func(id string, behavior int32, ledger int) *scoring.Home {
		h := scoring.NewHome("c:" + id)
		h.Contacts[id] = &scoring.Contact{ID: id, Behavior: behavior}
		for i := range ledger {
			h.Ledger = append(h.Ledger, scoring.Entry{ContactID: id, Cause: fmt.Sprint("e-", i), Kind: scoring.KindBehavior, Points: int32(i)})
		}
		return h
	}
	var first []Commit
	for i := range homesPerCall + 10 {
		first = append(first, Commit{Home: home(fmt.Sprint("c-", i), 10, 2), Meta: &Meta{}})
	}
	_, errs, err := s.CommitAll(ctx, first)
	require.NoError(t, err)
	for _, e := range errs {
		require.NoError(t, e)
	}
	// c-1 was loaded at version 0 by a zombie; c-0 and c-2 at version 1.
	b := home("c-1", 999, 3)
	b.Removed = []string{"c-1"}
	second := []Commit{
		{Home: home("c-0", 20, 1), Meta: &Meta{Version: 1}},
		{Home: b, Meta: &Meta{Version: 0}},
		{Home: home("c-2", 30, 4), Meta: &Meta{Version: 1}, Offsets: map[int32]int64{3: 77}},
	}
	versions, errs, err := s.CommitAll(ctx, second)
	require.NoError(t, err)
	assert.NoError(t, errs[0])
	assert.ErrorIs(t, errs[1], ErrConflict)
	assert.NoError(t, errs[2])
	assert.Equal(t, []int64{2, 1, 2}, versions)

	want := map[string]int32{"c-0": 20, "c-1": 10, "c-2": 30, fmt.Sprint("c-", homesPerCall+9): 10}
	wantLedger := map[string]int{"c-0": 3, "c-1": 2, "c-2": 6, fmt.Sprint("c-", homesPerCall+9): 2}
	for id, behavior := range want {
		homes, metas, err := s.Load(ctx, map[string]*Request{"c:" + id: {Contacts: []string{id}, Partitions: []int32{3}}})
		require.NoError(t, err)
		require.Contains(t, homes["c:"+id].Contacts, id)
		assert.Equal(t, behavior, homes["c:"+id].Contacts[id].Behavior, id)
		lines, err := s.readLedgers(ctx, map[string]ledgerRef{id: {key: s.ledgerKey("c:"+id, id), contact: id}})
		require.NoError(t, err)
		assert.Len(t, lines[id], wantLedger[id], id)
		if id == "c-2" {
			assert.Equal(t, int64(77), metas["c:c-2"].Offsets[3])
		}
	}
}

// TestReportDeltasCountOncePerHomeVersion: deltas of several homes and
// versions in one call add up once each; versions already applied, in the
// same call or an earlier one, add nothing.
func TestReportDeltasCountOncePerHomeVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	counts := func(kv ...any) map[string]map[string]int64 {
		m := map[string]int64{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = int64(kv[i+1].(int))
		}
		return map[string]map[string]int64{"m1": m}
	}
	first := map[string][]ReportDelta{
		"a:x": {{Version: 1, Counts: counts("contacts", 1, "mql_now", 1)}, {Version: 2, Counts: counts("mql_now", -1, "stage:late", 1)}},
		"a:y": {{Version: 4, Counts: counts("contacts", 1)}},
	}
	require.NoError(t, s.ApplyReports(ctx, first))
	got, err := s.Report(ctx, "m1")
	require.NoError(t, err)
	assert.Equal(t, "2", got["contacts"])
	assert.Equal(t, "1", got["stage:late"])
	assert.Contains(t, []string{"", "0"}, got["mql_now"], "+1 and -1")

	require.NoError(t, s.ApplyReports(ctx, first), "applied again")
	require.NoError(t, s.ApplyReports(ctx, map[string][]ReportDelta{
		"a:x": {{Version: 2, Counts: counts("contacts", 5)}, {Version: 3, Counts: counts("contacts", -1)}},
		"a:y": {{Version: 3, Counts: counts("contacts", 7)}},
	}))
	got, err = s.Report(ctx, "m1")
	require.NoError(t, err)
	assert.Equal(t, "1", got["contacts"], "only a:x version 3 is new")
	assert.Equal(t, "1", got["stage:late"])
}

// Redis forgets its scripts when it restarts or fails over: every script
// call loads its script again and runs once more.
func TestScriptsReloadAfterRedisForgetsThem(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	flush := func() { require.NoError(t, s.Client().ScriptFlush(ctx).Err()) }
	h := scoring.NewHome("c:c-1")
	h.Contacts["c-1"] = &scoring.Contact{ID: "c-1", Behavior: 7}
	x := entries("scorer/1", scoring.Crossing{Type: scoring.BecameMQL, ContactID: "c-1", Cause: "e1"})

	flush()
	v, errs, err := s.CommitAll(ctx, []Commit{{Home: h, Meta: &Meta{}, Outbox: x}})
	require.NoError(t, err)
	require.NoError(t, errs[0])
	require.Equal(t, []int64{1}, v)

	flush()
	require.NoError(t, s.ApplyReports(ctx, map[string][]ReportDelta{
		"c:c-1": {{Version: 1, Counts: map[string]map[string]int64{"m1": {"contacts": 1}}}}}))
	flush()
	require.NoError(t, s.ClearOutboxes(ctx, map[string]Clear{"c:c-1": {Version: 1, Entries: x, AtVersion: true}}))

	homes, metas, err := s.Load(ctx, map[string]*Request{"c:c-1": {Contacts: []string{"c-1"}}})
	require.NoError(t, err)
	assert.Equal(t, int32(7), homes["c:c-1"].Contacts["c-1"].Behavior)
	assert.Equal(t, int64(1), metas["c:c-1"].Version, "committed once")
	assert.Empty(t, metas["c:c-1"].Outbox, "cleared")
	got, err := s.Report(ctx, "m1")
	require.NoError(t, err)
	assert.Equal(t, "1", got["contacts"])
}

// TestCommitAllNamesTheHomeRedisRefuses: one home of a call that Redis
// refuses (its key holds another type) fails alone, as a HomeError naming
// it; the other homes of the call are committed (the one the failed call
// wrote before it failed is reported as a conflict: its batch is redone,
// and finds it applied).
func TestCommitAllNamesTheHomeRedisRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	require.NoError(t, s.Client().Set(ctx, s.HomeKey("c:bad"), "not a hash", 0).Err())
	var commits []Commit
	for _, id := range []string{"good-1", "bad", "good-2"} {
		h := scoring.NewHome("c:" + id)
		h.Contacts[id] = &scoring.Contact{ID: id, Behavior: 5}
		commits = append(commits, Commit{Home: h, Meta: &Meta{}})
	}
	_, errs, err := s.CommitAll(ctx, commits)
	require.NoError(t, err)
	assert.ErrorIs(t, errs[0], ErrConflict)
	assert.Equal(t, []string{"c:bad"}, FailedHomes(errs[1]))
	assert.NoError(t, errs[2])
	homes, metas, err := s.Load(ctx, map[string]*Request{"c:good-1": {Contacts: []string{"good-1"}}, "c:good-2": {Contacts: []string{"good-2"}}})
	require.NoError(t, err)
	for _, id := range []string{"good-1", "good-2"} {
		assert.Equal(t, int64(1), metas["c:"+id].Version, "%s committed once", id)
		assert.Equal(t, int32(5), homes["c:"+id].Contacts[id].Behavior)
	}
	_, _, err = s.Load(ctx, map[string]*Request{"c:bad": {}})
	assert.Equal(t, []string{"c:bad"}, FailedHomes(err), "a home that cannot be read is named too")
}

// TestTheEmailLookupKeepsEightBytesAndReadsEntriesOfBefore: an address's
// entry is 8 bytes of its hash; an entry written before with the whole
// hash as its field is still found, and replaced when the address is
// written again.
func TestTheEmailLookupKeepsEightBytesAndReadsEntriesOfBefore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	rdb := s.rdb.(*redis.Client)

	require.NoError(t, s.WriteDerived(ctx, Derived{Emails: map[string]string{EmailHash("Ada@Example.com "): "c-1"}}))
	id, err := s.ContactByEmail(ctx, "ada@example.com")
	require.NoError(t, err)
	assert.Equal(t, "c-1", id)
	h := EmailHash("ada@example.com")
	fields, err := rdb.HKeys(ctx, s.emailKey(h)).Result()
	require.NoError(t, err)
	assert.Equal(t, []string{h[:8]}, fields, "the entry's field is 8 bytes of the hash")

	old := EmailHash("grace@example.com")
	require.NoError(t, rdb.HSet(ctx, s.emailKey(old), old, "c-2").Err())
	id, err = s.ContactByEmail(ctx, "grace@example.com")
	require.NoError(t, err)
	assert.Equal(t, "c-2", id, "an entry of before is read")
	require.NoError(t, s.WriteDerived(ctx, Derived{Emails: map[string]string{old: "c-3"}}))
	id, err = s.ContactByEmail(ctx, "grace@example.com")
	require.NoError(t, err)
	assert.Equal(t, "c-3", id, "the address written again points to its new contact")
	exists, err := rdb.HExists(ctx, s.emailKey(old), old).Result()
	require.NoError(t, err)
	assert.False(t, exists, "the entry of before is replaced")

	_, err = s.ContactByEmail(ctx, "nobody@example.com")
	assert.ErrorIs(t, err, ErrNotFound)
}
