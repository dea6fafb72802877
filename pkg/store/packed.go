package store

import (
	"fmt"
	"time"

	"github.com/leadscore/leads/pkg/scoring"
)

// A contact's ledger is one Redis string: packedFormat, then its lines,
// oldest first, each a few bytes. A line holds only what cannot be derived:
//
//   - a header byte: how the cause, the time, the points and the state
//     after are written (below);
//   - the time, as a signed distance to the line before (none when equal);
//   - the cause: the line before's, an event id packed by its shape (a
//     UUID in 16 bytes, "prefix" + number as the prefix's label and the
//     number, or its distance to the line before's number under the same
//     prefix, lower-case hex as bytes), the contact's own decay step
//     ("decay:<contact>:<from>:<k>") as two numbers, or else the text;
//   - a label: the number of the line's kind, rule, product, reason and
//     outcome status in the namespace's label dictionary (see labels.go),
//     shared by every line, contact and model version that reads the same;
//     reasons that hold the line's own time or decay step ("idle 60d",
//     "decay recounted for an event dated …") are rebuilt from them;
//   - the points, on behavior or fit, which keep a running sum of both;
//   - the behavior and fit after the line only where they differ from that
//     sum (after a cap, a remodel, a decay floor): lines of one event share
//     the state after the event, so all but the last say "as the next".
//
// Appending needs where the ledger ends (its tail: time, state, cause and
// size), which is kept after the contact's state in the home's hash, so
// the scorer learns it with the state it loads anyway. The first line of a
// ledger, or of one rewritten, is written against a zero tail.
const packedFormat byte = 'P'

// Line header bits.
const (
	causeSame     = 0 // the line before's cause
	causeText     = 1 // length and text
	causeUUID     = 2 // 16 bytes of a lower-case canonical UUID
	causeNumbered = 3 // prefix label, number
	causeNext     = 4 // numbered, the line before's prefix, distance to its number
	causeDecay    = 5 // "decay:<contact>:<from>:<k>": time - from, k
	causeHex      = 6 // lower-case hex of even length, as bytes
	causeMask     = 7

	hdrTime = 1 << 3 // a time distance follows

	pointsShift    = 4 // 2 bits: points on nothing, behavior, fit, or none at all
	axisNone       = 0 // no points
	axisBehavior   = 1
	axisFit        = 2
	axisElsewhere  = 3 // points that move neither behavior nor fit
	stateShift     = 6 // 2 bits
	stateSum       = 0 // the running sum
	stateNext      = 1 // the next line's
	stateExplicit  = 2 // the sum plus two distances that follow
	maxPrefixBytes = 16
)

// cause is a line's cause as stored.
type cause struct {
	kind   byte
	text   string // text, or the bytes of a UUID or hex id
	prefix uint32 // numbered: label of the prefix
	num    uint64 // numbered: the number; decay: the step
	from   int64  // decay: the step's anchor time
}

// rawLine is a line as stored: labels are numbers of the dictionary.
type rawLine struct {
	time          int64
	cause         cause
	label         uint32
	axis          byte
	points        int32
	behavior, fit int32
	pending       bool // while decoding: the state is the next line's
}

// ledgerTail is where a stored ledger ends: what the next line is written
// against, and what retention needs.
type ledgerTail struct {
	lines, size   int
	first, last   int64 // times of the oldest and the newest line
	behavior, fit int32
	cause         cause // the newest line's, when numbered
}

// lineWriter appends lines against a tail.
type lineWriter struct {
	b    []byte
	tail ledgerTail
	run  [2]int32
}

func newLineWriter(b []byte, t ledgerTail) *lineWriter {
	w := &lineWriter{b: b, tail: t, run: [2]int32{t.behavior, t.fit}}
	if t.lines == 0 {
		w.b = append(w.b, packedFormat)
		w.tail.size = 1
	}
	return w
}

