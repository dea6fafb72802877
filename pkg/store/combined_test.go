package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/testutil"
)

// combinedStore writes contacts, each alone in its home, through the
// store's commit and WriteDerived as the scorer does, by two writers (two
// Stores, each with its own idea of the boards' lowest scores), and keeps
// what it wrote.
type combinedStore struct {
	t        *testing.T
	writers  [2]*store.Store
	contacts map[string]*scoring.Contact
	versions map[string]int64
}

func (cs *combinedStore) write(ctx context.Context, writer int, now []*scoring.Contact) {
	t := cs.t
	t.Helper()
	st := cs.writers[writer]
	commits := make([]store.Commit, len(now))
	d := store.Derived{Where: map[string]string{}, Contacts: map[string]int32{}, Boards: map[string]store.Boards{}}
	for i, c := range now {
		h := scoring.NewHome(scoring.HomeID("", c.ID))
		h.Contacts[c.ID] = c
		commits[i] = store.Commit{Home: h, Meta: &store.Meta{Version: cs.versions[c.ID]}}
		d.Where[c.ID], d.Contacts[c.ID] = h.ID, c.Score()
		d.Boards[c.ID] = store.ContactBoards(cs.contacts[c.ID], c)
	}
	versions, errs, err := st.CommitAll(ctx, commits)
	require.NoError(t, err)
	for i, c := range now {
		require.NoError(t, errs[i])
		cs.versions[c.ID] = versions[i]
		cs.contacts[c.ID] = c
	}
	require.NoError(t, st.WriteDerived(ctx, d))
}

var (
	testGrades   = []string{"A", "B", "C", "D", "E"}
	testNurtures = []string{"", model.NurtureReactivation, model.NurtureCLevel, model.NurtureOther}
	testProducts = []string{"analytics", "crm", "ads"}
)

// randomContact has random values in every field a board is kept for,
// and a score among a few dozen, so that many contacts tie. Narrow values
// are few (grade A or B, early or late, no nurture category, one product):
// few cells, most of them full.
func randomContact(rng *rand.Rand, id string, narrow bool) *scoring.Contact {
	grades, nurtures, products := testGrades, testNurtures, testProducts
	if narrow {
		grades, nurtures, products = grades[:2], nurtures[:1], products[:1]
	}
	c := &scoring.Contact{ID: id, Behavior: rng.Int32N(30), Fit: rng.Int32N(12),
		Grade: grades[rng.IntN(len(grades))], Stage: model.Stage(rng.IntN(3)),
		Nurture: nurtures[rng.IntN(len(nurtures))], MQL: rng.IntN(3) == 0, AQL: rng.IntN(5) == 0}
	if narrow && c.Stage == model.Mid {
		c.Stage = model.Late
	}
	for _, p := range products {
		if rng.IntN(2) == 0 {
			c.Products = append(c.Products, scoring.Product{Name: p, Score: 1 + rng.Int32N(20)})
		}
	}
	return c
}

// combinedQueries are the filter sets checked: every single filter, every
// pair of fields with a few values each, and some triples.
func combinedQueries() [][]store.Filter {
	g := func(v string) store.Filter { return store.Filter{Field: store.FilterGrade, Value: v} }
	st := func(v string) store.Filter { return store.Filter{Field: store.FilterStage, Value: v} }
	n := func(v string) store.Filter { return store.Filter{Field: store.FilterNurture, Value: v} }
	p := func(v string) store.Filter { return store.Filter{Field: store.FilterProduct, Value: v} }
	mql := store.Filter{Field: store.FilterMQL, Value: "true"}
	aql := store.Filter{Field: store.FilterAQL, Value: "true"}
	var qs [][]store.Filter
	singles := []store.Filter{g("A"), g("C"), st("early"), st("late"), n(model.NurtureCLevel), p("crm"), mql, aql}
	for _, f := range singles {
		qs = append(qs, []store.Filter{f})
	}
	for i, f := range singles {
		for _, h := range singles[i+1:] {
			if f.Field != h.Field {
				qs = append(qs, []store.Filter{f, h})
			}
		}
	}
	return append(qs,
		[]store.Filter{g("A"), st("late"), p("analytics")},
		[]store.Filter{g("B"), st("mid"), n(model.NurtureOther), mql},
		[]store.Filter{g("E"), st("early"), p("ads"), aql},
		[]store.Filter{g("A"), st("late"), n(model.NurtureReactivation), p("crm"), mql, aql},
	)
}

