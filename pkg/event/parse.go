package event

import (
	"bytes"
	stdjson "encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// parser reads the JSON of one event as encoding/json would decode it into
// an Event (keys matched exactly or else case-insensitively, a key given
// twice counts the last time, null leaves a field as it is but empties
// properties, numbers in properties keep their text), checking the syntax
// as strictly. What it refuses it refuses at the first byte past the
// problem, and nothing over a limit is ever built: a string over its
// field's length, a property key over MaxPropertyKey, and within properties
// more than MaxProperties keys or items or nesting deeper than
// maxValueDepth, each reported as Validate reports it. So decoding an event
// allocates what its fields hold, within the limits, and never what a
// hostile body's shape would make a plain decoder build (1.75 million {}
// in a 5 MiB body cost 170 MB as maps before Validate saw them).
//
// Recursion is bounded: every array and object is entered through open,
// which refuses one nested deeper than maxDepth. Strings are copied as
// they are: decoder.item refuses an item that is not UTF-8.
type parser struct {
	b []byte
	// s is b as a string when the item was copied whole (decoder.item):
	// strings without escapes are then substrings of it, one allocation
	// for the item instead of one a string. "" otherwise.
	s        string
	i        int
	maxDepth int
	// plain is where the string str returned last starts in b when it had
	// no escapes (it is b's own bytes), else -1 (it is in buf).
	plain int
	// canonical stays true while the item is exactly what Encode makes of
	// the event read so far: the fields in Event's order, each once and
	// named exactly, none empty that Encode leaves out, properties' keys
	// in order, no space, no escape, and no byte Encode would escape.
	canonical bool
	// lazy leaves the properties of an item kept as its encoding unbuilt
	// (settle): deferred is set while they wait on the stack, from
	// deferredAt.
	lazy, deferred bool
	deferredAt     [2]int
	// scalars are the strings and numbers of lazy properties, not yet
	// boxed: their places on the stack are nil until build fills them.
	scalars []scalar
	// wrongType is the first field with a value of the wrong type. The
	// rest of the item is still read (a syntax error or a limit takes
	// precedence, as with encoding/json), then it is reported.
	wrongType *ItemError
	// buf holds a string being unescaped.
	buf []byte
	// stack holds the values of the arrays and objects being read, and
	// keys the keys of the objects, until they end and are built at their
	// size.
	stack []any
	keys  []string
	// held is what the values built so far hold in memory, as estimated
	// below (allocSize, mapSize); past budget the parser stops with
	// errOverBudget before building more.
	held, budget int
}

// errOverBudget stops a parser whose values would hold more than its
// budget.
var errOverBudget = &ItemError{Message: "over the budget"}

// hold counts n more bytes held, and reports whether they are within the
// budget.
func (p *parser) hold(n int) bool {
	p.held += n
	return p.held <= p.budget
}

// What values hold in memory, as the Go runtime allocates them (1.26,
// 64-bit), a little more rather than less (TestHeldMatchesTheHeap checks
// it): a string's or a slice's bytes in a size class; a string or number
// in an interface, its header too; an item of an array, an interface and
// a few bytes the runtime keeps beside it; a map, a header and groups of
// eight slots, of which it keeps at least an eighth free.
const (
	headerSize = 16 // a string in an interface
	sliceBox   = 32 // a slice in an interface
	itemSize   = 20 // an interface in a slice
)

// allocSize is n bytes in their size class (from 1 KiB, up to a quarter
// larger; pages from 32 KiB).
func allocSize(n int) int {
	switch {
	case n == 0:
		return 0
	case n <= 1024:
		return (n + 15) &^ 15
	}
	return n + n/4
}

func mapSize(n int) int {
	switch {
	case n == 0:
		return 64
	case n <= 8:
		return 336
	}
	slots := 16
	for n > slots*7/8 {
		slots *= 2
	}
	return 48 + 40*slots
}

func (p *parser) reset(b []byte, maxDepth int) {
	p.b, p.s, p.i, p.maxDepth, p.wrongType, p.canonical, p.deferred = b, "", 0, maxDepth, nil, true, false
	p.pop(0, 0)
}

// keep returns the string str returned last as one an event may hold,
// counting what it holds and extra bytes more: a substring of the item's
// copy when there is one and the string had no escapes, else a copy.
func (p *parser) keep(s []byte, extra int) (string, *ItemError) {
	if p.plain >= 0 && p.s != "" {
		if !p.hold(extra) {
			return "", errOverBudget
		}
		return p.s[p.plain : p.plain+len(s)], nil
	}
	if !p.hold(extra + allocSize(len(s))) {
		return "", errOverBudget
	}
	return string(s), nil
}

func (p *parser) more() bool { return p.i < len(p.b) }

func (p *parser) at(c byte) bool { return p.i < len(p.b) && p.b[p.i] == c }

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
			p.canonical = false
		default:
			return
		}
	}
}

