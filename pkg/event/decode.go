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

// Decode reads one JSON event object, a JSON array of them, or NDJSON (one
// object per line; chosen by the content type application/x-ndjson or by
// finding more than one top-level object). Unknown fields are accepted and
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
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, ItemErrors{{Index: 0, Message: "empty body"}}
	}
	switch {
	case strings.HasPrefix(contentType, "application/x-ndjson"):
		return decodeLines(trimmed, lim)
	case trimmed[0] == '[':
		return decodeArray(trimmed, lim)
	case trimmed[0] == '{':
		return decodeLines(trimmed, lim)
	}
	return nil, ItemErrors{{Index: 0, Message: "body must be a JSON object, a JSON array or NDJSON"}}
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
		return nil, ItemErrors{{Index: 0, Message: "invalid JSON array: " + err.Error()}}
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
			return &ItemError{Field: te.Field, Message: "wrong type: expected " + te.Type.String()}
		}
		var pe *time.ParseError
		if errors.As(err, &pe) || strings.Contains(err.Error(), "Time.UnmarshalJSON") {
			return &ItemError{Field: "time", Message: "must be an RFC 3339 string"}
		}
		return &ItemError{Message: "invalid JSON: " + err.Error()}
	}
	if dec.More() {
		return &ItemError{Message: "more than one JSON value on the line"}
	}
	return nil
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