// TestCombinedFiltersMatchEveryContactsState: 600 contacts with random
// values and scores, boards of 12 and cells of 5 (the contact
// leaderboard 200) so that nearly every board is full and trims; values of a wide spread (many
// cells, most small) and of a narrow one (few cells, most full). Every
// filter set of combinedQueries, read a page at a time (paging on, and
// with a scan limit that cuts reads short), lists exactly the contacts
// whose stored state passes every filter, by score then id, down to where
// the answer says it is exact; and most first pages are complete. Then
// contacts change values and scores (down too, below others that were
// trimmed; out of boards that were full) and the same holds.
func TestCombinedFiltersMatchEveryContactsState(t *testing.T) {
	t.Parallel()
	t.Run("wide", func(t *testing.T) { t.Parallel(); checkCombinedFilters(t, false) })
	t.Run("narrow", func(t *testing.T) { t.Parallel(); checkCombinedFilters(t, true) })
}

func checkCombinedFilters(t *testing.T, narrow bool) {
	ctx := context.Background()
	rdb, ns := testutil.RedisClient(t), testutil.Prefix(t)
	cs := &combinedStore{t: t, contacts: map[string]*scoring.Contact{}, versions: map[string]int64{}}
	for i := range cs.writers {
		cs.writers[i] = store.New(rdb, ns)
		cs.writers[i].FilteredBoardSize, cs.writers[i].CellSize, cs.writers[i].LeaderboardSize = 12, 5, 200
	}
	reader := cs.writers[0]
	rng := rand.New(rand.NewPCG(7, 11))
	var ids []string
	for i := range 600 {
		ids = append(ids, fmt.Sprintf("c-%03d", i))
	}
	for i := 0; i < len(ids); i += 50 {
		var batch []*scoring.Contact
		for _, id := range ids[i : i+50] {
			batch = append(batch, randomContact(rng, id, narrow))
		}
		cs.write(ctx, (i/50)%2, batch)
	}

	check := func(when string) {
		t.Helper()
		// Each contact as the store's state has it.
		var all []*scoring.Contact
		for _, id := range ids {
			c, _, err := reader.Contact(ctx, id)
			require.NoError(t, err)
			all = append(all, c)
		}
		var complete, cut, answers, indexed, firsts, firstComplete int
		for _, fs := range combinedQueries() {
			var want []store.Ranked
			for _, c := range all {
				has := store.ContactFilters(c)
				if !slices.ContainsFunc(fs, func(f store.Filter) bool { return !slices.Contains(has, f) }) {
					want = append(want, store.Ranked{ID: c.ID, Score: int64(c.Score())})
				}
			}
			slices.SortFunc(want, func(a, b store.Ranked) int {
				if a.Score != b.Score {
					return int(b.Score - a.Score)
				}
				if a.ID > b.ID {
					return -1
				}
				return 1
			})
			for _, read := range []struct{ limit, scan int }{{5, 10_000}, {25, 10_000}, {25, 9}} {
				// Pages one after another, as a client follows next.
				var got []store.Ranked
				var after *store.Ranked
				for range 8 {
					m, err := reader.Filtered(ctx, fs, read.limit, after, read.scan)
					require.NoError(t, err)
					answers++
					if after == nil && read.scan > 9 {
						firsts++
						if m.Complete {
							firstComplete++
						}
					}
					assert.LessOrEqual(t, len(m.Items), read.limit)
					got = append(got, m.Items...)
					// How far the answer says it is exact.
					var upTo []store.Ranked
					switch {
					case m.Complete && m.Next == nil:
						upTo = want
						complete++
					case m.Complete:
						require.Len(t, m.Items, read.limit)
						upTo = want[:min(len(want), len(got))]
						complete++
					case m.Next != nil:
						cut++
						for _, w := range want {
							if w.Score > m.Next.Score || w.Score == m.Next.Score && w.ID >= m.Next.ID {
								upTo = append(upTo, w)
							}
						}
					default:
						indexed++
						require.NotNil(t, m.IndexedTo, "%s %v: an incomplete answer says where its boards stop", when, fs)
						for _, w := range want {
							if w.Score > m.IndexedTo.Score || w.Score == m.IndexedTo.Score && w.ID > m.IndexedTo.ID {
								upTo = append(upTo, w)
							}
						}
					}
					require.Equal(t, upTo, got, "%s %v limit %d scan %d: every contact that passes, in order", when, fs, read.limit, read.scan)
					if m.Next == nil {
						break
					}
					after = m.Next
				}
			}
		}
		t.Logf("%s: %d answers, %d complete, %d cut by the scan limit, %d where the boards stop; %d of %d first pages complete",
			when, answers, complete, cut, indexed, firstComplete, firsts)
		assert.Greater(t, firstComplete, firsts*3/4, "%s: most first pages are complete", when)
		assert.Positive(t, cut, "%s: some reads reach the scan limit", when)
		if narrow {
			assert.Positive(t, indexed, "%s: some reads reach where every board may have lost contacts", when)
		}
	}
	check("written")

	// Changes: values move, scores fall and rise; each writer its share.
	for round := range 4 {
		var batch []*scoring.Contact
		for _, i := range rng.Perm(len(ids))[:120] {
			c := *cs.contacts[ids[i]]
			c.Products = slices.Clone(c.Products)
			switch rng.IntN(4) {
			case 0:
				n := randomContact(rng, c.ID, narrow)
				c.Grade, c.Stage = n.Grade, n.Stage
			case 1:
				c.Behavior = max(0, c.Behavior-10-rng.Int32N(10)) // falls
			case 2:
				c.Behavior += rng.Int32N(15)
				c.MQL, c.AQL = !c.MQL, rng.IntN(3) == 0
			default:
				n := randomContact(rng, c.ID, narrow)
				c.Nurture, c.Products = n.Nurture, n.Products
			}
			batch = append(batch, &c)
		}
		cs.write(ctx, round%2, batch)
	}
	check("changed")
}

