package store

import (
	"slices"

	"github.com/leadscore/leads/pkg/scoring"
)

// Filter names a leaderboard of the contacts that have a value: their
// grade, stage, nurture category or a product interest, or MQL or AQL
// status. Each is kept like the contact leaderboard (the top
// LeaderboardSize by score), with the scores, by the same pipeline that
// writes them: a filtered board is read, never computed by scanning.
type Filter struct{ Field, Value string }

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

// ContactFilters are the filtered boards c belongs on (none for nil).
func ContactFilters(c *scoring.Contact) []Filter {
	if c == nil {
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
// boards it belongs on, and the boards it left.
type Boards struct {
	Score int32
	In    []Filter
	Out   []Filter
}

// ContactBoards compares a contact as it was (nil: new) with as it is.
func ContactBoards(before, now *scoring.Contact) Boards {
	b := Boards{Score: now.Score(), In: ContactFilters(now)}
	for _, f := range ContactFilters(before) {
		if !slices.Contains(b.In, f) {
			b.Out = append(b.Out, f)
		}
	}
	return b
}