// add appends l; next is the line after it in the same write, or nil.
func (w *lineWriter) add(l, next *rawLine) {
	e := enc{b: w.b}
	at := len(e.b)
	e.byte(0)
	hdr := byte(0)
	prev := &w.tail
	if w.tail.lines == 0 || l.time != prev.last {
		hdr |= hdrTime
		e.svar(l.time - prev.last)
	}
	c := l.cause
	switch {
	case w.tail.lines > 0 && c == prev.cause:
		hdr |= causeSame
	case c.kind == causeNumbered && w.tail.lines > 0 && prev.cause.kind == causeNumbered && prev.cause.prefix == c.prefix:
		hdr |= causeNext
		e.svar(int64(c.num - prev.cause.num))
	case c.kind == causeNumbered:
		hdr |= causeNumbered
		e.uvar(uint64(c.prefix))
		e.uvar(c.num)
	case c.kind == causeDecay:
		hdr |= causeDecay
		e.svar(l.time - c.from)
		e.uvar(c.num)
	case c.kind == causeUUID:
		hdr |= causeUUID
		e.b = append(e.b, c.text...)
	default: // text, hex
		hdr |= c.kind
		e.str(c.text)
	}
	e.uvar(uint64(l.label))
	hdr |= l.axis << pointsShift
	if l.axis != axisNone {
		e.svar(int64(l.points))
	}
	switch l.axis {
	case axisBehavior:
		w.run[0] += l.points
	case axisFit:
		w.run[1] += l.points
	}
	switch {
	case next != nil && next.behavior == l.behavior && next.fit == l.fit:
		hdr |= stateNext << stateShift
	case w.run == [2]int32{l.behavior, l.fit}:
	default:
		hdr |= stateExplicit << stateShift
		e.svar(int64(l.behavior - w.run[0]))
		e.svar(int64(l.fit - w.run[1]))
		w.run = [2]int32{l.behavior, l.fit}
	}
	e.b[at] = hdr
	w.b = e.b
	if w.tail.lines == 0 {
		w.tail.first = l.time
	}
	w.tail.lines++
	w.tail.last = l.time
	w.tail.cause = c
	w.tail.behavior, w.tail.fit = l.behavior, l.fit
	w.tail.size += len(e.b) - at
}

// appendLines appends lines to b (a ledger's end, or nothing) against t.
func appendLines(b []byte, t ledgerTail, lines []rawLine) ([]byte, ledgerTail) {
	w := newLineWriter(b, t)
	for i := range lines {
		var next *rawLine
		if i+1 < len(lines) {
			next = &lines[i+1]
		}
		w.add(&lines[i], next)
	}
	return w.b, w.tail
}

// decodeLines reads a packed ledger, oldest line first, and returns its
// tail.
func decodeLines(b []byte) ([]rawLine, ledgerTail, error) {
	var t ledgerTail
	if len(b) == 0 {
		return nil, t, nil
	}
	if b[0] != packedFormat {
		return nil, t, fmt.Errorf("ledger: %w", errCorrupt)
	}
	d := dec{b: b[1:]}
	var out []rawLine
	var run [2]int32
	for len(d.b) > 0 && d.err == nil {
		hdr := d.byte()
		l := rawLine{time: t.last}
		if hdr&hdrTime != 0 {
			l.time = t.last + d.svar()
		} else if len(out) == 0 {
			d.fail()
		}
		switch k := hdr & causeMask; k {
		case causeSame:
			if len(out) == 0 {
				d.fail()
			}
			l.cause = t.cause
		case causeNext:
			if len(out) == 0 || t.cause.kind != causeNumbered {
				d.fail()
			}
			l.cause = t.cause
			l.cause.num += uint64(d.svar())
		case causeNumbered:
			l.cause = cause{kind: k, prefix: uint32(d.uvar()), num: d.uvar()}
		case causeDecay:
			l.cause = cause{kind: k, from: l.time - d.svar(), num: d.uvar()}
		case causeUUID:
			if len(d.b) < 16 {
				d.fail()
				break
			}
			l.cause = cause{kind: k, text: string(d.b[:16])}
			d.b = d.b[16:]
		case causeText, causeHex:
			l.cause = cause{kind: k, text: d.str()}
		default:
			d.fail()
		}
		l.label = uint32(d.uvar())
		l.axis = hdr >> pointsShift & 3
		if l.axis != axisNone {
			l.points = d.i32()
		}
		switch l.axis {
		case axisBehavior:
			run[0] += l.points
		case axisFit:
			run[1] += l.points
		}
		switch hdr >> stateShift {
		case stateSum:
			l.behavior, l.fit = run[0], run[1]
		case stateNext:
			l.pending = true // resolved below, from the line after
		case stateExplicit:
			run[0] += d.i32()
			run[1] += d.i32()
			l.behavior, l.fit = run[0], run[1]
		default:
			d.fail()
		}
		if len(out) == 0 {
			t.first = l.time
		}
		out = append(out, l)
		t.last, t.cause = l.time, l.cause
	}
	if d.err == nil && len(out) > 0 && out[len(out)-1].pending {
		d.fail()
	}
	if d.err != nil {
		return nil, ledgerTail{}, fmt.Errorf("ledger: %w", d.err)
	}
	// Lines that share the next line's state, from the newest back.
	for i := len(out) - 2; i >= 0; i-- {
		if out[i].pending {
			out[i].behavior, out[i].fit, out[i].pending = out[i+1].behavior, out[i+1].fit, false
		}
	}
	t.lines, t.size = len(out), len(b)
	if n := len(out); n > 0 {
		t.behavior, t.fit = out[n-1].behavior, out[n-1].fit
	}
	return out, t, nil
}

