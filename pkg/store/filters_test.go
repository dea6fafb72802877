package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/testutil"
)

// TestAFullFilteredBoardKeepsItsTopAndSkipsWhatCannotBeOnIt: a board of 3
// keeps the top 3 of its value; a contact below its lowest score before
// and after is not written (nothing to update); a member that falls below
// is updated; a contact whose grade changes leaves the old grade's board.
func TestAFullFilteredBoardKeepsItsTopAndSkipsWhatCannotBeOnIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.New(testutil.RedisClient(t), testutil.Prefix(t))
	st.FilteredBoardSize = 3
	contact := func(id string, behavior int32, grade string) *scoring.Contact {
		return &scoring.Contact{ID: id, Behavior: behavior, Grade: grade}
	}
	write := func(changes map[string][2]*scoring.Contact) {
		t.Helper()
		d := store.Derived{Boards: map[string]store.Boards{}}
		for id, c := range changes {
			d.Boards[id] = store.ContactBoards(c[0], c[1])
		}
		require.NoError(t, st.WriteDerived(ctx, d))
	}
	board := func(f store.Filter) map[string]int64 {
		t.Helper()
		items, err := st.Leaderboard(ctx, f.Board(), 10)
		require.NoError(t, err)
		out := map[string]int64{}
		for _, it := range items {
			out[it.ID] = it.Score
		}
		return out
	}
	gradeA, gradeB := store.Filter{Field: store.FilterGrade, Value: "A"}, store.Filter{Field: store.FilterGrade, Value: "B"}
	write(map[string][2]*scoring.Contact{
		"c1": {nil, contact("c1", 50, "A")}, "c2": {nil, contact("c2", 40, "A")}, "c3": {nil, contact("c3", 30, "A")},
		"c4": {nil, contact("c4", 20, "A")}, "c5": {nil, contact("c5", 10, "A")},
	})
	assert.Equal(t, map[string]int64{"c1": 50, "c2": 40, "c3": 30}, board(gradeA), "the top 3")

	write(map[string][2]*scoring.Contact{
		"c5": {contact("c5", 10, "A"), contact("c5", 25, "A")}, // below 30 before and after: not on it, not written
	})
	assert.Equal(t, map[string]int64{"c1": 50, "c2": 40, "c3": 30}, board(gradeA))

	write(map[string][2]*scoring.Contact{
		"c2": {contact("c2", 40, "A"), contact("c2", 45, "B")}, // leaves A for B
	})
	assert.Equal(t, map[string]int64{"c1": 50, "c3": 30}, board(gradeA), "c2 left")
	assert.Equal(t, map[string]int64{"c2": 45}, board(gradeB))
	write(map[string][2]*scoring.Contact{
		"c4": {contact("c4", 20, "A"), contact("c4", 22, "A")}, // the board has room again: on it
	})
	assert.Equal(t, map[string]int64{"c1": 50, "c3": 30, "c4": 22}, board(gradeA))

	write(map[string][2]*scoring.Contact{
		"c3": {contact("c3", 30, "A"), contact("c3", 5, "A")}, // a member falling below is updated
		"c6": {nil, contact("c6", 60, "A")},
	})
	assert.Equal(t, map[string]int64{"c6": 60, "c1": 50, "c4": 22}, board(gradeA), "c3 updated, then trimmed")
}