// syntax is an error in the JSON itself, worded as encoding/json words it.
func (p *parser) syntax(context string) *ItemError {
	if !p.more() {
		return &ItemError{Message: "invalid JSON: unexpected end of JSON input"}
	}
	return &ItemError{Message: "invalid JSON: invalid character " + quoteChar(p.b[p.i]) + " " + context}
}

func quoteChar(c byte) string {
	switch c {
	case '\'':
		return `'\''`
	case '"':
		return `'"'`
	}
	s := strconv.Quote(string(rune(c)))
	return "'" + s[1:len(s)-1] + "'"
}

func (p *parser) wrong(field, message string) {
	if p.wrongType == nil {
		p.wrongType = &ItemError{Field: field, Message: message}
	}
}

// over is a property value over a limit.
func over(prop, message string) *ItemError {
	return &ItemError{Field: "properties." + prop, Message: message}
}

// event reads an object into ev.
func (p *parser) event(ev *Event) *ItemError {
	empty, err := p.open(1)
	if err != nil || empty {
		p.canonical = false
		return err
	}
	// Encode writes these fields always; the others only when not empty.
	const always = 1<<fieldID | 1<<fieldType | 1<<fieldTime
	last, seen := fieldNone, 0
	for {
		f := p.nextField(last)
		if f == fieldNone {
			// No field's name folds from more than 30 bytes: a longer key
			// is not decoded.
			key, err := p.key(30)
			if err != nil {
				return err
			}
			f = fieldOf(key)
			if f <= last || string(key) != fieldNames[f] {
				p.canonical = false
			}
		}
		last, seen = max(last, f), seen|1<<f
		switch f {
		case fieldID:
			err = p.text(&ev.ID, "id", MaxIDLen)
		case fieldType:
			err = p.text(&ev.Type, "type", MaxTypeLen)
		case fieldContactID:
			err = p.text(&ev.ContactID, "contact_id", MaxIDLen)
		case fieldAccountID:
			err = p.text(&ev.AccountID, "account_id", MaxIDLen)
		case fieldTime:
			err = p.time(&ev.Time)
		case fieldSource:
			err = p.text(&ev.Source, "source", MaxSourceLen)
		case fieldProperties:
			err = p.properties(&ev.Properties)
		default:
			err = p.skip(2)
		}
		if err != nil {
			return err
		}
		if more, err := p.next('}'); err != nil || !more {
			if seen&always != always {
				p.canonical = false
			}
			return err
		}
	}
}

// The fields of Event, in the order json.Marshal writes them.
const (
	fieldNone = iota
	fieldID
	fieldType
	fieldContactID
	fieldAccountID
	fieldTime
	fieldSource
	fieldProperties
)

var fieldNames = [...]string{fieldID: "id", fieldType: "type", fieldContactID: "contact_id", fieldAccountID: "account_id",
	fieldTime: "time", fieldSource: "source", fieldProperties: "properties"}

// fieldKeys are the fields' keys as Encode writes them, with the colon.
var fieldKeys = func() (keys [len(fieldNames)][]byte) {
	for f, name := range fieldNames {
		keys[f] = []byte(`"` + name + `":`)
	}
	return keys
}()

// nextField reads the key of a field after last in Event's order, written
// as Encode writes it, and returns the field; fieldNone, having read
// nothing, when the item is not read as kept or the key is another.
func (p *parser) nextField(last int) int {
	if !p.canonical {
		return fieldNone
	}
	for f := last + 1; f < len(fieldKeys); f++ {
		if bytes.HasPrefix(p.b[p.i:], fieldKeys[f]) {
			p.i += len(fieldKeys[f])
			p.ws()
			return f
		}
	}
	return fieldNone
}

