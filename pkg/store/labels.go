package store

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
)

var (
	//go:embed intern.lua
	internLua    string
	internScript = redis.NewScript(internLua)
)

// The label dictionary numbers, once for the whole namespace, every
// distinct text a ledger line refers to instead of holding it: a line's
// kind, rule, product, reason and outcome status together (a few hundred
// of them for a model: one per rule, title, account fit, idle length and
// outcome), and the prefixes of numbered event ids ("evt-"). Numbers are
// never reused or changed, so lines scored under any model version read as
// they were written, whatever model is live now. It is one hash,
// ns:ledger:labels, read and extended only on its own (on Redis Cluster it
// is in a slot of its own): each process keeps the part it has seen.
func (s *Store) labelsKey() string { return s.ns + ":ledger:labels" }

// labels is a process's copy of part of the dictionary.
type labels struct {
	mu sync.RWMutex
	// epoch is the dictionary's epoch (field '@', see intern.lua) the copy
	// was read under, "" before one was seen.
	epoch string
	ids   map[string]uint32
	text  map[uint32]string
	full  map[byte]bool
}

// adopt makes the copy one of the dictionary of epoch ("" for a dictionary
// without one, or none), and reports whether it was emptied: a copy read
// under another epoch is, and so is one read without an epoch when the
// dictionary has none, since a dictionary lost is one without an epoch
// until it is numbered again. (The caller holds mu.)
func (l *labels) adopt(epoch string) bool {
	reset := epoch != l.epoch || epoch == "" && len(l.text)+len(l.full) > 0
	if reset {
		l.ids, l.text, l.full = nil, nil, nil
		l.epoch = epoch
	}
	l.init()
	return reset
}

// newEpoch is the epoch a process offers a dictionary that has none.
func newEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// checkEpoch queues a read of the dictionary's epoch at key; the returned
// func empties the copy when it was read under another (see adopt), so
// that a process whose copy knows every text it writes still finds out
// that the dictionary was lost.
func (l *labels) checkEpoch(ctx context.Context, pipe redis.Pipeliner, key string) func() {
	cmd := pipe.HGet(ctx, key, "@")
	return func() {
		epoch, err := cmd.Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		l.adopt(epoch)
	}
}

// Kinds of dictionary text: a line's label, or an id prefix.
const (
	labelTag  = 'L'
	prefixTag = 'P'
)

// Reasons rebuilt from the line (a label's template).
const (
	reasonAsIs  = 0
	reasonIdle  = 1 // "idle <time - the decay step's anchor>"
	reasonDated = 2 // "decay recounted for an event dated <time>"
	datedPrefix = "decay recounted for an event dated "
)

// label is the dictionary text of what e says besides its time, cause,
// points and state.
func label(e *scoring.Entry, c cause) string {
	var w enc
	w.byte(labelTag)
	w.str(e.Kind)
	w.str(e.Rule)
	w.str(e.Product)
	switch {
	case c.kind == causeDecay && strings.HasPrefix(e.Reason, idlePrefix) && e.Reason == idleReason(e.Time, c.from):
		w.byte(reasonIdle)
	case strings.HasPrefix(e.Reason, datedPrefix) && e.Reason == datedReason(e.Time):
		w.byte(reasonDated)
	default:
		w.byte(reasonAsIs)
		w.str(e.Reason)
	}
	w.str(e.Grade)
	w.str(e.Stage)
	w.byte(boolBits(e.MQL, e.AQL))
	w.str(e.Model)
	// The engine's score is behavior + fit; an entry that says otherwise
	// keeps the difference.
	w.svar(int64(e.Score) - int64(e.Behavior) - int64(e.Fit))
	return string(w.b)
}

// idlePrefix starts every idleReason.
const idlePrefix = "idle "

func idleReason(t, from int64) string {
	return idlePrefix + model.FormatDuration(time.Duration(t-from)*time.Second)
}

func datedReason(t int64) string { return datedPrefix + time.Unix(t, 0).UTC().Format(time.RFC3339) }

// applyLabel fills e's label fields from the dictionary text.
func applyLabel(e *scoring.Entry, text string, c cause) error {
	d := dec{b: []byte(text)}
	if d.byte() != labelTag {
		return fmt.Errorf("ledger label: %w", errCorrupt)
	}
	e.Kind, e.Rule, e.Product = d.str(), d.str(), d.str()
	switch d.byte() {
	case reasonAsIs:
		e.Reason = d.str()
	case reasonIdle:
		if c.kind != causeDecay {
			d.fail()
		}
		e.Reason = idleReason(e.Time, c.from)
	case reasonDated:
		e.Reason = datedReason(e.Time)
	default:
		d.fail()
	}
	e.Grade, e.Stage = d.str(), d.str()
	bits := d.byte()
	e.MQL, e.AQL = bits&1 != 0, bits&2 != 0
	e.Model = d.str()
	e.Score += d.i32()
	if d.err != nil || len(d.b) > 0 {
		return fmt.Errorf("ledger label: %w", errCorrupt)
	}
	return nil
}

