package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
)

// States are stored in a compact binary form: a format byte, then varints
// and length-prefixed strings in a fixed order. JSON of the same state is two
// to three times larger and several times slower to read and write, and the
// scorer does both for every event. The contact and account ids are not
// stored: they are the hash field and the home.
//
// Contact format 2 appends the outcome fields (first MQL and AQL times,
// first opportunity, won, lost, sales feedback, rules triggered, nurture
// category) to format 1. Format 3 writes the fields that are mostly empty
// behind a mask of those present (opt*), a cap's window in days when it is
// whole days and its period as its distance to the period of DecayedTo
// (mostly 0), and is followed by a tail near the state (tailMarkerNear):
// about 20 bytes less for a typical contact, which brings most under one of
// Redis's allocation sizes. Format 4 writes the texts that many contacts
// share (the job title, the title rule, the caps' rule ids and the
// products' names) as their numbers in the namespace's dictionary of state
// texts (texts.go) where it has them, else inline: about 47 bytes less for a
// demo contact. Formats 1 to 3 are still read.
const (
	contactFormat1 byte = 1
	contactFormat2 byte = 2
	contactFormat3 byte = 3
	contactFormat  byte = 4
	accountFormat1 byte = 1
	accountFormat  byte = 2
)

var errCorrupt = errors.New("corrupt state")

type enc struct {
	b []byte
	// texts numbers the texts format 4 writes as numbers (nil: none).
	texts *labels
	key   []byte
}

func (e *enc) byte(v byte)   { e.b = append(e.b, v) }
func (e *enc) uvar(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) svar(v int64)  { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) str(s string)  { e.uvar(uint64(len(s))); e.b = append(e.b, s...) }
func (e *enc) f64(v float64) { e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(v)) }

// rel writes a time that is 0 (never) or close to base in few bytes: 0, or
// 1 + the zigzag of its distance to base.
func (e *enc) rel(t, base int64) {
	if t == 0 {
		e.uvar(0)
		return
	}
	d := t - base
	e.uvar(uint64(d<<1^d>>63) + 1)
}

func (e *enc) u64s(v []uint64) {
	e.uvar(uint64(len(v)))
	for _, x := range v {
		e.b = binary.LittleEndian.AppendUint64(e.b, x)
	}
}

func (e *enc) u48s(v []uint64) {
	e.uvar(uint64(len(v)))
	for _, x := range v {
		e.b = append(e.b, byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40))
	}
}

type dec struct {
	b     []byte
	err   error
	texts *textReader
}

func (d *dec) fail() { d.err = errCorrupt; d.b = nil }

func (d *dec) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *dec) uvar() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) svar() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) i32() int32 { return int32(d.svar()) }

func (d *dec) str() string { return d.strN(d.uvar()) }

// strN reads n bytes as a string.
func (d *dec) strN(n uint64) string {
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *dec) f64() float64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return v
}

func (d *dec) count(each int) int {
	n := d.uvar()
	if n > uint64(len(d.b)/each) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *dec) rel(base int64) int64 {
	z := d.uvar()
	if z == 0 {
		return 0
	}
	z--
	return base + (int64(z>>1) ^ -int64(z&1))
}

func (d *dec) u48s() []uint64 {
	n := d.count(6)
	if n == 0 {
		return nil
	}
	out := make([]uint64, n)
	for i := range out {
		b := d.b[:6]
		out[i] = uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 | uint64(b[4])<<32 | uint64(b[5])<<40
		d.b = d.b[6:]
	}
	return out
}

func (d *dec) u64s() []uint64 {
	n := d.count(8)
	if n == 0 {
		return nil
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = binary.LittleEndian.Uint64(d.b)
		d.b = d.b[8:]
	}
	return out
}

const (
	flagCompetitor = 1 << iota
	flagMQL
	flagAQL
	flagDormant
	flagTargetTitle
	flagWon
	flagLost
)

