package store

import (
	"bytes"
	"encoding/hex"
	"reflect"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
)

func genContact(t *rapid.T, id, account string) *scoring.Contact {
	c := &scoring.Contact{ID: id, AccountID: account,
		Title: rapid.String().Draw(t, "title"), Fields: rapid.Uint8().Draw(t, "fields"),
		Competitor: rapid.Bool().Draw(t, "cx"), TargetTitle: rapid.Bool().Draw(t, "tt"), TitleRule: rapid.String().Draw(t, "tr"),
		TitleFit: rapid.Int32().Draw(t, "tf"), Fit: rapid.Int32().Draw(t, "f"), Anchor: rapid.Int32().Draw(t, "an"),
		Behavior: rapid.Int32().Draw(t, "b"), DecayFrom: unixTime().Draw(t, "df"), DecayedTo: unixTime().Draw(t, "dt"),
		LastEngaged: unixTime().Draw(t, "le"), Grade: rapid.SampledFrom([]string{"", "A", "F"}).Draw(t, "g"),
		Stage: model.Stage(rapid.IntRange(0, 2).Draw(t, "s")), MQL: rapid.Bool().Draw(t, "q"), AQL: rapid.Bool().Draw(t, "aq"),
		Dormant: rapid.Bool().Draw(t, "d"), Events: rapid.Int32().Draw(t, "n"), Model: rapid.String().Draw(t, "m"),
		MovedFrom: rapid.String().Draw(t, "mf"),
		MQLAt:     unixTime().Draw(t, "qa"), AQLAt: unixTime().Draw(t, "aa"), OppAt: unixTime().Draw(t, "oa"),
		Won: rapid.Bool().Draw(t, "w"), Lost: rapid.Bool().Draw(t, "l"), Good: rapid.Int32().Draw(t, "fg"), Bad: rapid.Int32().Draw(t, "fb"),
		Rules: rapid.SliceOfN(rapid.Byte(), 0, 8).Draw(t, "rb"), Nurture: rapid.SampledFrom([]string{"", "other", "c_level", "reactivation", "key_vertical", "custom"}).Draw(t, "nu"),
	}
	if len(c.Rules) == 0 {
		c.Rules = nil
	}
	c.MergedInto = rapid.SampledFrom([]string{"", "u-1", "anon:x"}).Draw(t, "mi")
	c.Merged = rapid.SliceOfN(rapid.String(), 0, 3).Draw(t, "mg")
	if len(c.Merged) == 0 {
		c.Merged = nil
	}
	if c.OppRules = rapid.SliceOfN(rapid.Byte(), 0, 8).Draw(t, "ob"); len(c.OppRules) == 0 {
		c.OppRules = nil
	}
	for i := range rapid.IntRange(0, 3).Draw(t, "np") {
		c.Products = append(c.Products, scoring.Product{Name: rapid.String().Draw(t, "pn"), Anchor: int32(i), Score: rapid.Int32().Draw(t, "ps")})
	}
	for range rapid.IntRange(0, 3).Draw(t, "nc") {
		c.Caps = append(c.Caps, scoring.CapCount{Rule: rapid.SampledFrom([]string{"a", "a@86400", "a@0", "a@007", "b@x"}).Draw(t, "crk") + rapid.String().Draw(t, "cr"), Period: rapid.Int64().Draw(t, "cp"), Count: rapid.Int32().Draw(t, "cn")})
	}
	return c
}

func TestContactCodecRoundTrip(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		c := genContact(t, "c-1", "acme.io")
		got, err := DecodeContact(EncodeContact(c), "c-1", "acme.io")
		require.NoError(t, err)
		require.Equal(t, c, got)
	})
}

func TestAccountCodecRoundTrip(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		a := &scoring.Account{ID: "acme.io", Name: rapid.String().Draw(t, "name"), Employees: rapid.Float64().Draw(t, "em"),
			Revenue: rapid.Float64().Draw(t, "rv"), Industry: rapid.String().Draw(t, "in"), Country: rapid.String().Draw(t, "co"),
			Tier: rapid.String().Draw(t, "ti"), Competitor: rapid.Bool().Draw(t, "cx"), Fit: rapid.Int32().Draw(t, "f"),
			Engagement: rapid.Int32().Draw(t, "e"), Total: rapid.Int32().Draw(t, "s"), MQA: rapid.Bool().Draw(t, "q"),
			Events: rapid.Int32().Draw(t, "n"), Model: rapid.String().Draw(t, "m"),
			Technologies: rapid.SliceOfN(rapid.String(), 1, 4).Draw(t, "te"),
			Members:      rapid.MapOfN(rapid.String(), rapid.Int32(), 1, 20).Draw(t, "mb"),
			FirstOppAt:   unixTime().Draw(t, "oa"), MQAAtFirstOpp: rapid.Bool().Draw(t, "oq"),
			Opportunities: rapid.Int32().Draw(t, "on"), Won: rapid.Int32().Draw(t, "w"), Lost: rapid.Int32().Draw(t, "l"),
		}
		got, err := DecodeAccount(EncodeAccount(a), "acme.io")
		require.NoError(t, err)
		require.Equal(t, a, got)
	})
}

