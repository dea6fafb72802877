package store

import (
	"cmp"
	"net/url"
	"slices"
	"strings"

	"github.com/leadscore/leads/pkg/scoring"
)

// Filter names a leaderboard of the contacts that have a value: their
// grade, stage, nurture category or a product interest, or MQL or AQL
// status. Each is kept like the contact leaderboard (its top
// FilteredBoardSize by score), with the scores, by the same pipeline that
// writes them: a filtered board is read, never computed by scanning.
type Filter struct {
	Field string `json:"field"`
	Value string `json:"value"`
}

// Fields a contact leaderboard can be filtered by.
const (
	FilterGrade   = "grade"
	FilterStage   = "stage"
	FilterNurture = "nurture"
	FilterProduct = "product"
	FilterMQL     = "mql"
	FilterAQL     = "aql"
)

// FilterFields are the fields a contact leaderboard can be filtered by.
var FilterFields = []string{FilterGrade, FilterStage, FilterNurture, FilterProduct, FilterMQL, FilterAQL}

// Board is the name of the filtered contact leaderboard, for Leaderboard.
func (f Filter) Board() string { return "contact:" + f.Field + ":" + keyPart(f.Value) }

// ContactFilters are the filtered boards c belongs on (none for nil, or
// for a contact merged into another).
func ContactFilters(c *scoring.Contact) []Filter {
	if c == nil || c.MergedInto != "" {
		return nil
	}
	fs := make([]Filter, 0, 4+len(c.Products))
	if c.Grade != "" {
		fs = append(fs, Filter{FilterGrade, c.Grade})
	}
	fs = append(fs, Filter{FilterStage, c.Stage.String()})
	if c.Nurture != "" {
		fs = append(fs, Filter{FilterNurture, c.Nurture})
	}
	for _, p := range c.Products {
		if p.Score > 0 {
			fs = append(fs, Filter{FilterProduct, p.Name})
		}
	}
	if c.MQL {
		fs = append(fs, Filter{FilterMQL, "true"})
	}
	if c.AQL {
		fs = append(fs, Filter{FilterAQL, "true"})
	}
	return fs
}

// Boards is what one contact's filtered boards need: its score on the
// boards it belongs on, and the boards it left; and, to skip the boards
// it cannot be on, the boards it stayed on and its score before.
type Boards struct {
	Score int32
	In    []Filter
	Out   []Filter
	// Stayed are the filters of In it had before, at the score Prev.
	Stayed []Filter
	Prev   int32
}

// filterCell is the field of a cell's Filter: a board of the contacts
// that have exactly the same values (see CellOf).
const filterCell = "cell"

// cellBoards begins the name of every cell's board.
var cellBoards = Filter{Field: filterCell}.Board()

// CellOf is the cell c is in: every contact has one, named by all the
// filters it passes, as a query string in a fixed order
// ("grade=A&mql=true&product=analytics&stage=late"), so that the cells
// of a set of filters are those whose name has every one of them. The
// cells' boards are, together, a second index of every filter value:
// small cells hold every contact they have, and a combination of values
// reads only the cells that have them all (see Filtered).
func CellOf(c *scoring.Contact) Filter { return cellOf(ContactFilters(c)) }

// cellOf is the cell of a contact with the filters fs, its name as
// url.Values.Encode writes it, built without the map.
func cellOf(fs []Filter) Filter {
	fs = slices.Clone(fs)
	slices.SortFunc(fs, func(a, b Filter) int { return cmp.Or(cmp.Compare(a.Field, b.Field), cmp.Compare(a.Value, b.Value)) })
	var b strings.Builder
	for i, f := range fs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(f.Field)
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(f.Value))
	}
	return Filter{Field: filterCell, Value: b.String()}
}

// contactBoards are the boards c belongs on: its filters' and its cell's
// (none for nil, or for a contact merged into another).
func contactBoards(c *scoring.Contact) []Filter {
	if c == nil || c.MergedInto != "" {
		return nil
	}
	fs := ContactFilters(c)
	return append(fs, cellOf(fs))
}

// ContactBoards compares a contact as it was (nil: new) with as it is.
func ContactBoards(before, now *scoring.Contact) Boards {
	b := Boards{Score: now.Score(), In: contactBoards(now)}
	if before != nil {
		b.Prev = before.Score()
	}
	if sameBoards(before, now) {
		// Most events move a score and no filter: the same boards, the
		// same cell, without building them twice.
		b.Stayed = b.In
		return b
	}
	for _, f := range contactBoards(before) {
		if slices.Contains(b.In, f) {
			b.Stayed = append(b.Stayed, f)
		} else {
			b.Out = append(b.Out, f)
		}
	}
	return b
}

// sameBoards reports whether two live contacts have the same filters, and
// so the same boards (ContactFilters): their grade, stage, nurture
// category, MQL and AQL status, and products of interest in order.
func sameBoards(a, b *scoring.Contact) bool {
	if a == nil || b == nil || a.MergedInto != "" || b.MergedInto != "" ||
		a.Grade != b.Grade || a.Stage != b.Stage || a.Nurture != b.Nurture || a.MQL != b.MQL || a.AQL != b.AQL {
		return false
	}
	i, j := 0, 0
	for {
		for i < len(a.Products) && a.Products[i].Score <= 0 {
			i++
		}
		for j < len(b.Products) && b.Products[j].Score <= 0 {
			j++
		}
		if i == len(a.Products) || j == len(b.Products) {
			return i == len(a.Products) && j == len(b.Products)
		}
		if a.Products[i].Name != b.Products[j].Name {
			return false
		}
		i, j = i+1, j+1
	}
}

// mayHold reports whether a full board with the lowest score floor may
// hold the contact: a board's entry is the score last written, and a
// contact below the floor then as now is not on it (most of the writes of
// a busy deployment: they cost nothing then).
func (b *Boards) mayHold(f Filter, floor float64) bool {
	return float64(b.Score) >= floor || slices.Contains(b.Stayed, f) && float64(b.Prev) >= floor
}
