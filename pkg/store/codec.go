package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

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
// category) to format 1, which is still read.
const (
	contactFormat1 byte = 1
	contactFormat  byte = 2
	accountFormat  byte = 1
)

var errCorrupt = errors.New("corrupt state")

type enc struct{ b []byte }

func (e *enc) byte(v byte)   { e.b = append(e.b, v) }
func (e *enc) uvar(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) svar(v int64)  { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) str(s string)  { e.uvar(uint64(len(s))); e.b = append(e.b, s...) }
func (e *enc) f64(v float64) { e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(v)) }
func (e *enc) u64s(v []uint64) {
	e.uvar(uint64(len(v)))
	for _, x := range v {
		e.b = binary.LittleEndian.AppendUint64(e.b, x)
	}
}

type dec struct {
	b   []byte
	err error
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

func (d *dec) str() string {
	n := d.uvar()
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

// EncodeContact returns the stored form of a contact.
func EncodeContact(c *scoring.Contact) []byte {
	e := enc{b: make([]byte, 0, 96+8*len(c.Seen)+len(c.Title))}
	e.byte(contactFormat)
	e.byte(boolBits(c.Competitor, c.MQL, c.AQL, c.Dormant, c.TargetTitle, c.Won, c.Lost))
	e.byte(c.Fields)
	e.byte(byte(c.Stage))
	e.str(c.Grade)
	e.str(c.Title)
	e.str(c.TitleRule)
	e.svar(int64(c.TitleFit))
	e.svar(int64(c.Fit))
	e.svar(int64(c.Anchor))
	e.svar(int64(c.Behavior))
	e.svar(c.DecayFrom)
	e.svar(c.DecayedTo)
	e.svar(c.LastEngaged)
	e.svar(int64(c.Events))
	e.str(c.Model)
	e.str(c.MovedFrom)
	e.uvar(uint64(len(c.Products)))
	for _, p := range c.Products {
		e.str(p.Name)
		e.svar(int64(p.Anchor))
		e.svar(int64(p.Score))
	}
	e.uvar(uint64(len(c.Caps)))
	for _, cc := range c.Caps {
		e.str(cc.Rule)
		e.svar(cc.Period)
		e.svar(int64(cc.Count))
	}
	e.u64s(c.Seen)
	e.svar(c.MQLAt)
	e.svar(c.AQLAt)
	e.svar(c.OppAt)
	e.svar(int64(c.Good))
	e.svar(int64(c.Bad))
	e.str(string(c.Rules))
	e.str(string(c.OppRules))
	e.str(c.Nurture)
	return e.b
}

// DecodeContact reads a stored contact; id and accountID come from where it
// is stored.
func DecodeContact(b []byte, id, accountID string) (*scoring.Contact, error) {
	d := dec{b: b}
	format := d.byte()
	if format != contactFormat && format != contactFormat1 {
		return nil, fmt.Errorf("contact %s: unknown format", id)
	}
	c := &scoring.Contact{ID: id, AccountID: accountID}
	flags := d.byte()
	c.Competitor, c.MQL, c.AQL, c.Dormant = flags&flagCompetitor != 0, flags&flagMQL != 0, flags&flagAQL != 0, flags&flagDormant != 0
	c.TargetTitle, c.Won, c.Lost = flags&flagTargetTitle != 0, flags&flagWon != 0, flags&flagLost != 0
	c.Fields = d.byte()
	c.Stage = model.Stage(d.byte())
	c.Grade = d.str()
	c.Title = d.str()
	c.TitleRule = d.str()
	c.TitleFit, c.Fit, c.Anchor, c.Behavior = d.i32(), d.i32(), d.i32(), d.i32()
	c.DecayFrom, c.DecayedTo, c.LastEngaged = d.svar(), d.svar(), d.svar()
	c.Events = d.i32()
	c.Model = d.str()
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
			c.Caps[i] = scoring.CapCount{Rule: d.str(), Period: d.svar(), Count: d.i32()}
		}
	}
	c.Seen = d.u64s()
	if format >= 2 {
		c.MQLAt, c.AQLAt, c.OppAt = d.svar(), d.svar(), d.svar()
		c.Good, c.Bad = d.i32(), d.i32()
		if r := d.str(); r != "" {
			c.Rules = []byte(r)
		}
		if r := d.str(); r != "" {
			c.OppRules = []byte(r)
		}
		c.Nurture = d.str()
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, fmt.Errorf("contact %s: %w", id, errCorrupt)
	}
	return c, nil
}

// EncodeAccount returns the stored form of an account.
func EncodeAccount(a *scoring.Account) []byte {
	e := enc{b: make([]byte, 0, 128+16*len(a.Members)+8*len(a.Seen))}
	e.byte(accountFormat)
	e.byte(boolBits(a.Competitor, a.MQA))
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
	e.u64s(a.Seen)
	return e.b
}

// DecodeAccount reads a stored account.
func DecodeAccount(b []byte, id string) (*scoring.Account, error) {
	d := dec{b: b}
	if d.byte() != accountFormat {
		return nil, fmt.Errorf("account %s: unknown format", id)
	}
	a := &scoring.Account{ID: id}
	flags := d.byte()
	a.Competitor, a.MQA = flags&1 != 0, flags&2 != 0
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
	a.Seen = d.u64s()
	if d.err != nil || len(d.b) != 0 {
		return nil, fmt.Errorf("account %s: %w", id, errCorrupt)
	}
	return a, nil
}
