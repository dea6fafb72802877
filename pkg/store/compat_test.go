package store

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/scoring"
)

// v1Fixture is testdata/ledger_v1.json: a whole namespace as the code before
// packed ledgers left it (ledgers as lists of binary entries, states without
// tails), with the history each contact read as then. pkg/api's
// TestHistoryJSONIsWhatItWas wrote it, with -update -dump-v1, on d871015.
type v1Fixture struct {
	Namespace string `json:"namespace"`
	Keys      []struct {
		Key  string             `json:"key"`
		Type string             `json:"type"`
		Hash map[string][]byte  `json:"hash"`
		List [][]byte           `json:"list"`
		Set  [][]byte           `json:"set"`
		ZSet map[string]float64 `json:"zset"`
	} `json:"keys"`
	History map[string][]scoring.Entry `json:"history"`
}

// restoreV1 writes the fixture's keys under s's namespace.
func restoreV1(t *testing.T, s *Store) *v1Fixture {
	t.Helper()
	ctx := context.Background()
	raw, err := os.ReadFile(filepath.Join("testdata", "ledger_v1.json"))
	require.NoError(t, err)
	var f v1Fixture
	require.NoError(t, json.Unmarshal(raw, &f))
	pipe := s.rdb.Pipeline()
	for _, k := range f.Keys {
		key := s.ns + strings.TrimPrefix(k.Key, f.Namespace)
		switch k.Type {
		case "hash":
			for field, v := range k.Hash {
				pipe.HSet(ctx, key, field, v)
			}
		case "list":
			for _, v := range k.List {
				pipe.RPush(ctx, key, v)
			}
		case "set":
			for _, v := range k.Set {
				pipe.SAdd(ctx, key, v)
			}
		case "zset":
			for m, score := range k.ZSet {
				pipe.ZAdd(ctx, key, redis.Z{Member: m, Score: score})
			}
		}
	}
	_, err = pipe.Exec(ctx)
	require.NoError(t, err)
	for id, h := range f.History {
		for i := range h {
			h[i].ContactID = id
		}
	}
	return &f
}

// TestLedgersStoredAsListsReadAndArePackedOnTheirNextLine: a namespace
// written before ledgers were packed reads as it did; a contact's next
// commit with a line packs its ledger, older lines included, and later
// lines append to it; a contact that moves carries its list packed.
func TestLedgersStoredAsListsReadAndArePackedOnTheirNextLine(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	f := restoreV1(t, s)
	for id, want := range f.History {
		got, err := s.History(ctx, id, DefaultLedgerMax)
		require.NoError(t, err)
		assert.Equal(t, want, got, id)
	}

	// c-2 scores twice, loaded as the scorer loads it.
	var added []scoring.Entry
	for n, cause := range []string{"evt-9001", "evt-9002"} {
		homes, metas, err := s.Load(ctx, map[string]*Request{"a:acme.io": {Contacts: []string{"c-2"}}})
		require.NoError(t, err)
		h := homes["a:acme.io"]
		c := h.Contacts["c-2"]
		c.Behavior += 5
		e := scoring.Entry{ContactID: "c-2", Time: f.History["c-2"][0].Time + 3600*int64(n+1), Cause: cause,
			Kind: scoring.KindBehavior, Rule: "email-open", Points: 5, Reason: "email opened (at most 3 a day)",
			Score: c.Score(), Behavior: c.Behavior, Fit: c.Fit}
		h.Ledger = append(h.Ledger, e)
		added = append([]scoring.Entry{e}, added...)
		_, errs, err := s.CommitAll(ctx, []Commit{{Home: h, Meta: metas["a:acme.io"]}})
		require.NoError(t, err)
		require.NoError(t, errs[0])
		typ, err := s.rdb.Type(ctx, s.ledgerKey("a:acme.io", "c-2")).Result()
		require.NoError(t, err)
		assert.Equal(t, "string", typ, "packed")
		got, err := s.History(ctx, "c-2", DefaultLedgerMax)
		require.NoError(t, err)
		assert.Equal(t, append(slices.Clone(added), f.History["c-2"]...), got)
	}
	_, metas, err := s.Load(ctx, map[string]*Request{"a:acme.io": {Contacts: []string{"c-2"}}})
	require.NoError(t, err)
	assert.Equal(t, len(f.History["c-2"])+2, metas["a:acme.io"].tails["c-2"].lines, "the state knows where its ledger ends")

	// c-1's list, carried by a move, is packed as the same lines.
	carried, err := s.Ledgers(ctx, map[string]string{"c-1": "a:beta.io"})
	require.NoError(t, err)
	require.Len(t, carried["c-1"], 1)
	lines, _, err := decodeLines([]byte(carried["c-1"][0]))
	require.NoError(t, err)
	got, err := s.unpackLines(ctx, "c-1", lines)
	require.NoError(t, err)
	assert.Equal(t, f.History["c-1"], got)
}

// TestLedgerRetentionByCountAndAge: a contact scoring a line an hour keeps,
// whatever its commits, the newest LedgerMax lines none older than
// LedgerMaxAge before the newest, and Redis holds at most an eighth more.
func TestLedgerRetentionByCountAndAge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		max       int
		age       time.Duration
		wantLines int
	}{{"count", 40, 0, 40}, {"age", 1000, 24 * time.Hour, 25}, {"both", 16, 24 * time.Hour, 16}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			s.LedgerMax, s.LedgerMaxAge = tc.max, tc.age
			require.NoError(t, s.WriteDerived(ctx, Derived{Where: map[string]string{"c-1": "c:c-1"}}))
			at, n := int64(1772366400), 0
			for batch := range 30 {
				homes, metas, err := s.Load(ctx, map[string]*Request{"c:c-1": {Contacts: []string{"c-1"}}})
				require.NoError(t, err)
				h := homes["c:c-1"]
				c := h.Contacts["c-1"]
				if c == nil {
					c = &scoring.Contact{ID: "c-1"}
					h.Contacts["c-1"] = c
				}
				for range batch%4 + 1 {
					n++
					c.Behavior++
					h.Ledger = append(h.Ledger, scoring.Entry{ContactID: "c-1", Time: at + int64(n)*3600, Cause: fmt.Sprint("evt-", n),
						Kind: scoring.KindBehavior, Rule: "r", Points: 1, Reason: "r", Score: c.Behavior, Behavior: c.Behavior})
				}
				_, errs, err := s.CommitAll(ctx, []Commit{{Home: h, Meta: metas["c:c-1"]}})
				require.NoError(t, err)
				require.NoError(t, errs[0])
				got, err := s.History(ctx, "c-1", 10000)
				require.NoError(t, err)
				want := min(n, tc.wantLines)
				require.Len(t, got, want, "after %d lines", n)
				for i, e := range got {
					require.Equal(t, fmt.Sprint("evt-", n-i), e.Cause)
					require.Equal(t, int32(n-i), e.Behavior)
				}
				stored, err := s.readLedgers(ctx, map[string]ledgerRef{"": {key: s.ledgerKey("c:c-1", "c-1"), contact: "c-1"}})
				require.NoError(t, err)
				require.LessOrEqual(t, len(stored[""]), want+want/8+4, "trimmed with at most an eighth to spare")
			}
		})
	}
}
