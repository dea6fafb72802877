package store

import (
	"context"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
)

// dictOf is a process's copy of a dictionary numbering texts (class byte
// and text) 1, 2, … in order.
func dictOf(texts ...string) *labels {
	l := &labels{}
	l.init()
	for i, t := range texts {
		l.ids[t], l.text[uint32(i+1)] = uint32(i+1), t
	}
	return l
}

// TestContactFormat4RoundTrip: a state whose texts are numbered, some or
// all, reads back as it was, with a copy of the dictionary or with one that
// does not know them yet and says which numbers it needs.
func TestContactFormat4RoundTrip(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		c := genContact(t, "c-1", "acme.io")
		all := map[string]bool{}
		eachText(c, func(class byte, t string) { all[string(class)+t] = true })
		var numbered []string
		for _, text := range slices.Sorted(maps.Keys(all)) {
			if rapid.Bool().Draw(t, "number "+text) {
				numbered = append(numbered, text)
			}
		}
		// Numbers from 1 or from past the one-byte ones.
		pad := rapid.SampledFrom([]int{0, 100, 10000}).Draw(t, "pad")
		texts := make([]string, pad, pad+len(numbered))
		for i := range texts {
			texts[i] = fmt.Sprintf("T-%d", i)
		}
		dict := dictOf(append(texts, numbered...)...)
		b := encodeContact(c, dict)
		require.Equal(t, contactFormat, b[0])
		require.LessOrEqual(t, len(b), len(EncodeContact(c)))
		got, rest, err := decodeContactWith(b, "c-1", "acme.io", &textReader{l: dict})
		require.NoError(t, err)
		require.Empty(t, rest)
		require.Equal(t, c, got)

		unknown := &textReader{l: dictOf(), collect: true}
		_, _, err = decodeContactWith(b, "c-1", "acme.io", unknown)
		require.NoError(t, err)
		want := map[uint32]string{}
		for _, text := range numbered {
			if id := dict.ids[text]; uvarLen(uint64(id)<<1|1) <= len(text) { // as long as inline, class aside
				want[id] = ""
			}
		}
		if len(want) == 0 {
			want = nil
		}
		require.Equal(t, want, unknown.missing)
		if len(want) > 0 {
			_, err = DecodeContact(b, "c-1", "acme.io")
			require.Error(t, err, "numbers without a dictionary")
			_, _, err = decodeContactWith(b, "c-1", "acme.io", &textReader{l: dictOf()})
			require.Error(t, err, "numbers the dictionary does not have")
		}
	})
}

// TestNumberedTextsAreOfTheirClass: a number whose text is of another
// class (a product's name where a title is read) is corrupt.
func TestNumberedTextsAreOfTheirClass(t *testing.T) {
	t.Parallel()
	c := &scoring.Contact{ID: "c-1", Title: "CTO", Products: []scoring.Product{{Name: "analytics"}}}
	b := encodeContact(c, dictOf("NCTO", "Nanalytics"))
	_, _, err := decodeContactWith(b, "c-1", "", &textReader{l: dictOf("NCTO", "Nanalytics")})
	require.NoError(t, err, "the title is inline: no title is numbered")
	b = encodeContact(c, dictOf("TCTO", "Nanalytics"))
	_, _, err = decodeContactWith(b, "c-1", "", &textReader{l: dictOf("NCTO", "Nanalytics")})
	require.ErrorIs(t, err, errCorrupt)
}

