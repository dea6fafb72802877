package store

import (
	"fmt"
	"slices"

	json "github.com/goccy/go-json"

	"github.com/leadscore/leads/pkg/scoring"
)

// Before ledgers were packed (packed.go), each line was a list element of
// its own, in this binary form: a format byte, then varints and
// length-prefixed strings, the kind as one byte; before that, JSON, which
// starts with '{'. Both are still read, so a ledger stored as a list reads
// until its contact's next line packs it.
const ledgerFormat byte = 1

// kinds are the entry kinds stored as one byte; any other is stored as 0
// followed by the string.
var kinds = []string{"", scoring.KindBehavior, scoring.KindFit, scoring.KindDecay, scoring.KindOutcome}

// appendEntry appends an entry in its binary form.
func appendEntry(b []byte, e *scoring.Entry) []byte {
	w := enc{b: b}
	w.byte(ledgerFormat)
	w.svar(e.Time)
	w.str(e.Cause)
	k := slices.Index(kinds, e.Kind)
	if k <= 0 {
		w.byte(0)
		w.str(e.Kind)
	} else {
		w.byte(byte(k))
	}
	w.str(e.Rule)
	w.svar(int64(e.Points))
	w.str(e.Product)
	w.str(e.Reason)
	w.svar(int64(e.Score))
	w.svar(int64(e.Behavior))
	w.svar(int64(e.Fit))
	if e.Kind == scoring.KindOutcome {
		w.str(e.Grade)
		w.str(e.Stage)
		w.byte(boolBits(e.MQL, e.AQL))
		w.str(e.Model)
	}
	return w.b
}

// decodeEntry reads an entry in either form.
func decodeEntry(raw []byte, e *scoring.Entry) error {
	if len(raw) > 0 && raw[0] == '{' {
		return json.Unmarshal(raw, e)
	}
	d := dec{b: raw}
	if d.byte() != ledgerFormat {
		return fmt.Errorf("ledger entry: %w", errCorrupt)
	}
	*e = scoring.Entry{Time: d.svar(), Cause: d.str()}
	if k := int(d.byte()); k == 0 {
		e.Kind = d.str()
	} else if k < len(kinds) {
		e.Kind = kinds[k]
	} else {
		d.fail()
	}
	e.Rule, e.Points, e.Product, e.Reason = d.str(), d.i32(), d.str(), d.str()
	e.Score, e.Behavior, e.Fit = d.i32(), d.i32(), d.i32()
	if e.Kind == scoring.KindOutcome {
		e.Grade, e.Stage = d.str(), d.str()
		bits := d.byte()
		e.MQL, e.AQL = bits&1 != 0, bits&2 != 0
		e.Model = d.str()
	}
	if d.err == nil && len(d.b) > 0 {
		d.fail()
	}
	if d.err != nil {
		return fmt.Errorf("ledger entry: %w", d.err)
	}
	return nil
}