// FuzzDecodeState: whatever the bytes, decoding a contact, an account or a
// ledger entry errs or gives a value that encodes and decodes back.
func FuzzDecodeState(f *testing.F) {
	f.Add(EncodeContact(&scoring.Contact{ID: "c", Title: "VP", Products: []scoring.Product{{Name: "x"}}}))
	f.Add(EncodeAccount(&scoring.Account{ID: "a", Members: map[string]int32{"c": 5}, Technologies: []string{"aws"}}))
	f.Add([]byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add(appendEntry(nil, &scoring.Entry{Cause: "e", Kind: scoring.KindOutcome, Reason: "r", Grade: "A", MQL: true}))
	// Format 4 with numbered texts (fuzzDict's), some inline.
	fuzzDict := dictOf("TVP Sales", "Rvp", "Rblog", "Nanalytics")
	f.Add(encodeContact(&scoring.Contact{ID: "c", Title: "VP Sales", TitleRule: "vp", Caps: []scoring.CapCount{{Rule: "blog@86400", Count: 1},
		{Rule: "pricing", Count: 2}}, Products: []scoring.Product{{Name: "analytics"}, {Name: "platform"}}}, fuzzDict))
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, _, err := decodeContactWith(b, "c", "a", &textReader{l: fuzzDict}); err == nil {
			// (Empty and absent lists decode apart, and encode alike.)
			enc := encodeContact(c, fuzzDict)
			again, _, err := decodeContactWith(enc, "c", "a", &textReader{l: fuzzDict})
			if err != nil || !bytes.Equal(enc, encodeContact(again, fuzzDict)) {
				t.Fatalf("re-encoded contact differs: %v %+v %+v", err, c, again)
			}
		}
		var e scoring.Entry
		if err := decodeEntry(b, &e); err == nil && len(b) > 0 && b[0] == ledgerFormat {
			var again scoring.Entry
			if err := decodeEntry(appendEntry(nil, &e), &again); err != nil || !reflect.DeepEqual(e, again) {
				t.Fatalf("re-encoded ledger entry differs: %v %+v %+v", err, e, again)
			}
		}
		if c, err := DecodeContact(b, "c", "a"); err == nil {
			if _, err := DecodeContact(EncodeContact(c), "c", "a"); err != nil {
				t.Fatalf("re-encoded contact does not decode: %v", err)
			}
		}
		if a, err := DecodeAccount(b, "a"); err == nil {
			if _, err := DecodeAccount(EncodeAccount(a), "a"); err != nil {
				t.Fatalf("re-encoded account does not decode: %v", err)
			}
		}
	})
}

func TestLedgerEntryRoundTrip(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		e := scoring.Entry{Time: rapid.Int64().Draw(t, "t"), Cause: rapid.String().Draw(t, "c"),
			Kind: rapid.SampledFrom([]string{scoring.KindBehavior, scoring.KindFit, scoring.KindDecay, scoring.KindOutcome, "other"}).Draw(t, "k"),
			Rule: rapid.String().Draw(t, "r"), Points: rapid.Int32().Draw(t, "p"), Product: rapid.String().Draw(t, "pr"),
			Reason: rapid.StringMatching(`(?s).*`).Draw(t, "why"), Score: rapid.Int32().Draw(t, "s"), Behavior: rapid.Int32().Draw(t, "b"),
			Fit: rapid.Int32().Draw(t, "f")}
		if e.Kind == scoring.KindOutcome {
			e.Grade, e.Stage, e.Model = rapid.String().Draw(t, "g"), rapid.String().Draw(t, "st"), rapid.String().Draw(t, "m")
			e.MQL, e.AQL = rapid.Bool().Draw(t, "mql"), rapid.Bool().Draw(t, "aql")
		}
		var got scoring.Entry
		require.NoError(t, decodeEntry(appendEntry(nil, &e), &got))
		require.Equal(t, e, got)
	})
}

