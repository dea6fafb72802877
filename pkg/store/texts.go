package store

import (
	"context"
	"fmt"
	"math"
	"math/bits"

	"github.com/leadscore/leads/pkg/scoring"
)

// The dictionary of state texts numbers, once for the whole namespace, the
// texts that many contact states share: job titles, title rules, the caps'
// rule ids and the products' names, which contact format 4 then writes as
// numbers. It is kept as the ledger's label dictionary is (labels.go, the
// same script), in a hash of its own, ns:state:texts, so that its numbers
// stay small (one byte for the first 63). Numbers are never reused or
// changed. Writers number a commit's texts before the commit (a number a
// failed commit leaves unused is harmless); a reader that meets a number
// its process does not know reads it (one round trip) and decodes again.
func (s *Store) textsKey() string { return s.ns + ":state:texts" }

// Classes of state text: a text is numbered with its class as first byte.
const (
	textTitle   = 'T'
	textRule    = 'R' // a title rule or a cap's rule id: the model's
	textProduct = 'N'
)

// What the dictionary takes: texts up to maxTextBytes, and up to
// DefaultTextBound texts per class; longer texts, and texts of a class
// that is full, are written inline. Titles and products come from events,
// so without a bound a stream of distinct ones would grow the dictionary
// (and every process's copy) without end; with it the dictionary stays
// under about 3 × 4096 × 2 × 64 bytes of text (~1.6 MB). Numbering a text
// saves its length on every contact that has it; the titles, rules and
// products that many contacts share are seen first and numbered, the
// long tail of rare titles (one contact each, where a number would save
// less than the dictionary spends) is what the bound leaves inline.
const (
	maxTextBytes     = 64
	DefaultTextBound = 4096
)

// eachText calls fn with each text of c's state that the dictionary may
// number.
func eachText(c *scoring.Contact, fn func(class byte, text string)) {
	add := func(class byte, t string) {
		if t != "" && len(t) <= maxTextBytes {
			fn(class, t)
		}
	}
	add(textTitle, c.Title)
	add(textRule, c.TitleRule)
	for _, cc := range c.Caps {
		id, _ := splitCapKey(cc.Rule)
		add(textRule, id)
	}
	for _, p := range c.Products {
		add(textProduct, p.Name)
	}
}

// internTexts numbers the texts of the commits' contacts that the process
// has not numbered yet (one script call when there are any).
func (s *Store) internTexts(ctx context.Context, commits []Commit) error {
	missing := map[string]uint32{}
	key := make([]byte, 0, 1+maxTextBytes)
	s.texts.mu.RLock()
	for i := range commits {
		for _, c := range commits[i].Home.Contacts {
			eachText(c, func(class byte, t string) {
				key = append(append(key[:0], class), t...)
				if _, ok := s.texts.ids[string(key)]; !ok && !s.texts.full[class] {
					missing[string(key)] = 0
				}
			})
		}
	}
	s.texts.mu.RUnlock()
	if len(missing) == 0 {
		return nil
	}
	bound := s.TextBound
	if bound <= 0 {
		bound = DefaultTextBound
	}
	if err := s.texts.intern(ctx, s.rdb, s.textsKey(), bound, missing); err != nil {
		return fmt.Errorf("number state texts: %w", err)
	}
	return nil
}

// text writes a text of class as 1 + its number << 1 when e.texts numbers
// it (and the number is not longer), else inline as its length << 1 and its
// bytes. (The caller holds e.texts' read lock.)
func (e *enc) text(class byte, t string) {
	if e.texts != nil && t != "" && len(t) <= maxTextBytes {
		if e.key == nil {
			e.key = make([]byte, 0, 1+maxTextBytes)
		}
		e.key = append(append(e.key[:0], class), t...)
		if id, ok := e.texts.ids[string(e.key)]; ok && uvarLen(uint64(id)<<1|1) <= 1+len(t) {
			e.uvar(uint64(id)<<1 | 1)
			return
		}
	}
	e.uvar(uint64(len(t)) << 1)
	e.b = append(e.b, t...)
}

func uvarLen(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

// textReader reads numbered texts while states decode; with missing set, it
// collects the numbers its process does not know instead of failing.
type textReader struct {
	l       *labels
	missing map[uint32]string
	collect bool
}

// text reads a text of class as enc.text writes it.
func (d *dec) text(class byte) string {
	x := d.uvar()
	if x&1 == 0 {
		return d.strN(x >> 1)
	}
	id := x >> 1
	if id == 0 || id > math.MaxUint32 || d.texts == nil {
		d.fail()
		return ""
	}
	t, ok := d.texts.l.text[uint32(id)]
	switch {
	case ok && len(t) > 1 && t[0] == class:
		return t[1:]
	case !ok && d.texts.collect:
		if d.texts.missing == nil {
			d.texts.missing = map[uint32]string{}
		}
		d.texts.missing[uint32(id)] = ""
		return ""
	}
	d.fail()
	return ""
}

// textIn reads a text of class as format writes it.
func (d *dec) textIn(format, class byte) string {
	if format < 4 {
		return d.str()
	}
	return d.text(class)
}

// withTexts runs decode with the dictionary of state texts; when decode met
// numbers the process does not know, it reads them (one round trip) and
// runs decode again, which then fails on a number the dictionary does not
// have.
func (s *Store) withTexts(ctx context.Context, decode func(*textReader) error) error {
	r := &textReader{l: &s.texts, collect: true}
	err := decode(r)
	if len(r.missing) == 0 {
		return err
	}
	if err := s.texts.lookup(ctx, s.rdb, s.textsKey(), r.missing, false); err != nil {
		return fmt.Errorf("read state texts: %w", err)
	}
	return decode(&textReader{l: &s.texts})
}