func boolBits(bits ...bool) byte {
	var v byte
	for i, b := range bits {
		if b {
			v |= 1 << i
		}
	}
	return v
}

// EncodeContact returns the stored form of a contact, with every text
// inline.
func EncodeContact(c *scoring.Contact) []byte { return encodeContact(c, nil) }

// encodeContact returns the stored form of a contact, with the texts that
// texts numbers as their numbers.
func encodeContact(c *scoring.Contact, texts *labels) []byte {
	e := enc{b: make([]byte, 0, 96+len(c.Title)), texts: texts}
	if texts != nil {
		texts.mu.RLock()
		defer texts.mu.RUnlock()
	}
	e.byte(contactFormat)
	e.byte(boolBits(c.Competitor, c.MQL, c.AQL, c.Dormant, c.TargetTitle, c.Won, c.Lost))
	e.byte(c.Fields)
	e.byte(byte(c.Stage))
	e.str(c.Grade)
	e.text(textTitle, c.Title)
	e.text(textRule, c.TitleRule)
	e.svar(int64(c.TitleFit))
	e.svar(int64(c.Fit))
	e.svar(int64(c.Anchor))
	e.svar(int64(c.Behavior))
	e.svar(c.DecayFrom)
	e.rel(c.DecayedTo, c.DecayFrom)
	e.rel(c.LastEngaged, c.DecayFrom)
	e.svar(int64(c.Events))
	e.str(c.Model)
	// Then the fields that are often empty, behind a mask of those present.
	var mask uint64
	for bit, present := range []bool{len(c.Caps) > 0, len(c.Rules) > 0, c.Nurture != "", c.MQLAt != 0, c.AQLAt != 0,
		len(c.Products) > 0, c.OppAt != 0, c.Good != 0 || c.Bad != 0, len(c.OppRules) > 0, c.MovedFrom != "",
		c.MergedInto != "", len(c.Merged) > 0} {
		if present {
			mask |= 1 << bit
		}
	}
	e.uvar(mask)
	if mask&optCaps != 0 {
		e.uvar(uint64(len(c.Caps)))
		for _, cc := range c.Caps {
			id, window := splitCapKey(cc.Rule)
			if window >= 1<<62 {
				id, window = cc.Rule, 0 // kept whole: windowCode would overflow
			}
			e.text(textRule, id)
			e.uvar(windowCode(window))
			e.svar(cc.Period - capBase(c.DecayedTo, window))
			e.svar(int64(cc.Count))
		}
	}
	if mask&optRules != 0 {
		e.str(string(c.Rules))
	}
	if mask&optNurture != 0 {
		if code, ok := nurtureCodes[c.Nurture]; ok {
			e.byte(code)
		} else {
			e.byte(nurtureOther)
			e.str(c.Nurture)
		}
	}
	if mask&optMQLAt != 0 {
		e.rel(c.MQLAt, c.DecayFrom)
	}
	if mask&optAQLAt != 0 {
		e.rel(c.AQLAt, c.DecayFrom)
	}
	if mask&optProducts != 0 {
		e.uvar(uint64(len(c.Products)))
		for _, p := range c.Products {
			e.text(textProduct, p.Name)
			e.svar(int64(p.Anchor))
			e.svar(int64(p.Score))
		}
	}
	if mask&optOppAt != 0 {
		e.rel(c.OppAt, c.DecayFrom)
	}
	if mask&optFeedback != 0 {
		e.svar(int64(c.Good))
		e.svar(int64(c.Bad))
	}
	if mask&optOppRules != 0 {
		e.str(string(c.OppRules))
	}
	if mask&optMovedFrom != 0 {
		e.str(c.MovedFrom)
	}
	if mask&optMergedInto != 0 {
		e.str(c.MergedInto)
	}
	if mask&optMerged != 0 {
		e.uvar(uint64(len(c.Merged)))
		for _, id := range c.Merged {
			e.str(id)
		}
	}
	return e.b
}