// TestStatesReadTextsAnotherProcessNumbered: what one store writes with
// numbered texts, another (a process that never saw them) reads, by each
// of its readers, and the states hold numbers, not the texts.
func TestStatesReadTextsAnotherProcessNumbered(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newStore(t)
	h := scoring.NewHome("a:acme.io")
	h.Account.Members = map[string]int32{"c-1": 25, "c-2": 5}
	long := strings.Repeat("Senior Principal Staff Engineer ", 3)
	h.Contacts["c-1"] = &scoring.Contact{ID: "c-1", AccountID: "acme.io", Title: "VP Engineering", TitleRule: "vp",
		Caps:     []scoring.CapCount{{Rule: "pricing-repeat@2592000", Period: 1, Count: 2}, {Rule: "blog", Period: 3, Count: 1}},
		Products: []scoring.Product{{Name: "analytics", Anchor: 10, Score: 8}}, Behavior: 25}
	h.Contacts["c-2"] = &scoring.Contact{ID: "c-2", AccountID: "acme.io", Title: long, TitleRule: "vp", Behavior: 5}
	_, errs, err := w.CommitAll(ctx, []Commit{{Home: h, Meta: &Meta{}}})
	require.NoError(t, err)
	require.NoError(t, errs[0])
	require.NoError(t, w.WriteDerived(ctx, Derived{Where: map[string]string{"c-1": h.ID, "c-2": h.ID}}))

	raw, err := w.rdb.HGet(ctx, w.HomeKey(h.ID), prefixContact+"c-1").Result()
	require.NoError(t, err)
	for _, text := range []string{"VP Engineering", "pricing-repeat", "analytics"} {
		assert.NotContains(t, raw, text)
	}
	raw, err = w.rdb.HGet(ctx, w.HomeKey(h.ID), prefixContact+"c-2").Result()
	require.NoError(t, err)
	assert.Contains(t, raw, long, "a title past maxTextBytes is inline")

	read := func() *Store { return New(w.rdb, w.ns) }
	homes, _, err := read().Load(ctx, map[string]*Request{h.ID: {Contacts: []string{"c-1", "c-2"}}})
	require.NoError(t, err)
	assert.Equal(t, h.Contacts, homes[h.ID].Contacts)
	c, _, err := read().Contact(ctx, "c-1")
	require.NoError(t, err)
	assert.Equal(t, h.Contacts["c-1"], c)
	var scanned *scoring.Home
	require.NoError(t, read().ScanHomes(ctx, func(got *scoring.Home) error {
		if got.ID == h.ID {
			scanned = got
		}
		return nil
	}))
	require.NotNil(t, scanned)
	assert.Equal(t, h.Contacts, scanned.Contacts)
}

// TestStateTextsAreBounded: however many distinct titles arrive, the
// dictionary numbers TextBound of them and writes the rest inline; every
// state reads back, and once the class is full, new titles are not even
// asked for.
func TestStateTextsAreBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	s.TextBound = 8
	h := scoring.NewHome("a:acme.io")
	var version int64
	for batch := range 5 {
		for i := range 20 {
			id := fmt.Sprintf("c-%d", i)
			h.Contacts[id] = &scoring.Contact{ID: id, AccountID: "acme.io", Title: fmt.Sprintf("Title %d-%d", batch, i), TitleRule: "r"}
		}
		v, errs, err := s.CommitAll(ctx, []Commit{{Home: h, Meta: &Meta{Version: version}}})
		require.NoError(t, err)
		require.NoError(t, errs[0])
		version = v[0]
		homes, _, err := New(s.rdb, s.ns).Load(ctx, map[string]*Request{h.ID: {All: true}})
		require.NoError(t, err)
		require.Equal(t, h.Contacts, homes[h.ID].Contacts)
	}
	dict, err := s.rdb.HGetAll(ctx, s.textsKey()).Result()
	require.NoError(t, err)
	var titles int
	for f := range dict {
		if strings.HasPrefix(f, "=T") {
			titles++
		}
	}
	assert.Equal(t, 8, titles)
	assert.Equal(t, "8", dict["#T"])
	assert.Equal(t, "1", dict["#R"], "the rule is numbered: classes are bounded apart")
	assert.True(t, s.texts.full[textTitle])
	assert.Len(t, s.texts.ids, 9)
	// No round trip for a new title now (a cancelled context would fail one).
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	h.Contacts["c-0"].Title = "A title never seen"
	require.NoError(t, s.internTexts(cancelled, []Commit{{Home: h}}))
	h.Contacts["c-0"].TitleRule = "a rule never seen"
	require.Error(t, s.internTexts(cancelled, []Commit{{Home: h}}), "another class is asked for")
}

