package report

import (
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
)

// TestStockMovesOnlyWhenTheContactMoves: leaving out the stock counters of
// a contact whose stage, grade, status, nurture and model stay the same
// gives the counts of removing its old state and adding its new one.
func TestStockMovesOnlyWhenTheContactMoves(t *testing.T) {
	t.Parallel()
	contact := func(t *rapid.T, name string) *scoring.Contact {
		return &scoring.Contact{ID: "c-1", Model: rapid.SampledFrom([]string{"1", "2"}).Draw(t, name+"m"),
			Stage: model.Stage(rapid.IntRange(0, 2).Draw(t, name+"s")), Grade: rapid.SampledFrom([]string{"", "A", "B"}).Draw(t, name+"g"),
			MQL: rapid.Bool().Draw(t, name+"q"), AQL: rapid.Bool().Draw(t, name+"a"),
			Nurture: rapid.SampledFrom([]string{"", "other", "c_level"}).Draw(t, name+"n"), Behavior: rapid.Int32().Draw(t, name+"b")}
	}
	rapid.Check(t, func(t *rapid.T) {
		b, a := contact(t, "b"), contact(t, "a")
		want := Counts{}
		stock(want, b, -1)
		stock(want, a, +1)
		got := Counts{}
		if !sameStock(b, a) {
			stock(got, b, -1)
			stock(got, a, +1)
		}
		require.Equal(t, want, got)
	})
}
