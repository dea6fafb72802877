package event

import (
	"bytes"
	stdjson "encoding/json"
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
// or ItemErrors; validation of each event is the caller's (Validate).
func Decode(r io.Reader, contentType string, lim Limits) ([]Event, error) {
	if lim.MaxBytes <= 0 {
		lim = DefaultLimits
	}
	body, err := io.ReadAll(io.LimitReader(r, lim.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if int64(len(body)) > lim.MaxBytes {
		return nil, &TooLargeError{What: "body", Limit: lim.MaxBytes}
	}
	// RFC 8259 lets a parser ignore a byte order mark; some Windows tools
	// write one.
	trimmed := bytes.TrimSpace(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")))
	if len(trimmed) == 0 {
		return nil, ItemErrors{{Index: 0, Message: "empty body"}}
	}
	switch {
	case strings.HasPrefix(contentType, "application/x-ndjson"):
		return decodeLines(trimmed, lim)
	case trimmed[0] == '[':
		return decodeArray(trimmed, lim)
	case trimmed[0] == '{' && sniffLines(trimmed):
		return decodeLines(trimmed, lim)
	case trimmed[0] == '{':
		var ev Event
		if ie := decodeItem(trimmed, &ev, lim); ie != nil {
			return nil, ItemErrors{*ie}
		}
		return []Event{ev}, nil
	}
	return nil, ItemErrors{{Index: 0, Message: "body must be a JSON object, a JSON array or NDJSON"}}
}

// sniffLines reports whether a body that is not declared NDJSON is NDJSON
// anyway: its first line is a whole JSON value and more lines follow. A
// pretty-printed object fails the first test.
func sniffLines(body []byte) bool {
	first, rest, _ := bytes.Cut(body, []byte{'\n'})
	return len(bytes.TrimSpace(rest)) > 0 && json.Valid(first)
}

func decodeLines(body []byte, lim Limits) ([]Event, error) {
	n := bytes.Count(body, []byte{'\n'}) + 1
	if n > lim.MaxEvents {
		// Blank lines are skipped below; count exactly before refusing.
		n = 0
		for line := range bytes.Lines(body) {
			if len(bytes.TrimSpace(line)) > 0 {
				n++
			}
		}
		if n > lim.MaxEvents {
			return nil, &TooLargeError{What: "event count", Limit: int64(lim.MaxEvents)}
		}
	}
	out := make([]Event, 0, n)
	var errs ItemErrors
	i := 0
	for line := range bytes.Lines(body) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var ev Event
		if ie := decodeItem(line, &ev, lim); ie != nil {
			ie.Index = i
			errs = append(errs, *ie)
		}
		out = append(out, ev)
		i++
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

func decodeArray(body []byte, lim Limits) ([]Event, error) {
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		index, msg := brokenItem(body)
		return nil, ItemErrors{{Index: index, Message: msg}}
	}
	if len(raws) > lim.MaxEvents {
		return nil, &TooLargeError{What: "event count", Limit: int64(lim.MaxEvents)}
	}
	if len(raws) == 0 {
		return nil, ItemErrors{{Index: 0, Message: "empty array"}}
	}
	out := make([]Event, len(raws))
	var errs ItemErrors
	for i, raw := range raws {
		if ie := decodeItem(raw, &out[i], lim); ie != nil {
			ie.Index = i
			errs = append(errs, *ie)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// brokenItem says which item of a JSON array that does not parse is broken,
// so the client learns its index. Only refused bodies pay for this second
// pass; the array's own faults (a missing ], data after it) are item 0's.
func brokenItem(body []byte) (int, string) {
	dec := stdjson.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil {
		return 0, "invalid JSON array: " + err.Error()
	}
	for i := 0; dec.More(); i++ {
		var raw stdjson.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return i, "invalid JSON: " + err.Error()
		}
	}
	if _, err := dec.Token(); err != nil {
		return 0, "invalid JSON array: " + err.Error()
	}
	if _, err := dec.Token(); err != io.EOF {
		return 0, "invalid JSON array: data after the closing ]"
	}
	return 0, "invalid JSON array"
}

func decodeItem(raw []byte, ev *Event, lim Limits) *ItemError {
	if len(raw) == 0 || raw[0] != '{' {
		return &ItemError{Message: "each event must be a JSON object"}
	}
	if !utf8.Valid(raw) {
		return &ItemError{Message: "not valid UTF-8"}
	}
	if depth(raw) > lim.MaxDepth {
		return &ItemError{Message: fmt.Sprintf("nested deeper than %d", lim.MaxDepth)}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(ev); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			if te.Type == reflect.TypeFor[time.Time]() {
				return &ItemError{Field: te.Field, Message: "must be an RFC 3339 string"}
			}
			return &ItemError{Field: te.Field, Message: "wrong type: expected " + jsonType(te.Type)}
		}
		var pe *time.ParseError
		if errors.As(err, &pe) || strings.Contains(err.Error(), "Time.UnmarshalJSON") {
			return &ItemError{Field: "time", Message: "must be an RFC 3339 string"}
		}
		return &ItemError{Message: "invalid JSON: " + err.Error()}
	}
	if dec.More() {
		return &ItemError{Message: "more than one JSON value in one item (send NDJSON: one object per line)"}
	}
	return nil
}

// jsonType names a Go type as the JSON a client should have sent.
func jsonType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8,
		reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	}
	return t.String()
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
