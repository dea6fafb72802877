package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/leadscore/leads/pkg/scoring"
)

// genCause draws causes of every shape a line packs, and some that look
// like one and are not.
func genCause(t *rapid.T, contact string) string {
	return rapid.OneOf(
		rapid.Custom(func(t *rapid.T) string { return fmt.Sprint("evt-", rapid.Uint64().Draw(t, "n")) }),
		rapid.Custom(func(t *rapid.T) string { return fmt.Sprint("evt-0", rapid.Uint64().Draw(t, "n")) }),
		rapid.StringMatching(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`),
		rapid.StringMatching(`[0-9A-F]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`),
		rapid.StringMatching(`([0-9a-f]{2}){0,20}`),
		rapid.Custom(func(t *rapid.T) string {
			return fmt.Sprintf("decay:%s:%d:%d", contact, rapid.Int64().Draw(t, "from"), rapid.Uint64().Draw(t, "k"))
		}),
		rapid.StringMatching(`decay:[a-z:]{0,6}:-?0?[0-9]{0,3}:[0-9]{0,3}`),
		rapid.StringMatching(`[a-z:_/-]{0,20}[0-9]{0,22}`),
		rapid.String(),
	).Draw(t, "cause")
}

// TestPackedLedgerReadsAsWritten: entries of any shape, written in commits
// of any size against the tail of the one before, read back the same.
func TestPackedLedgerReadsAsWritten(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	rapid.Check(t, func(t *rapid.T) {
		contact := rapid.SampledFrom([]string{"c-1", "c:2", ""}).Draw(t, "contact")
		n := rapid.IntRange(1, 40).Draw(t, "n")
		entries := make([]scoring.Entry, n)
		for i := range entries {
			e := &entries[i]
			if i > 0 && rapid.Bool().Draw(t, "same event") {
				*e = entries[i-1]
			} else {
				e.Time = rapid.Int64Range(-1<<40, 1<<40).Draw(t, "t")
				e.Cause = genCause(t, contact)
			}
			e.ContactID = contact
			e.Kind = rapid.SampledFrom([]string{scoring.KindBehavior, scoring.KindFit, scoring.KindDecay, scoring.KindOutcome, "other"}).Draw(t, "k")
			e.Rule, e.Product = rapid.SampledFrom([]string{"r", "decay", ""}).Draw(t, "r"), rapid.SampledFrom([]string{"", "p"}).Draw(t, "p")
			e.Points = rapid.Int32().Draw(t, "pts")
			e.Reason = rapid.OneOf(rapid.String(), rapid.Just(datedReason(e.Time)),
				rapid.Just("idle "+rapid.SampledFrom([]string{"30d", "60d", "1h"}).Draw(t, "idle"))).Draw(t, "why")
			e.Behavior, e.Fit = rapid.Int32Range(-1000, 1000).Draw(t, "b"), rapid.Int32Range(-1000, 1000).Draw(t, "f")
			e.Score = e.Behavior + e.Fit
			if rapid.IntRange(0, 9).Draw(t, "odd score") == 0 {
				e.Score = rapid.Int32().Draw(t, "s")
			}
			if e.Kind == scoring.KindOutcome {
				e.Grade, e.Stage, e.Model = rapid.String().Draw(t, "g"), rapid.String().Draw(t, "st"), rapid.String().Draw(t, "m")
				e.MQL, e.AQL = rapid.Bool().Draw(t, "mql"), rapid.Bool().Draw(t, "aql")
			}
		}
		var blob []byte
		var tail ledgerTail
		for from := 0; from < n; {
			to := min(n, from+rapid.IntRange(1, 8).Draw(t, "commit"))
			lines, err := s.packEntries(ctx, contact, entries[from:to])
			require.NoError(t, err)
			var more []byte
			more, tail = appendLines(nil, tail, lines)
			blob = append(blob, more...)
			require.Equal(t, len(blob), tail.size)
			// The tail kept in the state reads back as the one written.
			again, err := decodeTail(appendTail(nil, tail))
			require.NoError(t, err)
			if tail.cause.kind != causeNumbered {
				tail.cause = cause{}
			}
			require.Equal(t, tail, again)
			from = to
		}
		lines, decoded, err := decodeLines(blob)
		require.NoError(t, err)
		require.Equal(t, n, decoded.lines)
		got, err := s.unpackLines(ctx, contact, lines)
		require.NoError(t, err)
		for i := range entries {
			require.Equal(t, entries[i], got[n-1-i], "line %d", i)
		}
	})
}

// FuzzDecodeLines: whatever the bytes, a ledger errs or reads as lines that
// pack and read back the same.
func FuzzDecodeLines(f *testing.F) {
	b, _ := appendLines(nil, ledgerTail{}, []rawLine{
		{time: 1772366400, cause: cause{kind: causeNumbered, prefix: 1, num: 7}, label: 2, axis: axisBehavior, points: 5, behavior: 5},
		{time: 1772366400, cause: cause{kind: causeNumbered, prefix: 1, num: 7}, label: 3, axis: axisFit, points: 10, behavior: 5, fit: 10},
		{time: 1772370000, cause: cause{kind: causeDecay, from: 1772366400, num: 1}, label: 4, axis: axisBehavior, points: -10, behavior: 0, fit: 12},
		{time: 1772370000, cause: cause{kind: causeText, text: "x"}, label: 4},
	})
	f.Add(b)
	f.Add([]byte{packedFormat})
	f.Fuzz(func(t *testing.T, b []byte) {
		lines, tail, err := decodeLines(b)
		if err != nil {
			return
		}
		again, t2 := appendLines(nil, ledgerTail{}, lines)
		if len(lines) == 0 {
			return
		}
		lines2, _, err := decodeLines(again)
		require.NoError(t, err)
		require.Equal(t, lines, lines2)
		require.Equal(t, tail.lines, t2.lines)
	})
}
