package event

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on single fields. They keep one event small enough that state, keys
// and logs stay bounded whatever a caller sends.
const (
	MaxIDLen         = 128
	MaxTypeLen       = 64
	MaxSourceLen     = 64
	MaxProperties    = 64
	MaxPropertyKey   = 64
	MaxPropertyValue = 2048
	// MaxFuture is how far ahead of the receiver's clock an event time may be.
	MaxFuture = 5 * time.Minute
)

// maxValueDepth is how deeply arrays and objects may nest in a property
// value: a value deeper than this is refused.
const maxValueDepth = 4

// Messages of the limits, as Validate reports them and as the decoder,
// which enforces the same limits while it reads a body, reports them too.
var (
	msgTooManyProperties = fmt.Sprintf("more than %d properties", MaxProperties)
	msgKeyTooLong        = fmt.Sprintf("key longer than %d bytes", MaxPropertyKey)
	msgValueTooLong      = longerThan(MaxPropertyValue)
	msgTooManyItems      = fmt.Sprintf("more than %d items", MaxProperties)
	msgTooManyKeys       = fmt.Sprintf("more than %d keys", MaxProperties)
	msgTooDeep           = "nested too deeply"
)

func longerThan(n int) string { return fmt.Sprintf("longer than %d bytes", n) }

// MinTime is the earliest event time accepted: state keeps times as Unix
// seconds, where 0 and below mean "never", so an earlier time is a bug in
// the sender, not history.
var MinTime = time.Unix(0, 0).UTC()

// validType reports whether t is lower-case dotted, like web.page_viewed
// (^[a-z0-9_]+(\.[a-z0-9_]+)+$), without a regular expression: the scorer
// checks every event, and this is its hottest validation.
func validType(t string) bool {
	dots, last := 0, byte('.')
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c == '.':
			if last == '.' {
				return false
			}
			dots++
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '_':
		default:
			return false
		}
		last = c
	}
	return dots > 0 && last != '.'
}

// Event is one thing that happened to a contact or an account.
type Event struct {
	ID         string         `json:"id"`
	Type       string         `json:"type"`
	ContactID  string         `json:"contact_id,omitempty"`
	AccountID  string         `json:"account_id,omitempty"`
	Time       time.Time      `json:"time"`
	Source     string         `json:"source,omitempty"`
	Properties map[string]any `json:"properties,omitempty"`
}

// ContactMerged is the type of the event that merges one contact into
// another: ContactID is the contact absorbed (an anonymous visitor, or a
// duplicate), its property MergeInto the contact it becomes part of.
const (
	ContactMerged = "contact.merged"
	MergeInto     = "into"
)

// checksProperties reports whether Validate reads the properties of an
// event of type typ beyond their limits (contact.merged's "into"): the
// decoder builds them even for an item it keeps as posted.
func checksProperties(typ string) bool { return typ == ContactMerged }

// IsAccountEvent reports whether the event is about an account rather than a
// contact (`account.*` types), which changes which ids it needs.
func (e *Event) IsAccountEvent() bool { return strings.HasPrefix(e.Type, "account.") }

// Key is the Kafka message key: the account id, else the contact id, so that
// one account's events stay in order on one partition.
func (e *Event) Key() string {
	if e.AccountID != "" {
		return e.AccountID
	}
	return e.ContactID
}

// FieldError says which field of an event is wrong and why.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e FieldError) Error() string { return e.Field + ": " + e.Message }