// fieldOf matches a key to a field as encoding/json does: exactly, or else
// ignoring case by Unicode simple folding (so "propertieſ" is properties
// too; a rune folding to an ASCII letter takes at most three bytes). No
// two names of Event fold to each other.
func fieldOf(key []byte) int {
	switch string(key) {
	case "id":
		return fieldID
	case "type":
		return fieldType
	case "contact_id":
		return fieldContactID
	case "account_id":
		return fieldAccountID
	case "time":
		return fieldTime
	case "source":
		return fieldSource
	case "properties":
		return fieldProperties
	}
	if key == nil {
		return fieldNone
	}
	for f, name := range fieldNames {
		if name != "" && len(key) <= 3*len(name) && strings.EqualFold(string(key), name) {
			return f
		}
	}
	return fieldNone
}

// open enters the array or object at p.i at nesting level, and reports
// whether it is empty (then it has read it whole).
func (p *parser) open(level int) (empty bool, err *ItemError) {
	if level > p.maxDepth {
		return false, &ItemError{Message: fmt.Sprintf("nested deeper than %d", p.maxDepth)}
	}
	end := byte(']')
	if p.b[p.i] == '{' {
		end = '}'
	}
	p.i++
	p.ws()
	if p.at(end) {
		p.i++
		return true, nil
	}
	return false, nil
}

// next reads what follows a member or an item: a comma (more follow) or
// the end of its object or array.
func (p *parser) next(end byte) (more bool, err *ItemError) {
	p.ws()
	switch {
	case p.at(','):
		p.i++
		p.ws()
		return true, nil
	case p.at(end):
		p.i++
		return false, nil
	case end == '}':
		return false, p.syntax("after object key:value pair")
	}
	return false, p.syntax("after array element")
}

// key reads an object's key and the colon after it. The key's decoded
// bytes are valid until the next string is read; nil when longer than max
// (no limit when max < 0).
func (p *parser) key(max int) ([]byte, *ItemError) {
	if !p.at('"') {
		return nil, p.syntax("looking for beginning of object key string")
	}
	start := p.i
	key, long, err := p.str(max)
	if err != nil {
		return nil, err
	}
	if long {
		p.i = start
		if err := p.skipString(); err != nil {
			return nil, err
		}
		key = nil
	}
	p.ws()
	if !p.at(':') {
		return nil, p.syntax("after object key")
	}
	p.i++
	p.ws()
	return key, nil
}

// text reads a string field of at most max bytes; null leaves it as it is.
func (p *parser) text(dst *string, field string, max int) *ItemError {
	switch {
	case p.at('"'):
		s, long, err := p.str(max)
		switch {
		case err != nil:
			return err
		case long:
			return &ItemError{Field: field, Message: longerThan(max)}
		}
		if len(s) == 0 && field != "id" && field != "type" {
			p.canonical = false // Encode leaves it out
		}
		*dst, err = p.keep(s, 0)
		return err
	case p.at('n'):
		p.canonical = false
		return p.literal("null")
	}
	p.wrong(field, "wrong type: expected a string")
	return p.skip(2)
}

func (p *parser) time(dst *time.Time) *ItemError {
	const msg = "must be an RFC 3339 string"
	switch {
	case p.at('"'):
		start := p.i
		if err := p.skipString(); err != nil {
			return err
		}
		t, ok := utcTime(p.b[start+1 : p.i-1])
		if !ok && t.UnmarshalJSON(p.b[start:p.i]) != nil {
			p.wrong("time", msg)
			return nil
		}
		*dst = t
		p.canonical = p.canonical && canonicalTime(p.b[start+1:p.i-1])
		return nil
	case p.at('n'):
		p.canonical = false
		return p.literal("null")
	}
	p.wrong("time", msg)
	return p.skip(2)
}