// parseCause packs a cause by its shape; numbered causes name their prefix
// as dictionary text in prefix, to be numbered.
func parseCause(s, contact string) (c cause, prefix string) {
	if rest, ok := strings.CutPrefix(s, "decay:"+contact+":"); ok {
		if from, k, ok := strings.Cut(rest, ":"); ok {
			f, err1 := strconv.ParseInt(from, 10, 64)
			n, err2 := strconv.ParseUint(k, 10, 64)
			if err1 == nil && err2 == nil && strconv.FormatInt(f, 10) == from && strconv.FormatUint(n, 10) == k {
				return cause{kind: causeDecay, from: f, num: n}, ""
			}
		}
	}
	if b, ok := uuidBytes(s); ok {
		return cause{kind: causeUUID, text: string(b)}, ""
	}
	if len(s) >= 16 && len(s)%2 == 0 && isLowerHex(s) && strings.ContainsAny(s, "abcdef") {
		b, _ := hex.DecodeString(s)
		return cause{kind: causeHex, text: string(b)}, ""
	}
	// A prefix without digits, short: one of the few that name where ids
	// come from ("evt-", "order_"), not a part of the id itself, which
	// would add a label per event.
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	digits := s[i:]
	if digits != "" && i <= maxPrefixBytes && len(digits) <= 19 && (digits == "0" || digits[0] != '0') &&
		!strings.ContainsAny(s[:i], "0123456789") {
		if n, err := strconv.ParseUint(digits, 10, 64); err == nil {
			return cause{kind: causeNumbered, num: n}, string(prefixTag) + s[:i]
		}
	}
	return cause{kind: causeText, text: s}, ""
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// uuidBytes packs a canonical lower-case UUID.
func uuidBytes(s string) ([]byte, bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return nil, false
	}
	h := s[:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	if !isLowerHex(h) {
		return nil, false
	}
	b, _ := hex.DecodeString(h)
	return b, true
}

// causeText is the cause as the engine wrote it; prefix is the text of a
// numbered cause's prefix label.
func causeString(c cause, contact, prefix string) string {
	switch c.kind {
	case causeDecay:
		return "decay:" + contact + ":" + strconv.FormatInt(c.from, 10) + ":" + strconv.FormatUint(c.num, 10)
	case causeUUID:
		h := hex.EncodeToString([]byte(c.text))
		return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	case causeNumbered:
		return prefix[1:] + strconv.FormatUint(c.num, 10)
	case causeHex:
		return hex.EncodeToString([]byte(c.text))
	}
	return c.text
}

// intern returns the numbers of texts, numbering those the dictionary does
// not have yet.
func (s *Store) intern(ctx context.Context, texts map[string]uint32) error {
	if err := s.labels.intern(ctx, s.rdb, s.labelsKey(), 0, texts); err != nil {
		return fmt.Errorf("number ledger labels: %w", err)
	}
	return nil
}

// intern numbers texts in the dictionary at key, those this copy does not
// know in one script call. With a bound (per class of text: its first
// byte), a text past it keeps number 0, and the class is remembered full,
// not asked for again.
func (l *labels) intern(ctx context.Context, rdb redis.UniversalClient, key string, bound int, texts map[string]uint32) error {
	for again := true; ; again = false {
		var missing []any
		l.mu.RLock()
		for t := range texts {
			if id, ok := l.ids[t]; ok {
				texts[t] = id
			} else if !l.full[t[0]] {
				missing = append(missing, t)
			}
		}
		l.mu.RUnlock()
		if len(missing) == 0 {
			return nil
		}
		res, err := internScript.Run(ctx, rdb, []string{key}, append([]any{bound, newEpoch()}, missing...)...).Slice()
		if err != nil {
			return err
		}
		if len(res) != 1+len(missing) {
			return fmt.Errorf("dictionary %s: %d answers for %d texts", key, len(res)-1, len(missing))
		}
		epoch, _ := res[0].(string)
		l.mu.Lock()
		reset := l.adopt(epoch)
		for i, t := range missing {
			text := t.(string)
			id64, _ := res[i+1].(int64)
			id := uint32(id64)
			if id == 0 {
				l.full[text[0]] = true
				continue
			}
			l.ids[text], l.text[id] = id, text
			texts[text] = id
		}
		l.mu.Unlock()
		if !reset || !again {
			return nil
		}
		// The numbers taken from the copy were of another dictionary.
		for t := range texts {
			texts[t] = 0
		}
	}
}

func (l *labels) init() {
	if l.ids == nil {
		l.ids, l.text, l.full = map[string]uint32{}, map[uint32]string{}, map[byte]bool{}
	}
}

// lookup returns the texts of numbers.
func (s *Store) lookup(ctx context.Context, ids map[uint32]string) error {
	if err := s.labels.lookup(ctx, s.rdb, s.labelsKey(), ids, true); err != nil {
		return fmt.Errorf("read ledger labels: %w", err)
	}
	return nil
}

// lookup fills in the texts of numbers from the dictionary at key, those
// this copy does not know in one HMGET. A number the dictionary does not
// have is an error if strict, else left out.
func (l *labels) lookup(ctx context.Context, rdb redis.UniversalClient, key string, ids map[uint32]string, strict bool) error {
	for again := true; ; again = false {
		missing := []string{"@"}
		l.mu.RLock()
		for id := range ids {
			if t, ok := l.text[id]; ok {
				ids[id] = t
			} else {
				missing = append(missing, strconv.FormatUint(uint64(id), 10))
			}
		}
		l.mu.RUnlock()
		if len(missing) == 1 {
			return nil
		}
		got, err := rdb.HMGet(ctx, key, missing...).Result()
		if err != nil {
			return err
		}
		epoch, _ := got[0].(string)
		l.mu.Lock()
		if l.adopt(epoch) && again {
			// The texts taken from the copy were of another dictionary.
			l.mu.Unlock()
			for id := range ids {
				ids[id] = ""
			}
			continue
		}
		for i, v := range got[1:] {
			t, ok := v.(string)
			if !ok || t == "" {
				if strict {
					l.mu.Unlock()
					return fmt.Errorf("%s: %w", missing[i+1], errCorrupt)
				}
				continue
			}
			id, _ := strconv.ParseUint(missing[i+1], 10, 32)
			l.ids[t], l.text[uint32(id)] = uint32(id), t
			ids[uint32(id)] = t
		}
		l.mu.Unlock()
		return nil
	}
}

// packEntries turns entries of one contact into lines, numbering their
// labels.
func (s *Store) packEntries(ctx context.Context, contact string, entries []scoring.Entry) ([]rawLine, error) {
	preps := make([]prepared, len(entries))
	texts := map[string]uint32{}
	for i := range entries {
		preps[i] = prepare(&entries[i], contact)
		preps[i].note(texts)
	}
	if err := s.intern(ctx, texts); err != nil {
		return nil, err
	}
	return packPrepared(entries, preps, texts), nil
}

// prepared is what a ledger entry's line takes from the entry besides
// numbers from the dictionary: its cause, and the texts to number.
type prepared struct {
	cause         cause
	label, prefix string
}

func prepare(e *scoring.Entry, contact string) prepared {
	c, prefix := parseCause(e.Cause, contact)
	return prepared{cause: c, label: label(e, c), prefix: prefix}
}

// note adds the texts to number to texts.
func (p *prepared) note(texts map[string]uint32) {
	texts[p.label] = 0
	if p.prefix != "" {
		texts[p.prefix] = 0
	}
}

// packPrepared makes the lines of entries, prepared as preps, whose texts
// texts numbers.
func packPrepared(entries []scoring.Entry, preps []prepared, texts map[string]uint32) []rawLine {
	lines := make([]rawLine, len(entries))
	for i := range entries {
		lines[i] = packLine(&entries[i], &preps[i], texts)
	}
	return lines
}

// packSome is packPrepared of the entries at the indexes which.
func packSome(entries []scoring.Entry, preps []prepared, which []int, texts map[string]uint32) []rawLine {
	lines := make([]rawLine, len(which))
	for i, j := range which {
		lines[i] = packLine(&entries[j], &preps[j], texts)
	}
	return lines
}

func packLine(e *scoring.Entry, p *prepared, texts map[string]uint32) rawLine {
	l := rawLine{time: e.Time, cause: p.cause, points: e.Points, behavior: e.Behavior, fit: e.Fit, label: texts[p.label]}
	if p.prefix != "" {
		l.cause.prefix = texts[p.prefix]
	}
	switch {
	case e.Points == 0:
		l.axis = axisNone
	case e.Kind == scoring.KindBehavior || e.Kind == scoring.KindDecay:
		l.axis = axisBehavior
	case e.Kind == scoring.KindFit:
		l.axis = axisFit
	default:
		l.axis = axisElsewhere
	}
	return l
}

// unpackLines turns lines of one contact back into entries, newest first.
func (s *Store) unpackLines(ctx context.Context, contact string, lines []rawLine) ([]scoring.Entry, error) {
	ids := map[uint32]string{}
	for i := range lines {
		ids[lines[i].label] = ""
		if lines[i].cause.kind == causeNumbered {
			ids[lines[i].cause.prefix] = ""
		}
	}
	if err := s.lookup(ctx, ids); err != nil {
		return nil, err
	}
	out := make([]scoring.Entry, len(lines))
	for i := range lines {
		l := &lines[i]
		e := &out[len(lines)-1-i]
		*e = scoring.Entry{ContactID: contact, Time: l.time, Points: l.points,
			Score: l.behavior + l.fit, Behavior: l.behavior, Fit: l.fit}
		prefix := ""
		if l.cause.kind == causeNumbered {
			if prefix = ids[l.cause.prefix]; len(prefix) == 0 || prefix[0] != prefixTag {
				return nil, fmt.Errorf("ledger prefix %d: %w", l.cause.prefix, errCorrupt)
			}
		}
		e.Cause = causeString(l.cause, contact, prefix)
		if err := applyLabel(e, ids[l.label], l.cause); err != nil {
			return nil, err
		}
	}
	return out, nil
}
