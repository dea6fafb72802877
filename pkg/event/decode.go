package event

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	json "github.com/goccy/go-json"
)

// Limits bound what one request may carry.
type Limits struct {
	MaxBytes  int64
	MaxEvents int
	// MaxDepth bounds JSON nesting inside one event.
	MaxDepth int
}

// DefaultLimits are 5 MiB, 10,000 events and depth 16.
var DefaultLimits = Limits{MaxBytes: 5 << 20, MaxEvents: 10000, MaxDepth: 16}

// TooLargeError says a body or batch is over a limit (HTTP 413).
type TooLargeError struct {
	What  string
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s over the limit of %d", e.What, e.Limit)
}

// ItemError is a problem with one item of a batch.
type ItemError struct {
	Index   int    `json:"index"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// ItemErrors lists the problems of a batch (HTTP 400).
type ItemErrors []ItemError

func (e ItemErrors) Error() string {
	if len(e) == 0 {
		return "no errors"
	}
	return fmt.Sprintf("%d invalid item(s); first: item %d %s: %s", len(e), e[0].Index, e[0].Field, e[0].Message)
}

// Decode reads one JSON event object (on one line or pretty-printed), a JSON
// array of them, or NDJSON (one object per line; chosen by the content type
// application/x-ndjson, or sniffed when the first line is a whole JSON value
// and more lines follow). Unknown fields are accepted and
// ignored, so producers can send extra context without breaking. Numbers in
// properties keep their exact text (json.Number). It returns *TooLargeError
// or ItemErrors; validation of each event is the caller's (Validate), but
// the limits on properties and on the lengths of fields are enforced while
// decoding (see parser): a body over one is refused having built nothing
// over it, and one whose events would hold more than HeldPerByte times its
// size is refused (*TooLargeError) before they do.
func Decode(r io.Reader, contentType string, lim Limits) ([]Event, error) {
	if lim.MaxBytes <= 0 {
		lim = DefaultLimits
	}
	body, err := io.ReadAll(io.LimitReader(r, lim.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	return DecodeBytes(body, contentType, lim)
}

// DecodeBytes is Decode of a body already read. The events do not share
// memory with it.
func DecodeBytes(body []byte, contentType string, lim Limits) ([]Event, error) {
	b, err := decodeBody(body, contentType, lim, false)
	return b.Events, err
}

// Batch is the events of a body, in order, and the encodings of those
// that were posted already encoded.
type Batch struct {
	// Events are the events, those of kept items (Encoded[i] set) without
	// their properties: they stay in the encoding (Event(i) has them),
	// checked as Validate checks properties, so that Validate finds the
	// same of the event with them or without.
	Events []Event
	// Encoded[i], when not nil, is Encode of Event(i): the item as it was
	// in the body, which was exactly that, so that publishing need not
	// encode it again. It is a slice of the body, which must not change.
	Encoded [][]byte
}

// DecodeBatch is DecodeBytes that keeps the items that were exactly what
// Encode makes of their events (Batch.Encoded), without building their
// properties. The events do not share memory with the body; the
// encodings do.
func DecodeBatch(body []byte, contentType string, lim Limits) (Batch, error) {
	return decodeBody(body, contentType, lim, true)
}

// decodeBody decodes a body, leaving the properties of kept items
// unbuilt when lazy.
func decodeBody(body []byte, contentType string, lim Limits, lazy bool) (Batch, error) {
	if lim.MaxBytes <= 0 {
		lim = DefaultLimits
	}
	if int64(len(body)) > lim.MaxBytes {
		return Batch{}, &TooLargeError{What: "body", Limit: lim.MaxBytes}
	}
	// RFC 8259 lets a parser ignore a byte order mark; some Windows tools
	// write one.
	trimmed := bytes.TrimSpace(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")))
	if len(trimmed) == 0 {
		return Batch{}, ItemErrors{{Index: 0, Message: "empty body"}}
	}
	d := decoder{lim: lim, body: trimmed}
	d.p.budget, d.p.lazy = HeldPerByte*len(body)+heldSlack, lazy
	switch {
	case strings.HasPrefix(contentType, "application/x-ndjson"):
		return d.lines(trimmed)
	case trimmed[0] == '[':
		return d.array(trimmed)
	case trimmed[0] == '{' && d.sniffLines(trimmed):
		return d.lines(trimmed)
	case trimmed[0] == '{':
		d.reserve(1)
		d.add(0, trimmed)
		return d.result()
	}
	return Batch{}, ItemErrors{{Index: 0, Message: "body must be a JSON object, a JSON array or NDJSON"}}
}

// HeldPerByte bounds what the events decoded from a body may hold in
// memory: HeldPerByte bytes for each byte of the body, and heldSlack more.
// No limit on single fields stops a body from building far more than its
// size (a one-key object costs a 336-byte map for 7 bytes of JSON, so the
// limits allow 5 MiB bodies that take 280 MB); typical events take 3 times
// their size. A body over the budget is refused (413) before what would
// exceed it is built.
const HeldPerByte = 16

const heldSlack = 4 << 10

// decoder decodes the items of one body with one parser, whose buffers
// are reused from item to item.
type decoder struct {
	lim Limits
	p   parser
	// body holds the items; chunk is a copy of body from chunkAt on, whose
	// substrings the strings of the items in it are (text).
	body    []byte
	chunk   string
	chunkAt int
	// out collects the events until an item fails; after that, each item
	// is decoded into spare only to report its problems, so a refused
	// batch holds one event at a time.
	out []Event
	// encoded collects the items that were exactly their events' Encode,
	// nil for the others (Batch.Encoded).
	encoded [][]byte
	spare   Event
	errs    ItemErrors
	// overBudget is set once the events would hold more than the budget.
	overBudget bool
}

var eventSize = int(reflect.TypeFor[Event]().Size())

// reserve makes room for n events.
func (d *decoder) reserve(n int) {
	if !d.p.hold(n * eventSize) {
		d.overBudget = true
		return
	}
	d.out = make([]Event, 0, n)
	d.encoded = make([][]byte, 0, n)
}

// add decodes the item at index into the next event, and reports whether
// to go on.
func (d *decoder) add(index int, raw []byte) bool {
	if d.overBudget {
		return false
	}
	ev := &d.spare
	if len(d.errs) == 0 {
		d.out = append(d.out, Event{})
		ev = &d.out[len(d.out)-1]
	} else {
		// Nothing decoded so far is held any more.
		d.spare, d.p.held = Event{}, 0
	}
	ie := d.item(raw, ev)
	switch {
	case ie == errOverBudget:
		d.overBudget = true
		return false
	case ie != nil:
		ie.Index = index
		d.errs = append(d.errs, *ie)
		d.out, d.encoded = nil, nil
	case len(d.errs) == 0:
		var enc []byte
		if d.p.canonical {
			enc = raw
		}
		d.encoded = append(d.encoded, enc)
	}
	return true
}

func (d *decoder) result() (Batch, error) {
	switch {
	case d.overBudget:
		return Batch{}, &TooLargeError{What: fmt.Sprintf("memory to hold the decoded events (%d bytes per byte of body, and %d)", HeldPerByte, heldSlack),
			Limit: int64(d.p.budget)}
	case len(d.errs) > 0:
		return Batch{}, d.errs
	}
	return Batch{Events: d.out, Encoded: d.encoded}, nil
}

// sniffLines reports whether a body that is not declared NDJSON is NDJSON
// anyway: its first line is a whole JSON value and more lines follow. A
// pretty-printed object fails the first test.
func (d *decoder) sniffLines(body []byte) bool {
	first, rest, _ := bytes.Cut(body, []byte{'\n'})
	if len(bytes.TrimSpace(rest)) == 0 {
		return false
	}
	d.p.reset(bytes.TrimSpace(first), d.lim.MaxDepth)
	return d.p.skip(1) == nil && !d.p.more()
}

func (d *decoder) lines(body []byte) (Batch, error) {
	n := bytes.Count(body, []byte{'\n'}) + 1
	if n > d.lim.MaxEvents {
		// Blank lines are skipped below; count exactly before refusing.
		n = 0
		for line := range bytes.Lines(body) {
			if len(bytes.TrimSpace(line)) > 0 {
				n++
			}
		}
		if n > d.lim.MaxEvents {
			return Batch{}, &TooLargeError{What: "event count", Limit: int64(d.lim.MaxEvents)}
		}
	}
	d.reserve(n)
	i := 0
	// Lines are cut by hand, not with bytes.Lines, so that each is a slice
	// of body to its end, as text wants them.
	for rest := body; len(rest) > 0; {
		line := rest
		if n := bytes.IndexByte(rest, '\n'); n >= 0 {
			line, rest = rest[:n+1], rest[n+1:]
		} else {
			rest = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if !d.add(i, line) {
			break
		}
		i++
	}
	return d.result()
}

// array finds the items of a JSON array, refusing more than MaxEvents at
// the first one over and naming a broken item by its index, then decodes
// them.
func (d *decoder) array(body []byte) (Batch, error) {
	arrayError := func(msg string) (Batch, error) {
		return Batch{}, ItemErrors{{Index: 0, Message: "invalid JSON array: " + msg}}
	}
	var s parser // finds the items; d.p decodes each
	s.reset(body, d.lim.MaxDepth)
	s.i++ // [
	s.ws()
	if s.at(']') {
		s.i++
		s.ws()
		if s.more() {
			return arrayError("data after the closing ]")
		}
		return Batch{}, ItemErrors{{Index: 0, Message: "empty array"}}
	}
	var items [][2]int
	for more := true; more; {
		if len(items) == d.lim.MaxEvents {
			return Batch{}, &TooLargeError{What: "event count", Limit: int64(d.lim.MaxEvents)}
		}
		// An item's nesting is counted from the item, as a whole event's.
		start := s.i
		if ie := s.skip(1); ie != nil {
			ie.Index = len(items)
			return Batch{}, ItemErrors{*ie}
		}
		items = append(items, [2]int{start, s.i})
		s.ws()
		switch {
		case s.at(','):
			s.i++
			s.ws()
		case s.at(']'):
			s.i++
			s.ws()
			if s.more() {
				return arrayError("data after the closing ]")
			}
			more = false
		case !s.more():
			return arrayError("unexpected end of JSON input")
		default:
			return Batch{}, ItemErrors{{Index: len(items), Message: s.syntax("after array element").Message}}
		}
	}
	d.reserve(len(items))
	for i, item := range items {
		if !d.add(i, body[item[0]:item[1]]) {
			break
		}
	}
	return d.result()
}

// item decodes one event object. An item that is not UTF-8, or nests
// deeper than MaxDepth, is refused for that whatever else is wrong with
// it; both are checked only once parsing failed or succeeded (a parse that
// succeeds never went deeper), so that an item is read once.
func (d *decoder) item(raw []byte, ev *Event) *ItemError {
	if len(raw) == 0 || raw[0] != '{' {
		return &ItemError{Message: "each event must be a JSON object"}
	}
	ie := d.parse(raw, ev)
	switch {
	case !utf8.Valid(raw):
		return &ItemError{Message: "not valid UTF-8"}
	case ie != nil && depth(raw) > d.lim.MaxDepth:
		return &ItemError{Message: fmt.Sprintf("nested deeper than %d", d.lim.MaxDepth)}
	}
	return ie
}

// chunkSize is how much of a body is copied at once for the strings of
// its items, and the largest item whose strings are substrings of a copy.
// A larger item, or one after an item was refused, gets a string for each
// string it holds, so that a body refused for a huge item (or for many) is
// not copied whole once more.
const chunkSize = 64 << 10

func (d *decoder) parse(raw []byte, ev *Event) *ItemError {
	p := &d.p
	p.reset(raw, d.lim.MaxDepth)
	if len(raw) <= chunkSize && len(d.errs) == 0 {
		p.s = d.text(raw)
	}
	if ie := p.event(ev); ie != nil {
		return ie
	}
	if p.wrongType != nil {
		return p.wrongType
	}
	p.ws()
	if p.more() {
		return &ItemError{Message: "more than one JSON value in one item (send NDJSON: one object per line)"}
	}
	return p.settle(ev)
}

// text returns an item, a slice of the body, as a string: a slice of the
// chunk of the body copied last, or of a new chunk of up to chunkSize
// bytes from the item on, whose size counts as held from now; "" when
// that would be over the budget.
func (d *decoder) text(raw []byte) string {
	// An item is a slice of body to its end, so its room left tells where
	// it is.
	at := cap(d.body) - cap(raw)
	if len(raw) == 0 || at < 0 || at+len(raw) > len(d.body) || &d.body[at] != &raw[0] {
		return "" // not of the body: each string is copied
	}
	if at < d.chunkAt || at+len(raw) > d.chunkAt+len(d.chunk) {
		n := max(len(raw), min(chunkSize, len(d.body)-at))
		if d.p.held+allocSize(n) > d.p.budget {
			return ""
		}
		d.p.held += allocSize(n)
		d.chunk, d.chunkAt = string(d.body[at:at+n]), at
	}
	return d.chunk[at-d.chunkAt : at-d.chunkAt+len(raw)]
}

// depth is the deepest nesting of objects and arrays, ignoring strings.
func depth(b []byte) int {
	d, most, inString, escaped := 0, 0, false, false
	for _, c := range b {
		switch {
		case escaped:
			escaped = false
		case inString:
			switch c {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			d++
			most = max(most, d)
		case c == '}' || c == ']':
			d--
		}
	}
	return most
}

// Unmarshal decodes one event, as a consumer of the events topic does. Its
// errors never quote the input: a time that does not parse is reported
// without its text, which might be anything (an email address), since
// errors end up in logs.
func Unmarshal(data []byte, ev *Event) error {
	err := json.Unmarshal(data, ev)
	if err == nil {
		return nil
	}
	var pe *time.ParseError
	if errors.As(err, &pe) || strings.Contains(err.Error(), "parsing time") {
		return errors.New("time: must be an RFC 3339 string")
	}
	return err
}