// canonicalTime reports whether a time that parsed is as Encode writes it
// (time.RFC3339Nano): 2006-01-02T15:04:05, a fraction of one to nine
// digits not ending in 0, then Z or an offset other than ±00:00 (which
// Encode writes Z). Go's parser gives a time of this form the date, time
// and offset written, so the digits are Encode's too.
func canonicalTime(b []byte) bool {
	const layout = "0000-00-00T00:00:00"
	if len(b) < len(layout) {
		return false
	}
	for i := range len(layout) {
		if layout[i] == '0' && !isDigit(b[i]) || layout[i] != '0' && b[i] != layout[i] {
			return false
		}
	}
	b = b[len(layout):]
	if len(b) > 0 && b[0] == '.' {
		n := 1
		for n < len(b) && isDigit(b[n]) {
			n++
		}
		if n == 1 || n > 10 || b[n-1] == '0' {
			return false
		}
		b = b[n:]
	}
	switch {
	case len(b) == 1:
		return b[0] == 'Z'
	case len(b) == len("+07:00"):
		return (b[0] == '+' || b[0] == '-') && isDigit(b[1]) && isDigit(b[2]) && b[3] == ':' && isDigit(b[4]) && isDigit(b[5]) &&
			string(b[1:]) != "00:00"
	}
	return false
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// utcTime reads the commonest form of a time, the one Encode writes for
// UTC (2006-01-02T15:04:05, a fraction of one to nine digits or none,
// then Z), and gives what time.Time's own RFC 3339 parser gives for it; it
// reports false for any other text, which that parser then reads. The
// time parser took a fifth of the ingestor's decoding in a profile.
func utcTime(b []byte) (time.Time, bool) {
	const layout = "0000-00-00T00:00:00"
	if len(b) < len(layout)+1 || b[len(b)-1] != 'Z' {
		return time.Time{}, false
	}
	var f [6]int // year, month, day, hour, minute, second
	for i, k := 0, 0; i < len(layout); i++ {
		switch c := b[i]; {
		case layout[i] != '0':
			if c != layout[i] {
				return time.Time{}, false
			}
			k++
		case isDigit(c):
			f[k] = f[k]*10 + int(c-'0')
		default:
			return time.Time{}, false
		}
	}
	year, month, day := f[0], f[1], f[2]
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || f[3] > 23 || f[4] > 59 || f[5] > 59 {
		return time.Time{}, false
	}
	ns := 0
	if frac := b[len(layout) : len(b)-1]; len(frac) > 0 {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return time.Time{}, false
		}
		for _, c := range frac[1:] {
			if !isDigit(c) {
				return time.Time{}, false
			}
			ns = ns*10 + int(c-'0')
		}
		for range 10 - len(frac) {
			ns *= 10
		}
	}
	return time.Date(year, time.Month(month), day, f[3], f[4], f[5], ns, time.UTC), true
}

// daysIn is the number of days of a month (1-12) of a year.
func daysIn(month, year int) int {
	if month == 2 {
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	}
	return 30 + (month+month/8)%2
}

// properties reads the properties object, replacing what dst held; null
// empties it.
func (p *parser) properties(dst *map[string]any) *ItemError {
	if p.deferred { // properties given twice: the last count
		p.deferred = false
		p.pop(p.deferredAt[0], p.deferredAt[1])
	}
	switch {
	case p.at('{'):
		m, err := p.object(0, 2, true, "")
		if err == nil && !p.deferred {
			*dst = m
			if len(m) == 0 {
				p.canonical = false
			}
		}
		return err
	case p.at('n'):
		*dst = nil
		p.canonical = false
		return p.literal("null")
	}
	p.wrong("properties", "wrong type: expected an object")
	return p.skip(2)
}

// object reads an object at nesting level whose values are at depth in
// the property prop, or, when top, the properties object itself (its
// values are at depth 0, each in the property it names).
func (p *parser) object(depth, level int, top bool, prop string) (map[string]any, *ItemError) {
	empty, err := p.open(level)
	if err != nil {
		return nil, err
	}
	base, keysBase := len(p.stack), len(p.keys)
	keyMax := -1
	if top {
		keyMax = MaxPropertyKey
	}
	for more := !empty; more; {
		if len(p.stack)-base == MaxProperties {
			if top {
				return nil, &ItemError{Field: "properties", Message: msgTooManyProperties}
			}
			return nil, over(prop, msgTooManyKeys)
		}
		key, err := p.key(keyMax)
		if err != nil {
			return nil, err
		}
		if key == nil {
			return nil, &ItemError{Field: "properties", Message: msgKeyTooLong}
		}
		k, err := p.keep(key, 0)
		if err != nil {
			return nil, err
		}
		if len(p.keys) > keysBase && k <= p.keys[len(p.keys)-1] {
			p.canonical = false // Encode sorts the keys
		}
		var v any
		if top {
			prop = k
			v, err = p.property(level+1, prop)
		} else {
			v, err = p.value(depth, level+1, prop)
		}
		if err != nil {
			return nil, err
		}
		p.keys = append(p.keys, k)
		p.stack = append(p.stack, v)
		if more, err = p.next('}'); err != nil {
			return nil, err
		}
	}
	if top && p.lazy && p.canonical && len(p.keys) > keysBase {
		// Built only if the item turns out not to be kept (settle).
		p.deferred, p.deferredAt = true, [2]int{base, keysBase}
		return nil, nil
	}
	return p.build(base, keysBase)
}