// The fields of format 3 that follow the mask when present, in this order
// (the commonest first, so that the mask mostly takes one byte).
const (
	optCaps = 1 << iota
	optRules
	optNurture
	optMQLAt
	optAQLAt
	optProducts
	optOppAt
	optFeedback
	optOppRules
	optMovedFrom
	optMergedInto
	optMerged
	optAll = optMerged<<1 - 1
)

// Nurture categories are stored as a byte; nurtureOther is followed by the
// category's name.
const nurtureOther byte = 255

var (
	nurtureCodes = map[string]byte{"": 0, model.NurtureReactivation: 1, model.NurtureCLevel: 2,
		model.NurtureKeyVertical: 3, model.NurtureOther: 4}
	nurtureNames = map[byte]string{0: "", 1: model.NurtureReactivation, 2: model.NurtureCLevel,
		3: model.NurtureKeyVertical, 4: model.NurtureOther}
)

// windowCode is how format 3 writes a cap's window: whole days as
// days<<1|1, else seconds<<1 (window < 1<<62).
func windowCode(window uint64) uint64 {
	if window > 0 && window%86400 == 0 {
		return (window/86400)<<1 | 1
	}
	return window << 1
}

func windowOfCode(code uint64) uint64 {
	if code&1 == 1 {
		return (code >> 1) * 86400
	}
	return code >> 1
}

// capBase is the period of DecayedTo for a cap's window, which format 3
// writes a cap's period as a distance to.
func capBase(decayedTo int64, window uint64) int64 {
	if window == 0 || window > math.MaxInt64 {
		return 0
	}
	return decayedTo / int64(window)
}

// splitCapKey splits a cap count's key "rule@window" into the rule id and
// the window in seconds, stored as a varint instead of its digits; a key
// without a canonical window suffix has window 0.
func splitCapKey(key string) (string, uint64) {
	i := strings.LastIndexByte(key, '@')
	if i < 0 {
		return key, 0
	}
	w, err := strconv.ParseUint(key[i+1:], 10, 64)
	if err != nil || w == 0 || strconv.FormatUint(w, 10) != key[i+1:] {
		return key, 0
	}
	return key[:i], w
}

func capKey(id string, window uint64) string {
	if window == 0 {
		return id
	}
	return id + "@" + strconv.FormatUint(window, 10)
}

// DecodeContact reads a stored contact; id and accountID come from where it
// is stored. What the store keeps after the state (where the contact's
// ledger ends) is skipped. Texts written as numbers (format 4) are an
// error here: the store's readers decode with its dictionary.
func DecodeContact(b []byte, id, accountID string) (*scoring.Contact, error) {
	return decodeStored(b, id, accountID, nil)
}

// decodeStored is DecodeContact with the numbered texts that texts reads.
func decodeStored(b []byte, id, accountID string, texts *textReader) (*scoring.Contact, error) {
	c, rest, err := decodeContactWith(b, id, accountID, texts)
	if err == nil && len(rest) > 0 {
		_, err = decodeTailNear(rest, c)
	}
	if err != nil {
		return nil, fmt.Errorf("contact %s: %w", id, err)
	}
	return c, nil
}

// decodeContact reads a contact's state and returns what follows it.
func decodeContact(b []byte, id, accountID string) (*scoring.Contact, []byte, error) {
	return decodeContactWith(b, id, accountID, nil)
}