// TestABoardMarksWhatItLeftOutWithoutTrimming: boards of 3 filled to
// exactly 3 have lost nothing; a contact below their lowest score is not
// written to them (a filtered board skips it, the contact leaderboard
// updates only what it holds), and both boards then mark it lost, so that
// a read of grade A that stops at the boards' end says it may have missed
// it, then finds it once it rises onto them.
func TestABoardMarksWhatItLeftOutWithoutTrimming(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.New(testutil.RedisClient(t), testutil.Prefix(t))
	st.FilteredBoardSize, st.CellSize, st.LeaderboardSize = 3, 3, 3
	cs := &combinedStore{t: t, writers: [2]*store.Store{st, st}, contacts: map[string]*scoring.Contact{}, versions: map[string]int64{}}
	contact := func(id string, behavior int32) *scoring.Contact {
		return &scoring.Contact{ID: id, Behavior: behavior, Grade: "A"}
	}
	gradeA := []store.Filter{{Field: store.FilterGrade, Value: "A"}}
	read := func() *store.Matching {
		t.Helper()
		m, err := st.Filtered(ctx, gradeA, 10, nil, 100)
		require.NoError(t, err)
		return m
	}
	cs.write(ctx, 0, []*scoring.Contact{contact("c1", 50), contact("c2", 40), contact("c3", 30)})
	for _, by := range []string{"contact", gradeA[0].Board()} {
		_, lost, err := st.Lost(ctx, by)
		require.NoError(t, err)
		assert.False(t, lost, "%s: full, nothing lost", by)
	}
	m := read()
	assert.True(t, m.Complete)
	assert.Equal(t, []store.Ranked{{ID: "c1", Score: 50}, {ID: "c2", Score: 40}, {ID: "c3", Score: 30}}, m.Items)

	cs.write(ctx, 0, []*scoring.Contact{contact("c4", 20)})
	for _, by := range []string{"contact", gradeA[0].Board()} {
		mark, lost, err := st.Lost(ctx, by)
		require.NoError(t, err)
		assert.True(t, lost, by)
		assert.Equal(t, store.Ranked{ID: "c4", Score: 20}, mark, by)
	}
	m = read()
	assert.False(t, m.Complete, "c4 may pass and is on no board")
	assert.Equal(t, &store.Ranked{ID: "c4", Score: 20}, m.IndexedTo)
	assert.Len(t, m.Items, 3)

	cs.write(ctx, 0, []*scoring.Contact{contact("c4", 45)})
	m = read()
	assert.Equal(t, []store.Ranked{{ID: "c1", Score: 50}, {ID: "c4", Score: 45}, {ID: "c2", Score: 40}}, m.Items)
	assert.Equal(t, &store.Ranked{ID: "c3", Score: 30}, m.IndexedTo, "c3 trimmed, lost at 30")
}