// scalar is a string or a number at b[from:to] whose value goes on the
// stack at at.
type scalar struct {
	at, from, to int
	number       bool
}

// property reads the value of a property as value does, but leaves a
// string or a number unboxed while the item may be kept (lazy): build
// boxes it if the properties are built after all.
func (p *parser) property(level int, prop string) (any, *ItemError) {
	if !p.lazy || !p.canonical || !p.more() {
		return p.value(0, level, prop)
	}
	switch c, start := p.b[p.i], p.i; {
	case c == '"':
		s, err := p.valueString(prop)
		switch {
		case err != nil:
			return nil, err
		case !p.canonical: // an escape: the item is not kept
			return p.keep(s, headerSize)
		}
		p.scalars = append(p.scalars, scalar{at: len(p.stack), from: p.plain, to: p.plain + len(s)})
		return nil, nil
	case c == '-' || '0' <= c && c <= '9':
		if err := p.number(); err != nil {
			return nil, err
		}
		p.scalars = append(p.scalars, scalar{at: len(p.stack), from: start, to: p.i, number: true})
		return nil, nil
	}
	return p.value(0, level, prop)
}

func (p *parser) scalarText(sc scalar) string {
	if p.s != "" {
		return p.s[sc.from:sc.to]
	}
	return string(p.b[sc.from:sc.to])
}

// build makes the map of the keys and values on the stack from base and
// keysBase, boxing the scalars among them.
func (p *parser) build(base, keysBase int) (map[string]any, *ItemError) {
	keys, values := p.keys[keysBase:], p.stack[base:]
	for _, sc := range p.scalars {
		if sc.at < base {
			continue
		}
		p.plain = sc.from
		s, err := p.keep(p.b[sc.from:sc.to], headerSize)
		if err != nil {
			return nil, err
		}
		if sc.number {
			p.stack[sc.at] = stdjson.Number(s)
		} else {
			p.stack[sc.at] = s
		}
	}
	if !p.hold(mapSize(len(keys))) {
		return nil, errOverBudget
	}
	m := make(map[string]any, len(keys))
	for i, k := range keys {
		m[k] = values[i]
	}
	p.pop(base, keysBase)
	return m, nil
}

// settle ends an item whose properties were left unbuilt: they stay so
// when the item is kept as its encoding, they pass what Validate checks
// of properties (the parser checked the rest: their number, the lengths
// of keys and strings, the nesting), and Validate reads none of them for
// the event's type (checksProperties), so that Validate finds the same of
// the event without them; else they are built.
func (p *parser) settle(ev *Event) *ItemError {
	if !p.deferred {
		return nil
	}
	p.deferred = false
	base, keysBase := p.deferredAt[0], p.deferredAt[1]
	if p.canonical && !checksProperties(ev.Type) && !slices.ContainsFunc(p.stack[base:], func(v any) bool { return checkValue(v, 0) != "" }) &&
		!slices.ContainsFunc(p.scalars, func(sc scalar) bool {
			return sc.number && numberProblem(stdjson.Number(p.scalarText(sc))) != ""
		}) {
		p.pop(base, keysBase)
		return nil
	}
	m, err := p.build(base, keysBase)
	ev.Properties = m
	return err
}

// array reads an array at nesting level whose items are at depth in the
// property prop.
func (p *parser) array(depth, level int, prop string) ([]any, *ItemError) {
	empty, err := p.open(level)
	if err != nil {
		return nil, err
	}
	base := len(p.stack)
	for more := !empty; more; {
		if len(p.stack)-base == MaxProperties {
			return nil, over(prop, msgTooManyItems)
		}
		v, err := p.value(depth, level+1, prop)
		if err != nil {
			return nil, err
		}
		p.stack = append(p.stack, v)
		if more, err = p.next(']'); err != nil {
			return nil, err
		}
	}
	if !p.hold(sliceBox + allocSize(itemSize*(len(p.stack)-base))) {
		return nil, errOverBudget
	}
	items := make([]any, len(p.stack)-base)
	copy(items, p.stack[base:])
	p.pop(base, len(p.keys))
	return items, nil
}