// decodeContactWith reads a contact's state with the numbered texts that
// texts reads.
func decodeContactWith(b []byte, id, accountID string, texts *textReader) (*scoring.Contact, []byte, error) {
	d := dec{b: b, texts: texts}
	format := d.byte()
	if format < contactFormat1 || format > contactFormat {
		return nil, nil, errors.New("unknown format")
	}
	if format >= 4 && texts != nil {
		texts.l.mu.RLock()
		defer texts.l.mu.RUnlock()
	}
	c := &scoring.Contact{ID: id, AccountID: accountID}
	flags := d.byte()
	c.Competitor, c.MQL, c.AQL, c.Dormant = flags&flagCompetitor != 0, flags&flagMQL != 0, flags&flagAQL != 0, flags&flagDormant != 0
	c.TargetTitle, c.Won, c.Lost = flags&flagTargetTitle != 0, flags&flagWon != 0, flags&flagLost != 0
	c.Fields = d.byte()
	c.Stage = model.Stage(d.byte())
	c.Grade = d.str()
	if format >= 4 {
		c.Title, c.TitleRule = d.text(textTitle), d.text(textRule)
	} else {
		c.Title, c.TitleRule = d.str(), d.str()
	}
	c.TitleFit, c.Fit, c.Anchor, c.Behavior = d.i32(), d.i32(), d.i32(), d.i32()
	if format >= 2 {
		c.DecayFrom = d.svar()
		c.DecayedTo, c.LastEngaged = d.rel(c.DecayFrom), d.rel(c.DecayFrom)
	} else {
		c.DecayFrom, c.DecayedTo, c.LastEngaged = d.svar(), d.svar(), d.svar()
	}
	c.Events = d.i32()
	c.Model = d.str()
	if format >= 3 {
		decodeOptional(&d, c, format)
	} else {
		decodeOutcomes2(&d, c, format)
	}
	if d.err != nil || len(d.b) != 0 && !(format == contactFormat2 && d.b[0] == tailMarker ||
		format >= 3 && (d.b[0] == tailMarker || d.b[0] == tailMarkerNear)) {
		return nil, nil, errCorrupt
	}
	return c, d.b, nil
}

// decodeOutcomes2 reads what follows the model in formats 1 and 2.
func decodeOutcomes2(d *dec, c *scoring.Contact, format byte) {
	c.MovedFrom = d.str()
	if n := d.count(3); n > 0 {
		c.Products = make([]scoring.Product, n)
		for i := range c.Products {
			c.Products[i] = scoring.Product{Name: d.str(), Anchor: d.i32(), Score: d.i32()}
		}
	}
	if n := d.count(3); n > 0 {
		c.Caps = make([]scoring.CapCount, n)
		for i := range c.Caps {
			rule := d.str()
			if format >= 2 {
				rule = capKey(rule, d.uvar())
			}
			c.Caps[i] = scoring.CapCount{Rule: rule, Period: d.svar(), Count: d.i32()}
		}
	}
	// The ids of the last events, kept before dedupe moved out of the
	// state (48-bit hashes; 64-bit in format 1): read and dropped.
	if format >= 2 {
		d.u48s()
	} else {
		d.u64s()
	}
	if format >= 2 {
		c.MQLAt, c.AQLAt, c.OppAt = d.rel(c.DecayFrom), d.rel(c.DecayFrom), d.rel(c.DecayFrom)
		c.Good, c.Bad = d.i32(), d.i32()
		if r := d.str(); r != "" {
			c.Rules = []byte(r)
		}
		if r := d.str(); r != "" {
			c.OppRules = []byte(r)
		}
		c.Nurture = decodeNurture(d)
	}
}

// decodeNurture reads a nurture category as EncodeContact writes it.
func decodeNurture(d *dec) string {
	code := d.byte()
	if code == nurtureOther {
		return d.str()
	}
	name, ok := nurtureNames[code]
	if !ok {
		d.fail()
	}
	return name
}