// A tail is kept after the contact's state in its hash field, behind
// tailMarker; a state without one (written before ledgers were packed) has
// a ledger of unknown shape, read before it is next written. Behind
// tailMarkerNear (after a state of contact format 3) the newest line's
// time, behavior and fit are kept as their distance to the contact's
// DecayedTo, Behavior and Fit, which they mostly equal: 6-8 bytes less,
// enough to bring a typical contact's field under one of Redis's
// allocation sizes.
const (
	tailMarker     byte = 'T'
	tailMarkerNear byte = 'U'
)

func appendTail(b []byte, t ledgerTail) []byte {
	return appendTailNear(b, t, nil)
}

// appendTailNear appends t near c (tailMarkerNear), or on its own when c is
// nil (tailMarker).
func appendTailNear(b []byte, t ledgerTail, c *scoring.Contact) []byte {
	e := enc{b: b}
	var last, behavior, fit int64
	if c == nil {
		e.byte(tailMarker)
	} else {
		e.byte(tailMarkerNear)
		last, behavior, fit = c.DecayedTo, int64(c.Behavior), int64(c.Fit)
	}
	e.uvar(uint64(t.lines))
	e.uvar(uint64(t.size))
	e.svar(t.last - last)
	e.svar(t.last - t.first)
	e.svar(int64(t.behavior) - behavior)
	e.svar(int64(t.fit) - fit)
	if t.cause.kind == causeNumbered {
		e.uvar(uint64(t.cause.prefix))
		e.uvar(t.cause.num)
	} else {
		e.uvar(0)
	}
	return e.b
}

func decodeTail(b []byte) (ledgerTail, error) { return decodeTailNear(b, nil) }

// decodeTailNear reads a tail written after c's state (c is needed for
// tailMarkerNear).
func decodeTailNear(b []byte, c *scoring.Contact) (ledgerTail, error) {
	d := dec{b: b}
	var t ledgerTail
	var last, behavior, fit int64
	switch d.byte() {
	case tailMarker:
	case tailMarkerNear:
		if c == nil {
			d.fail()
			break
		}
		last, behavior, fit = c.DecayedTo, int64(c.Behavior), int64(c.Fit)
	default:
		d.fail()
	}
	t.lines, t.size = int(d.uvar()), int(d.uvar())
	t.last = last + d.svar()
	t.first = t.last - d.svar()
	t.behavior, t.fit = int32(behavior+d.svar()), int32(fit+d.svar())
	if p := d.uvar(); p != 0 {
		t.cause = cause{kind: causeNumbered, prefix: uint32(p), num: d.uvar()}
	}
	if d.err != nil || len(d.b) > 0 {
		return ledgerTail{}, fmt.Errorf("ledger tail: %w", errCorrupt)
	}
	return t, nil
}

// retain keeps what retention keeps of a ledger, oldest first: at most the
// newest max lines, and of those, from the oldest on, none dated more than
// maxAge before the newest line (event time, so that a replay keeps what
// the live run kept). Lines are in the order they were scored, so a late
// event's line stays among its neighbours.
func retain(lines []rawLine, max int, maxAge time.Duration) []rawLine {
	if max > 0 && len(lines) > max {
		lines = lines[len(lines)-max:]
	}
	if maxAge > 0 && len(lines) > 0 {
		cut := lines[len(lines)-1].time - int64(maxAge/time.Second)
		i := 0
		for i < len(lines) && lines[i].time < cut {
			i++
		}
		lines = lines[i:]
	}
	return lines
}

// overdue reports whether a ledger with tail t, given n more lines up to
// time last, has outgrown retention by enough to be rewritten: by an eighth
// of its bounds, so rewrites are rare and a ledger holds at most that much
// beyond them.
func overdue(t ledgerTail, n int, last int64, max int, maxAge time.Duration) bool {
	if max > 0 && t.lines+n > max+max/8 {
		return true
	}
	return maxAge > 0 && t.lines > 0 && last-t.first > int64((maxAge+maxAge/8)/time.Second)
}