// TestALeaderboardMarksTheHighestEntryItLost: boards of 3 filled to 3 have
// lost nothing; a contact below them is not written (the filtered board
// skips it, the contact board updates only its members) and is marked
// lost; a trim marks what it removed when that is higher.
func TestALeaderboardMarksTheHighestEntryItLost(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.New(testutil.RedisClient(t), testutil.Prefix(t))
	st.FilteredBoardSize, st.LeaderboardSize = 3, 3
	gradeA := store.Filter{Field: store.FilterGrade, Value: "A"}
	write := func(id string, score int32) {
		t.Helper()
		c := &scoring.Contact{ID: id, Behavior: score, Grade: "A"}
		require.NoError(t, st.WriteDerived(ctx, store.Derived{Contacts: map[string]int32{id: score},
			Boards: map[string]store.Boards{id: store.ContactBoards(nil, c)}}))
	}
	marks := func() (out [2]*store.Ranked) {
		t.Helper()
		for i, by := range []string{"contact", gradeA.Board()} {
			m, ok, err := st.Lost(ctx, by)
			require.NoError(t, err)
			if ok {
				out[i] = &m
			}
		}
		return out
	}
	write("c1", 50)
	write("c2", 40)
	write("c3", 30)
	assert.Equal(t, [2]*store.Ranked{}, marks(), "full, nothing lost")
	write("c4", 20)
	c4 := &store.Ranked{ID: "c4", Score: 20}
	assert.Equal(t, [2]*store.Ranked{c4, c4}, marks(), "left out")
	write("c0", 10)
	assert.Equal(t, [2]*store.Ranked{c4, c4}, marks(), "lower: the mark stays")
	write("c5", 45)
	c3 := &store.Ranked{ID: "c3", Score: 30}
	assert.Equal(t, [2]*store.Ranked{c3, c3}, marks(), "trimmed")
}

// TestACellOf64StaysAListpack: 300 contacts of one cell written at once
// are trimmed as they are added, so the cell never passes 128 entries,
// past which Redis keeps a sorted set as a skiplist for good (several
// times the memory); it keeps its top 64.
func TestACellOf64StaysAListpack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := testutil.RedisClient(t)
	st := store.New(rdb, testutil.Prefix(t))
	require.Equal(t, 64, st.CellSize)
	d := store.Derived{Boards: map[string]store.Boards{}}
	var cell store.Filter
	for i := range 300 {
		c := &scoring.Contact{ID: fmt.Sprintf("c-%03d", i), Behavior: int32(i), Grade: "B"}
		d.Boards[c.ID], cell = store.ContactBoards(nil, c), store.CellOf(c)
	}
	require.NoError(t, st.WriteDerived(ctx, d))
	key := st.LeaderboardKey(cell.Board())
	enc, err := rdb.ObjectEncoding(ctx, key).Result()
	require.NoError(t, err)
	assert.Equal(t, "listpack", enc)
	top, err := st.Leaderboard(ctx, cell.Board(), 100)
	require.NoError(t, err)
	require.Len(t, top, 64)
	assert.Equal(t, store.Ranked{ID: "c-299", Score: 299}, top[0])
	assert.Equal(t, store.Ranked{ID: "c-236", Score: 236}, top[63])
	mark, lost, err := st.Lost(ctx, cell.Board())
	require.NoError(t, err)
	assert.True(t, lost)
	assert.Equal(t, store.Ranked{ID: "c-235", Score: 235}, mark)
}

// TestAMergedContactLeavesEveryBoard: a contact merged into another is on
// no board, its cell's included, and leaves all those it was on.
func TestAMergedContactLeavesEveryBoard(t *testing.T) {
	t.Parallel()
	live := &scoring.Contact{ID: "anon:v", Grade: "B", Stage: 1, MQL: true, Behavior: 90}
	tomb := &scoring.Contact{ID: "anon:v", MergedInto: "u-1"}
	b := store.ContactBoards(live, tomb)
	assert.Empty(t, b.In)
	assert.Len(t, b.Out, len(store.ContactFilters(live))+1)
	assert.Contains(t, b.Out, store.CellOf(live))
}