// decodeOptional reads the mask of formats 3 and 4 and the fields it says
// follow.
func decodeOptional(d *dec, c *scoring.Contact, format byte) {
	mask := d.uvar()
	if mask&^optAll != 0 {
		d.fail()
		return
	}
	if mask&optCaps != 0 {
		c.Caps = make([]scoring.CapCount, d.count(4))
		for i := range c.Caps {
			rule := d.textIn(format, textRule)
			window := windowOfCode(d.uvar())
			c.Caps[i] = scoring.CapCount{Rule: capKey(rule, window), Period: d.svar() + capBase(c.DecayedTo, window), Count: d.i32()}
		}
	}
	if mask&optRules != 0 {
		c.Rules = []byte(d.str())
	}
	if mask&optNurture != 0 {
		c.Nurture = decodeNurture(d)
	}
	if mask&optMQLAt != 0 {
		c.MQLAt = d.rel(c.DecayFrom)
	}
	if mask&optAQLAt != 0 {
		c.AQLAt = d.rel(c.DecayFrom)
	}
	if mask&optProducts != 0 {
		c.Products = make([]scoring.Product, d.count(3))
		for i := range c.Products {
			c.Products[i] = scoring.Product{Name: d.textIn(format, textProduct), Anchor: d.i32(), Score: d.i32()}
		}
	}
	if mask&optOppAt != 0 {
		c.OppAt = d.rel(c.DecayFrom)
	}
	if mask&optFeedback != 0 {
		c.Good, c.Bad = d.i32(), d.i32()
	}
	if mask&optOppRules != 0 {
		c.OppRules = []byte(d.str())
	}
	if mask&optMovedFrom != 0 {
		c.MovedFrom = d.str()
	}
	if mask&optMergedInto != 0 {
		c.MergedInto = d.str()
	}
	if mask&optMerged != 0 {
		c.Merged = make([]string, d.count(1))
		for i := range c.Merged {
			c.Merged[i] = d.str()
		}
	}
}

// EncodeAccount returns the stored form of an account.
func EncodeAccount(a *scoring.Account) []byte {
	e := enc{b: make([]byte, 0, 128+16*len(a.Members))}
	e.byte(accountFormat)
	e.byte(boolBits(a.Competitor, a.MQA, a.MQAAtFirstOpp))
	e.str(a.Name)
	e.f64(a.Employees)
	e.f64(a.Revenue)
	e.str(a.Industry)
	e.str(a.Country)
	e.str(a.Tier)
	e.uvar(uint64(len(a.Technologies)))
	for _, t := range a.Technologies {
		e.str(t)
	}
	e.svar(int64(a.Fit))
	e.svar(int64(a.Engagement))
	e.svar(int64(a.Total))
	e.svar(int64(a.Events))
	e.str(a.Model)
	e.uvar(uint64(len(a.Members)))
	for id, b := range a.Members {
		e.str(id)
		e.svar(int64(b))
	}
	e.uvar(0) // the ids of the last events, as for contacts
	e.svar(a.FirstOppAt)
	e.svar(int64(a.Opportunities))
	e.svar(int64(a.Won))
	e.svar(int64(a.Lost))
	return e.b
}

// DecodeAccount reads a stored account.
func DecodeAccount(b []byte, id string) (*scoring.Account, error) {
	d := dec{b: b}
	format := d.byte()
	if format != accountFormat && format != accountFormat1 {
		return nil, fmt.Errorf("account %s: unknown format", id)
	}
	a := &scoring.Account{ID: id}
	flags := d.byte()
	a.Competitor, a.MQA, a.MQAAtFirstOpp = flags&1 != 0, flags&2 != 0, flags&4 != 0
	a.Name = d.str()
	a.Employees, a.Revenue = d.f64(), d.f64()
	a.Industry, a.Country, a.Tier = d.str(), d.str(), d.str()
	if n := d.count(1); n > 0 {
		a.Technologies = make([]string, n)
		for i := range a.Technologies {
			a.Technologies[i] = d.str()
		}
	}
	a.Fit, a.Engagement, a.Total, a.Events = d.i32(), d.i32(), d.i32(), d.i32()
	a.Model = d.str()
	if n := d.count(2); n > 0 {
		a.Members = make(map[string]int32, n)
		for range n {
			id := d.str()
			a.Members[id] = d.i32()
		}
	}
	d.u64s() // the ids of the last events, as for contacts
	if format >= 2 {
		a.FirstOppAt = d.svar()
		a.Opportunities, a.Won, a.Lost = d.i32(), d.i32(), d.i32()
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, fmt.Errorf("account %s: %w", id, errCorrupt)
	}
	return a, nil
}