// TestLedgerEntryJSONStillReads: entries written as JSON before the binary
// form decode the same.
func TestLedgerEntryJSONStillReads(t *testing.T) {
	t.Parallel()
	var got scoring.Entry
	require.NoError(t, decodeEntry([]byte(`{"time":1767225600,"cause":"evt-1","kind":"behavior","rule":"pricing-page",`+
		`"points":15,"reason":"viewed pricing","score":55,"behavior":25,"fit":30}`), &got))
	want := scoring.Entry{Time: 1767225600, Cause: "evt-1", Kind: scoring.KindBehavior, Rule: "pricing-page", Points: 15,
		Reason: "viewed pricing", Score: 55, Behavior: 25, Fit: 30}
	require.Equal(t, want, got)
	require.Less(t, len(appendEntry(nil, &want)), 60, "the binary form is compact")
}

func TestCorruptLedgerEntryIsAnError(t *testing.T) {
	t.Parallel()
	b := appendEntry(nil, &scoring.Entry{Cause: "evt-1", Kind: scoring.KindDecay, Reason: "idle 31d"})
	var got scoring.Entry
	for _, bad := range [][]byte{nil, {9}, b[:len(b)-1], append(slices.Clone(b), 0)} {
		assert.ErrorIs(t, decodeEntry(bad, &got), errCorrupt, "%q", bad)
	}
}

// TestContactFormat1StillReads: states written before the outcome fields
// existed decode with those fields empty.
func TestContactFormat1StillReads(t *testing.T) {
	t.Parallel()
	c := &scoring.Contact{ID: "c-1", Title: "CTO", Behavior: 40, Model: "1"}
	// Format 2's encoding of c with format byte 1 and without the outcome
	// fields, as format 1 wrote it.
	b, err := hex.DecodeString("01000000000343544f000000005000000000013100000000")
	require.NoError(t, err)
	got, err := DecodeContact(b, "c-1", "")
	require.NoError(t, err)
	require.Equal(t, c, got)
}

// TestStatesWithSeenIDsStillRead: states written while contacts and
// accounts kept the ids of their last events (before dedupe moved to the
// scorer) decode, without them. The hex is what that version wrote.
func TestStatesWithSeenIDsStillRead(t *testing.T) {
	t.Parallel()
	raw, err := hex.DecodeString("02000000000856502053616c6573000000505080ee89ab0d000012013200000003f79936bb3ebb9975cefc8520e18fc95cb8fec90100000000000004")
	require.NoError(t, err)
	c, err := DecodeContact(raw, "c-1", "acme.io")
	require.NoError(t, err)
	require.Equal(t, &scoring.Contact{ID: "c-1", AccountID: "acme.io", Title: "VP Sales", Behavior: 40, Anchor: 40, DecayFrom: 1790000000,
		Events: 9, Model: "2", MQLAt: 1790000100, Nurture: "other"}, c)
	raw, err = hex.DecodeString("02000441636d6500000000000000000000000000000000000000005050000401320103632d31500290ea06b13c5000004b137d0a98ac000000000000")
	require.NoError(t, err)
	a, err := DecodeAccount(raw, "acme.io")
	require.NoError(t, err)
	require.Equal(t, &scoring.Account{ID: "acme.io", Name: "Acme", Fit: 40, Engagement: 40, Members: map[string]int32{"c-1": 40},
		Events: 2, Model: "2"}, a)
}

// unixTime draws times in seconds, zero (never) included, within ±35,000
// years of 1970.
func unixTime() *rapid.Generator[int64] { return rapid.Int64Range(-1<<40, 1<<40) }

// TestContactFormat2WithTailStillReads: a contact as format 2 wrote it, with
// caps, a product and outcomes, followed by the tail of a packed ledger
// (the form of 2026-12-06, before states were made smaller). The hex is what
// that version wrote.
func TestContactFormat2WithTailStillReads(t *testing.T) {
	t.Parallel()
	raw, err := hex.DecodeString("02163f0201410f50726f64756374204d616e61676572076d616e616765720a785a5aa0b6b1c20d01012e0133000109616e616c797469637314180204626c6f6780a3058ec802020e70726963696e672d726570656174809a9e01f80a0400f0ab962ba0a9b4290000000233e200035417b503a0b6b1c20da085ab2b5a7803a49a04")
	require.NoError(t, err)
	c, rest, err := decodeContact(raw, "c-68900", "acme-326.io")
	require.NoError(t, err)
	require.Equal(t, &scoring.Contact{ID: "c-68900", AccountID: "acme-326.io", Title: "Product Manager", Fields: 63, TargetTitle: true,
		TitleRule: "manager", TitleFit: 5, Fit: 60, Anchor: 45, Behavior: 45, DecayFrom: 1814441360, DecayedTo: 1814441360,
		LastEngaged: 1814441360, Caps: []scoring.CapCount{{Rule: "blog@86400", Period: 20999, Count: 1},
			{Rule: "pricing-repeat@2592000", Period: 700, Count: 2}}, Grade: "A", Stage: model.Stage(2), MQL: true, AQL: true,
		Events: 23, Model: "3", MQLAt: 1769169560, AQLAt: 1771021120, Rules: []byte{51, 226}, Nurture: "key_vertical",
		Products: []scoring.Product{{Name: "analytics", Anchor: 10, Score: 12}}}, c)
	tail, err := decodeTail(rest)
	require.NoError(t, err)
	require.Equal(t, ledgerTail{lines: 23, size: 437, first: 1769000000, last: 1814441360, behavior: 45, fit: 60,
		cause: cause{kind: causeNumbered, prefix: 3, num: 68900}}, tail)
}