// Validate checks the event against the contract. now is the receiver's
// clock, used to refuse times too far in the future; a zero now skips that
// check (replay of history already accepted once). It returns every problem.
func (e *Event) Validate(now time.Time) []FieldError {
	var errs []FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	checkID := func(field, v string, required bool) {
		switch {
		case v == "":
			if required {
				add(field, "is required")
			}
		case len(v) > MaxIDLen:
			add(field, "%s", longerThan(MaxIDLen))
		default:
			if msg := idProblem(v); msg != "" {
				add(field, "%s", msg)
			}
		}
	}
	checkID("id", e.ID, true)
	switch {
	case e.Type == "":
		add("type", "is required")
	case len(e.Type) > MaxTypeLen:
		add("type", "%s", longerThan(MaxTypeLen))
	case !validType(e.Type):
		add("type", "must be lower-case dotted, like web.page_viewed")
	}
	if e.IsAccountEvent() {
		checkID("account_id", e.AccountID, true)
		checkID("contact_id", e.ContactID, false)
	} else {
		checkID("contact_id", e.ContactID, true)
		checkID("account_id", e.AccountID, false)
	}
	if e.Type == ContactMerged {
		v, present := e.Properties[MergeInto]
		into, text := v.(string)
		if present && !text {
			add("properties."+MergeInto, "must be a string: the id of the contact to merge into")
		} else {
			checkID("properties."+MergeInto, into, true)
		}
		if into != "" && into == e.ContactID {
			add("properties."+MergeInto, "names the contact being merged: a contact cannot merge into itself")
		}
	}
	switch {
	case e.Time.IsZero():
		add("time", "is required (RFC 3339)")
	case !e.Time.After(MinTime):
		add("time", "is not after 1970-01-01T00:00:00Z")
	case !now.IsZero() && e.Time.After(now.Add(MaxFuture)):
		add("time", "is more than %s in the future", MaxFuture)
	}
	if len(e.Source) > MaxSourceLen {
		add("source", "%s", longerThan(MaxSourceLen))
	}
	if len(e.Properties) > MaxProperties {
		add("properties", "%s", msgTooManyProperties)
	}
	for k, v := range e.Properties {
		if len(k) > MaxPropertyKey {
			add("properties", "%s", msgKeyTooLong)
			continue
		}
		if msg := checkValue(v, 0); msg != "" {
			add("properties."+k, "%s", msg)
		}
	}
	return errs
}

// idProblem says what is wrong with the bytes of an id, or "": not UTF-8,
// or else control characters. Most ids are printable ASCII, which one
// pass over the bytes tells; the others have their runes checked.
func idProblem(v string) string {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c >= 0x7f {
			return runeProblem(v)
		}
	}
	return ""
}

// runeProblem is idProblem, rune by rune.
func runeProblem(v string) string {
	switch {
	case !utf8.ValidString(v):
		return "is not valid UTF-8"
	case strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "contains control characters"
	}
	return ""
}

// numberProblem is checkValue of a number.
func numberProblem(x json.Number) string {
	f, err := x.Float64()
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return "is not a finite number"
	}
	return ""
}

// checkValue bounds a property value: JSON never yields NaN or Inf, but a
// value may be nested deeply or be huge.
func checkValue(v any, depth int) string {
	if depth > maxValueDepth {
		return msgTooDeep
	}
	switch x := v.(type) {
	case string:
		if len(x) > MaxPropertyValue {
			return msgValueTooLong
		}
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "is not a finite number"
		}
	case json.Number:
		return numberProblem(x)
	case []any:
		if len(x) > MaxProperties {
			return msgTooManyItems
		}
		for _, item := range x {
			if msg := checkValue(item, depth+1); msg != "" {
				return msg
			}
		}
	case map[string]any:
		if len(x) > MaxProperties {
			return msgTooManyKeys
		}
		for _, item := range x {
			if msg := checkValue(item, depth+1); msg != "" {
				return msg
			}
		}
	}
	return ""
}

// String returns the named string property, or "" when absent or not a string.
func (e *Event) String(name string) string {
	s, _ := e.Properties[name].(string)
	return s
}

// Number returns the named numeric property and whether it was present as a
// number (a numeric string such as "75" counts).
func (e *Event) Number(name string) (float64, bool) {
	switch x := e.Properties[name].(type) {
	case float64:
		return x, true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case string:
		var f float64
		if _, err := fmt.Sscanf(x, "%g", &f); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f, true
		}
	}
	return 0, false
}

// Strings returns the named property as a list of strings: a JSON array of
// strings, or a single string as a list of one.
func (e *Event) Strings(name string) []string {
	switch x := e.Properties[name].(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, item := range x {
			if s, ok := item.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return x
	}
	return nil
}

// Bool returns the named boolean property: true, "true", "yes" or "1"
// (ignoring case and spaces), or a non-zero number in any of the forms
// Number accepts as a number type.
func (e *Event) Bool(name string) bool {
	switch x := e.Properties[name].(type) {
	case bool:
		return x
	case string:
		s := strings.ToLower(strings.TrimSpace(x))
		return s == "true" || s == "yes" || s == "1"
	case float64, json.Number, int, int64:
		v, ok := e.Number(name)
		return ok && v != 0
	}
	return false
}

// Has reports whether the property is present.
func (e *Event) Has(name string) bool {
	_, ok := e.Properties[name]
	return ok
}