// TestStateTextsBoundHoldsAgainstManyTitles: one call with far more
// distinct titles than DefaultTextBound numbers DefaultTextBound.
func TestStateTextsBoundHoldsAgainstManyTitles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	commits := make([]Commit, 0, 10)
	for n := range 10 {
		h := scoring.NewHome(fmt.Sprintf("a:acme-%d.io", n))
		for i := range 1000 {
			id := fmt.Sprintf("c-%d-%d", n, i)
			h.Contacts[id] = &scoring.Contact{ID: id, Title: hex.EncodeToString([]byte(id))}
		}
		commits = append(commits, Commit{Home: h})
	}
	require.NoError(t, s.internTexts(ctx, commits))
	n, err := s.rdb.HLen(ctx, s.textsKey()).Result()
	require.NoError(t, err)
	assert.Equal(t, int64(2*DefaultTextBound+3), n, "two fields a text, the last number, the class's count and the epoch")
	assert.Len(t, s.texts.ids, DefaultTextBound)
}

// TestDictionariesLostWithRedisAreNotTrusted: a process keeps its copies
// of the dictionaries (state texts, ledger labels) while Redis loses its
// data and another process numbers other texts from 1. The first
// process's next batch (a load, then a commit) writes a state and ledger
// lines that read as written, by a new process as by itself, and a
// reader and a scan that kept their copies read the states as written.
func TestDictionariesLostWithRedisAreNotTrusted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	engine := scoring.New(model.Default())
	at := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	write := func(s *Store, account, id, kind, title, rule string) []scoring.Entry {
		t.Helper()
		home := "a:" + account
		_, metas, err := s.Load(ctx, map[string]*Request{home: {Contacts: []string{id}}})
		require.NoError(t, err)
		h := scoring.NewHome(home)
		c := &scoring.Contact{ID: id, AccountID: account}
		var res scoring.Result
		ev := event.Event{ID: "e-" + id, Type: kind, ContactID: id, AccountID: account, Time: at}
		require.NoError(t, engine.Apply(h.Account, c, &ev, &res))
		require.NotEmpty(t, res.Ledger)
		c.Title, c.TitleRule = title, rule
		h.Contacts[id], h.Ledger = c, res.Ledger
		_, errs, err := s.CommitAll(ctx, []Commit{{Home: h, Meta: metas[home]}})
		require.NoError(t, err)
		require.NoError(t, errs[0])
		require.NoError(t, s.WriteDerived(ctx, Derived{Where: map[string]string{id: home}}))
		return res.Ledger
	}
	a := newStore(t)
	write(a, "acme.io", "c-1", "email.clicked", "VP Sales", "vp")
	reader := New(a.rdb, a.ns) // a read API's process, with its own copy
	c, _, err := reader.Contact(ctx, "c-1")
	require.NoError(t, err)
	require.Equal(t, "VP Sales", c.Title)
	_, err = reader.History(ctx, "c-1", 10)
	require.NoError(t, err)
	titles := func(s *Store) map[string]string {
		out := map[string]string{}
		require.NoError(t, s.ScanHomes(ctx, func(h *scoring.Home) error {
			for id, c := range h.Contacts {
				out[id] = c.Title
			}
			return nil
		}))
		return out
	}
	scanner := New(a.rdb, a.ns) // compare's process, with its own copy
	require.Equal(t, map[string]string{"c-1": "VP Sales"}, titles(scanner))
	require.NoError(t, a.rdb.FlushAll(ctx).Err(), "Redis loses its data")
	b := New(a.rdb, a.ns)
	wantB := write(b, "other.io", "c-2", "webinar.registered", "Student", "")
	wantA := write(a, "acme.io", "c-3", "email.clicked", "VP Sales", "vp")

	assert.Equal(t, map[string]string{"c-2": "Student", "c-3": "VP Sales"}, titles(scanner))
	for _, s := range []*Store{reader, New(a.rdb, a.ns), a} {
		for id, want := range map[string]struct {
			title, rule string
			ledger      []scoring.Entry
		}{"c-2": {"Student", "", wantB}, "c-3": {"VP Sales", "vp", wantA}} {
			c, _, err := s.Contact(ctx, id)
			require.NoError(t, err)
			assert.Equal(t, want.title, c.Title, "%s's title", id)
			assert.Equal(t, want.rule, c.TitleRule, "%s's title rule", id)
			lines, err := s.History(ctx, id, 10)
			require.NoError(t, err)
			require.Len(t, lines, len(want.ledger))
			for i := range lines {
				assert.Equal(t, want.ledger[i].Rule, lines[i].Rule, "%s's ledger line %d", id, i)
				assert.Equal(t, want.ledger[i].Reason, lines[i].Reason, "%s's ledger line %d", id, i)
			}
		}
	}
}