// TestContactWithTailNearRoundTrip: a state and the tail written near it
// read back as written.
func TestContactWithTailNearRoundTrip(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		c := genContact(t, "c-1", "acme.io")
		tail := ledgerTail{lines: rapid.IntRange(0, 1<<20).Draw(t, "lines"), size: rapid.IntRange(0, 1<<30).Draw(t, "size"),
			last: unixTime().Draw(t, "last"), behavior: rapid.Int32().Draw(t, "tb"), fit: rapid.Int32().Draw(t, "tf")}
		tail.first = tail.last - rapid.Int64Range(0, 1<<34).Draw(t, "age")
		if rapid.Bool().Draw(t, "numbered") {
			tail.cause = cause{kind: causeNumbered, prefix: rapid.Uint32Range(1, 1<<31).Draw(t, "prefix"), num: rapid.Uint64().Draw(t, "num")}
		}
		got, rest, err := decodeContact(appendTailNear(EncodeContact(c), tail, c), "c-1", "acme.io")
		require.NoError(t, err)
		require.Equal(t, c, got)
		again, err := decodeTailNear(rest, got)
		require.NoError(t, err)
		require.Equal(t, tail, again)
	})
}

// TestFormat3IsSmaller: the typical contact of the format 2 fixture takes
// fewer bytes, so that more states fit one of Redis's allocation sizes
// smaller.
func TestFormat3IsSmaller(t *testing.T) {
	t.Parallel()
	raw, err := hex.DecodeString("02163f0201410f50726f64756374204d616e61676572076d616e616765720a785a5aa0b6b1c20d01012e0133000109616e616c797469637314180204626c6f6780a3058ec802020e70726963696e672d726570656174809a9e01f80a0400f0ab962ba0a9b4290000000233e200035417b503a0b6b1c20da085ab2b5a7803a49a04")
	require.NoError(t, err)
	c, rest, err := decodeContact(raw, "c-68900", "acme-326.io")
	require.NoError(t, err)
	tail, err := decodeTail(rest)
	require.NoError(t, err)
	now := appendTailNear(EncodeContact(c), tail, c)
	assert.LessOrEqual(t, len(now), len(raw)-12, "%d bytes, %d in format 2", len(now), len(raw))
}

// TestContactFormat3StillReads: the contact of the format 2 fixture as
// format 3 wrote it with its tail (2026-12-07, before texts were numbered)
// reads the same.
func TestContactFormat3StillReads(t *testing.T) {
	t.Parallel()
	f2, err := hex.DecodeString("02163f0201410f50726f64756374204d616e61676572076d616e616765720a785a5aa0b6b1c20d01012e0133000109616e616c797469637314180204626c6f6780a3058ec802020e70726963696e672d726570656174809a9e01f80a0400f0ab962ba0a9b4290000000233e200035417b503a0b6b1c20da085ab2b5a7803a49a04")
	require.NoError(t, err)
	want, rest, err := decodeContact(f2, "c-68900", "acme-326.io")
	require.NoError(t, err)
	wantTail, err := decodeTail(rest)
	require.NoError(t, err)
	f3, err := hex.DecodeString("03163f0201410f50726f64756374204d616e61676572076d616e616765720a785a5aa0b6b1c20d01012e01333f0204626c6f670301020e70726963696e672d7265706561743d00040233e203f0ab962ba0a9b4290109616e616c797469637314185517b50300a085ab2b000003a49a04")
	require.NoError(t, err)
	got, rest, err := decodeContact(f3, "c-68900", "acme-326.io")
	require.NoError(t, err)
	require.Equal(t, want, got)
	tail, err := decodeTailNear(rest, got)
	require.NoError(t, err)
	require.Equal(t, wantTail, tail)
	got, err = DecodeContact(f3, "c-68900", "acme-326.io")
	require.NoError(t, err)
	require.Equal(t, want, got)
}
