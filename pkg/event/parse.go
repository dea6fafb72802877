package event

import (
	stdjson "encoding/json"
	"fmt"
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
// The body is valid UTF-8 and nests at most maxDepth deep (decoder.item
// checks both first), so strings are copied as they are and recursion is
// bounded; skip, used to find the items of an array, checks the depth
// itself.
type parser struct {
	b        []byte
	i        int
	maxDepth int
	// wrongType is the first field with a value of the wrong type. The
	// rest of the item is still read (a syntax error or a limit takes
	// precedence, as with encoding/json), then it is reported.
	wrongType *ItemError
	// buf holds a string being unescaped.
	buf []byte
	// stack holds the values of the arrays being read, and the keys and
	// values of the objects, until they end and are built at their size.
	stack []any
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
	p.b, p.i, p.maxDepth, p.wrongType = b, 0, maxDepth, nil
	p.pop(0)
}

func (p *parser) more() bool { return p.i < len(p.b) }

func (p *parser) at(c byte) bool { return p.i < len(p.b) && p.b[p.i] == c }

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
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
		return err
	}
	for {
		// No field's name folds from more than 30 bytes: a longer key is
		// not decoded.
		key, err := p.key(30)
		if err != nil {
			return err
		}
		switch {
		case fieldIs(key, "id"):
			err = p.text(&ev.ID, "id", MaxIDLen)
		case fieldIs(key, "type"):
			err = p.text(&ev.Type, "type", MaxTypeLen)
		case fieldIs(key, "contact_id"):
			err = p.text(&ev.ContactID, "contact_id", MaxIDLen)
		case fieldIs(key, "account_id"):
			err = p.text(&ev.AccountID, "account_id", MaxIDLen)
		case fieldIs(key, "source"):
			err = p.text(&ev.Source, "source", MaxSourceLen)
		case fieldIs(key, "time"):
			err = p.time(&ev.Time)
		case fieldIs(key, "properties"):
			err = p.properties(&ev.Properties)
		default:
			err = p.skip(2)
		}
		if err != nil {
			return err
		}
		if more, err := p.next('}'); err != nil || !more {
			return err
		}
	}
}

// fieldIs matches a key to a field's name as encoding/json does: exactly,
// or else ignoring case by Unicode simple folding (so "propertieſ" is
// properties too; a rune folding to an ASCII letter takes at most three
// bytes). No two names of Event fold to each other.
func fieldIs(key []byte, name string) bool {
	return key != nil && len(key) <= 3*len(name) && strings.EqualFold(string(key), name)
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
		if !p.hold(allocSize(len(s))) {
			return errOverBudget
		}
		*dst = string(s)
		return nil
	case p.at('n'):
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
		var t time.Time
		if t.UnmarshalJSON(p.b[start:p.i]) != nil {
			p.wrong("time", msg)
			return nil
		}
		*dst = t
		return nil
	case p.at('n'):
		return p.literal("null")
	}
	p.wrong("time", msg)
	return p.skip(2)
}

// properties reads the properties object, replacing what dst held; null
// empties it.
func (p *parser) properties(dst *map[string]any) *ItemError {
	switch {
	case p.at('{'):
		m, err := p.object(0, 2, true, "")
		if err == nil {
			*dst = m
		}
		return err
	case p.at('n'):
		*dst = nil
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
	base := len(p.stack)
	keyMax := -1
	if top {
		keyMax = MaxPropertyKey
	}
	for more := !empty; more; {
		if len(p.stack)-base == 2*MaxProperties {
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
		if !p.hold(allocSize(len(key))) {
			return nil, errOverBudget
		}
		k := string(key)
		if top {
			prop = k
		}
		v, err := p.value(depth, level+1, prop)
		if err != nil {
			return nil, err
		}
		p.stack = append(p.stack, k, v)
		if more, err = p.next('}'); err != nil {
			return nil, err
		}
	}
	kv := p.stack[base:]
	if !p.hold(mapSize(len(kv) / 2)) {
		return nil, errOverBudget
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	p.pop(base)
	return m, nil
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
	p.pop(base)
	return items, nil
}

func (p *parser) pop(base int) {
	clear(p.stack[base:])
	p.stack = p.stack[:base]
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
		s, long, err := p.str(MaxPropertyValue)
		switch {
		case err != nil:
			return nil, err
		case long:
			return nil, over(prop, msgValueTooLong)
		}
		if !p.hold(headerSize + allocSize(len(s))) {
			return nil, errOverBudget
		}
		return string(s), nil
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
		if !p.hold(headerSize + allocSize(p.i-start)) {
			return nil, errOverBudget
		}
		return stdjson.Number(p.b[start:p.i]), nil
	}
	return nil, p.syntax("looking for beginning of value")
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
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return p.b[start : p.i-1], false, nil
		case c == '\\':
			return p.unescape(start, max)
		case c < 0x20:
			return nil, false, p.syntax("in string literal")
		}
		p.i++
		if max >= 0 && p.i-start > max {
			return nil, true, nil
		}
	}
	return nil, false, p.syntax("")
}

// unescape goes on reading a string that has an escape at p.i, decoding it
// as encoding/json does: a \u escape of half a surrogate pair without the
// other half is U+FFFD.
func (p *parser) unescape(start, max int) ([]byte, bool, *ItemError) {
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