// pop drops the values and keys from base and keysBase on.
func (p *parser) pop(base, keysBase int) {
	clear(p.stack[base:])
	p.stack = p.stack[:base]
	clear(p.keys[keysBase:])
	p.keys = p.keys[:keysBase]
	for len(p.scalars) > 0 && p.scalars[len(p.scalars)-1].at >= base {
		p.scalars = p.scalars[:len(p.scalars)-1]
	}
}

// value reads a value at depth in the property prop (depth 0 is the
// property's own value) and at nesting level if an array or object.
func (p *parser) value(depth, level int, prop string) (any, *ItemError) {
	if depth > maxValueDepth {
		return nil, over(prop, msgTooDeep)
	}
	if !p.more() {
		return nil, p.syntax("")
	}
	switch c := p.b[p.i]; {
	case c == '"':
		s, err := p.valueString(prop)
		if err != nil {
			return nil, err
		}
		return p.keep(s, headerSize)
	case c == '{':
		return p.object(depth+1, level, false, prop)
	case c == '[':
		return p.array(depth+1, level, prop)
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		start := p.i
		if err := p.number(); err != nil {
			return nil, err
		}
		p.plain = start
		s, err := p.keep(p.b[start:p.i], headerSize)
		return stdjson.Number(s), err
	}
	return nil, p.syntax("looking for beginning of value")
}

// valueString reads a string value of the property prop, refusing one
// longer than MaxPropertyValue; its bytes are str's.
func (p *parser) valueString(prop string) ([]byte, *ItemError) {
	s, long, err := p.str(MaxPropertyValue)
	if long {
		return nil, over(prop, msgValueTooLong)
	}
	return s, err
}

// skip reads any value, whose arrays and objects would be at nesting level,
// building nothing.
func (p *parser) skip(level int) *ItemError {
	if !p.more() {
		return p.syntax("")
	}
	switch c := p.b[p.i]; {
	case c == '"':
		return p.skipString()
	case c == '{', c == '[':
		end := byte(']')
		if c == '{' {
			end = '}'
		}
		empty, err := p.open(level)
		for more := !empty; more && err == nil; {
			if end == '}' {
				if !p.at('"') {
					return p.syntax("looking for beginning of object key string")
				}
				if err := p.skipString(); err != nil {
					return err
				}
				p.ws()
				if !p.at(':') {
					return p.syntax("after object key")
				}
				p.i++
				p.ws()
			}
			if err = p.skip(level + 1); err == nil {
				more, err = p.next(end)
			}
		}
		return err
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return p.number()
	}
	return p.syntax("looking for beginning of value")
}

// skipString reads a string, checking its escapes, decoding nothing.
func (p *parser) skipString() *ItemError {
	p.i++ // "
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return nil
		case c < 0x20:
			return p.syntax("in string literal")
		case c == '\\':
			p.i++
			if !p.more() {
				return p.syntax("")
			}
			switch p.b[p.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i++
			case 'u':
				p.i++
				if _, err := p.hex4(); err != nil {
					return err
				}
			default:
				return p.syntax("in string escape code")
			}
		default:
			p.i++
		}
	}
	return p.syntax("")
}

// str reads a string and returns its decoded bytes, valid until the next
// string is read. Past max decoded bytes (no limit when max < 0) it stops
// at once and reports it is too long, with the rest unread.
func (p *parser) str(max int) (s []byte, long bool, err *ItemError) {
	p.i++ // "
	start := p.i
	// Most strings have no escapes: they are their own bytes.
	p.plain = start
	end := len(p.b)
	if max >= 0 && max < end-start {
		end = start + max
	}
	i := start
	for {
		for i < end && asIs[p.b[i]] {
			i++
		}
		if i == end || !plainByte[p.b[i]] {
			break
		}
		// A byte Encode escapes: <, > and &, and the first of U+2028 and
		// U+2029 (E2 80 A8 and E2 80 A9), and of other runes.
		if p.b[i] != 0xe2 || i+2 < len(p.b) && p.b[i+1] == 0x80 && p.b[i+2]&^1 == 0xa8 {
			p.canonical = false
		}
		i++
	}
	p.i = i
	if i == len(p.b) {
		return nil, false, p.syntax("")
	}
	switch c := p.b[i]; {
	case c == '"':
		p.i++
		return p.b[start:i], false, nil
	case c == '\\':
		return p.unescape(start, max)
	case c < 0x20:
		return nil, false, p.syntax("in string literal")
	}
	p.i++ // the byte past max
	return nil, true, nil
}