// TestContactBoardsIsTheSameWhenNoFilterChanged: for every pair of
// contacts that differ in one filter's value (or in none), the boards in,
// out and stayed on are those the comparison of both contacts' boards
// gives, also when nothing changed but the score.
func TestContactBoardsIsTheSameWhenNoFilterChanged(t *testing.T) {
	t.Parallel()
	base := scoring.Contact{ID: "c-1", Behavior: 50, Grade: "B", Nurture: "evaluate", MQL: true,
		Products: []scoring.Product{{Name: "analytics", Score: 10}, {Name: "billing"}, {Name: "crm", Score: 3}}}
	edits := map[string]func(c *scoring.Contact){
		"score":          func(c *scoring.Contact) { c.Behavior += 30 },
		"grade":          func(c *scoring.Contact) { c.Grade = "A" },
		"no grade":       func(c *scoring.Contact) { c.Grade = "" },
		"stage":          func(c *scoring.Contact) { c.Stage++ },
		"nurture":        func(c *scoring.Contact) { c.Nurture = "buy" },
		"mql":            func(c *scoring.Contact) { c.MQL = false },
		"aql":            func(c *scoring.Contact) { c.AQL = true },
		"merged":         func(c *scoring.Contact) { c.MergedInto = "c-2" },
		"product lost":   func(c *scoring.Contact) { c.Products[2].Score = 0 },
		"product gained": func(c *scoring.Contact) { c.Products[1].Score = 1 },
		"product points": func(c *scoring.Contact) { c.Products[0].Score = 40 },
		"product added":  func(c *scoring.Contact) { c.Products = append(c.Products, scoring.Product{Name: "dw", Score: 2}) },
		"zero added":     func(c *scoring.Contact) { c.Products = append(c.Products, scoring.Product{Name: "dw"}) },
		"products gone":  func(c *scoring.Contact) { c.Products = nil },
	}
	for name, edit := range edits {
		for _, forward := range []bool{true, false} {
			before, now := base.Clone(), base.Clone()
			edit(now)
			if !forward {
				before, now = now, before
			}
			got := store.ContactBoards(before, now)
			in := append(store.ContactFilters(now), store.CellOf(now))
			if now.MergedInto != "" {
				in = nil
			}
			var stayed, out []store.Filter
			if before.MergedInto == "" {
				for _, f := range append(store.ContactFilters(before), store.CellOf(before)) {
					if slices.Contains(in, f) {
						stayed = append(stayed, f)
					} else {
						out = append(out, f)
					}
				}
			}
			want := store.Boards{Score: now.Score(), Prev: before.Score(), In: in, Stayed: stayed, Out: out}
			assert.Equal(t, want, got, "%s, forward %v", name, forward)
			switch {
			case name == "score" || name == "product points" || name == "zero added":
				assert.Empty(t, got.Out, "%s: no board left", name)
			case name == "merged" && !forward: // from no board at all
				assert.Empty(t, got.Out)
			default:
				assert.NotEmpty(t, got.Out, "%s, forward %v: a board left", name, forward)
			}
		}
	}
}

// TestContactsLeavingOneBoardTogetherAllLeaveIt: contacts merged into
// others and contacts whose grade changed, several to a board in one
// write, are off the boards they left, and the others stay.
func TestContactsLeavingOneBoardTogetherAllLeaveIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.New(testutil.RedisClient(t), testutil.Prefix(t))
	d := store.Derived{Contacts: map[string]int32{}, Boards: map[string]store.Boards{}}
	for i := range 6 {
		c := &scoring.Contact{ID: fmt.Sprint("c", i), Behavior: int32(10 * (i + 1)), Grade: "A"}
		d.Contacts[c.ID] = c.Score()
		d.Boards[c.ID] = store.ContactBoards(nil, c)
	}
	require.NoError(t, st.WriteDerived(ctx, d))
	ids := func(board string) []string {
		t.Helper()
		items, err := st.Leaderboard(ctx, board, 10)
		require.NoError(t, err)
		var out []string
		for _, it := range items {
			out = append(out, it.ID)
		}
		return out
	}
	gradeA := store.Filter{Field: store.FilterGrade, Value: "A"}.Board()
	require.Equal(t, []string{"c5", "c4", "c3", "c2", "c1", "c0"}, ids(gradeA))

	d = store.Derived{Retired: []string{"c0", "c2"}, Boards: map[string]store.Boards{}}
	for _, id := range []string{"c1", "c4"} {
		before := &scoring.Contact{ID: id, Behavior: 20, Grade: "A"}
		d.Boards[id] = store.ContactBoards(before, &scoring.Contact{ID: id, Behavior: 20, Grade: "B"})
	}
	require.NoError(t, st.WriteDerived(ctx, d))
	assert.Equal(t, []string{"c5", "c4", "c3", "c1"}, ids("contact"), "c0 and c2 merged into others")
	assert.Equal(t, []string{"c5", "c3", "c2", "c0"}, ids(gradeA), "c1 and c4 went to B")
}