// plainByte is a byte that stands for itself in a JSON string, and asIs
// one that Encode writes as it is too.
var plainByte, asIs = func() (plain, asIs [256]bool) {
	for c := 0x20; c < 256; c++ {
		plain[c] = c != '"' && c != '\\'
		asIs[c] = plain[c] && c != '<' && c != '>' && c != '&' && c != 0xe2
	}
	return plain, asIs
}()

// unescape goes on reading a string that has an escape at p.i, decoding it
// as encoding/json does: a \u escape of half a surrogate pair without the
// other half is U+FFFD.
func (p *parser) unescape(start, max int) ([]byte, bool, *ItemError) {
	p.plain, p.canonical = -1, false
	p.buf = append(p.buf[:0], p.b[start:p.i]...)
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '"':
			p.i++
			return p.buf, false, nil
		case c < 0x20:
			return nil, false, p.syntax("in string literal")
		case c != '\\':
			p.buf = append(p.buf, c)
			p.i++
		default:
			p.i++
			if !p.more() {
				return nil, false, p.syntax("")
			}
			e := p.b[p.i]
			p.i++
			switch e {
			case '"', '\\', '/':
				p.buf = append(p.buf, e)
			case 'b':
				p.buf = append(p.buf, '\b')
			case 'f':
				p.buf = append(p.buf, '\f')
			case 'n':
				p.buf = append(p.buf, '\n')
			case 'r':
				p.buf = append(p.buf, '\r')
			case 't':
				p.buf = append(p.buf, '\t')
			case 'u':
				r, err := p.hex4()
				if err != nil {
					return nil, false, err
				}
				if utf16.IsSurrogate(r) {
					r2 := utf8.RuneError
					if p.i+1 < len(p.b) && p.b[p.i] == '\\' && p.b[p.i+1] == 'u' {
						save := p.i
						p.i += 2
						if r2, err = p.hex4(); err != nil {
							return nil, false, err
						}
						if r2 = utf16.DecodeRune(r, r2); r2 == utf8.RuneError {
							p.i = save // the second escape stands on its own
						}
					}
					r = r2
				}
				p.buf = utf8.AppendRune(p.buf, r)
			default:
				p.i--
				return nil, false, p.syntax("in string escape code")
			}
		}
		if max >= 0 && len(p.buf) > max {
			return nil, true, nil
		}
	}
	return nil, false, p.syntax("")
}

func (p *parser) hex4() (rune, *ItemError) {
	var r rune
	for range 4 {
		if !p.more() {
			return 0, p.syntax("")
		}
		c := p.b[p.i]
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, p.syntax(`in \u hexadecimal character escape`)
		}
		r = r<<4 | rune(c)
		p.i++
	}
	return r, nil
}

// number reads a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *parser) number() *ItemError {
	digits := func() *ItemError {
		if !p.more() || p.b[p.i] < '0' || p.b[p.i] > '9' {
			return p.syntax("in numeric literal")
		}
		for p.more() && '0' <= p.b[p.i] && p.b[p.i] <= '9' {
			p.i++
		}
		return nil
	}
	if p.at('-') {
		p.i++
	}
	if p.at('0') {
		p.i++
	} else if err := digits(); err != nil {
		return err
	}
	if p.at('.') {
		p.i++
		if err := digits(); err != nil {
			return err
		}
	}
	if p.at('e') || p.at('E') {
		p.i++
		if p.at('+') || p.at('-') {
			p.i++
		}
		if err := digits(); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) literal(word string) *ItemError {
	for j := range len(word) {
		if !p.at(word[j]) {
			return p.syntax(fmt.Sprintf("in literal %s (expecting %s)", word, quoteChar(word[j])))
		}
		p.i++
	}
	return nil
}
