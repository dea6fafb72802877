package event

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// TestLimitsAreEnforcedWhileDecoding: a field over a limit is refused by
// Decode itself, with the field and message Validate gives it, so a body
// over a limit is never built.
func TestLimitsAreEnforcedWhileDecoding(t *testing.T) {
	t.Parallel()
	list := func(n int, item string) string { return strings.TrimSuffix(strings.Repeat(item+",", n), ",") }
	keys := func(n int, value string) string {
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`"k` + strings.Repeat("x", i) + `":` + value)
		}
		return b.String()
	}
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	for _, tt := range []struct {
		name, fields string
		ok           bool
		field, msg   string
	}{
		{"64 properties", `"properties":{` + keys(64, "1") + `}`, true, "", ""},
		{"65 properties", `"properties":{` + keys(65, "1") + `}`, false, "properties", "more than 64 properties"},
		{"65 properties, one a duplicate", `"properties":{` + keys(64, "1") + `,"k":2}`, false, "properties", "more than 64 properties"},
		{"a key of 64 bytes", `"properties":{"` + strings.Repeat("k", 64) + `":1}`, true, "", ""},
		{"a key of 65 bytes", `"properties":{"` + strings.Repeat("k", 65) + `":1}`, false, "properties", "key longer than 64 bytes"},
		{"a key of 64 bytes escaped", `"properties":{"` + strings.Repeat(`\u006b`, 64) + `":1}`, true, "", ""},
		{"a value of 2048 bytes", `"properties":{"v":"` + strings.Repeat("x", 2048) + `"}`, true, "", ""},
		{"a value of 2049 bytes", `"properties":{"v":"` + strings.Repeat("x", 2049) + `"}`, false, "properties.v", "longer than 2048 bytes"},
		{"a value of 2048 bytes escaped", `"properties":{"v":"` + strings.Repeat(`\n`, 2048) + `"}`, true, "", ""},
		{"a value of 2049 bytes escaped", `"properties":{"v":"` + strings.Repeat(`\u00e9`, 1025) + `"}`, false, "properties.v", "longer than 2048 bytes"},
		{"a nested value of 2049 bytes", `"properties":{"v":[{"w":"` + strings.Repeat("x", 2049) + `"}]}`, false, "properties.v", "longer than 2048 bytes"},
		{"64 items", `"properties":{"v":[` + list(64, "{}") + `]}`, true, "", ""},
		{"65 items", `"properties":{"v":[` + list(65, "{}") + `]}`, false, "properties.v", "more than 64 items"},
		{"65 nested keys", `"properties":{"v":{` + keys(65, "{}") + `}}`, false, "properties.v", "more than 64 keys"},
		{"nested 4 deep", `"properties":{"v":` + nest(5) + `}`, true, "", ""},
		{"nested 5 deep", `"properties":{"v":[` + nest(5) + `]}`, false, "properties.v", "nested too deeply"},
		{"a scalar 5 deep", `"properties":{"v":[[[[[1]]]]]}`, false, "properties.v", "nested too deeply"},
		{"an id of 128 bytes", `"id":"` + strings.Repeat("x", 128) + `"`, true, "", ""},
		{"an id of 129 bytes", `"id":"` + strings.Repeat("x", 129) + `"`, false, "id", "longer than 128 bytes"},
		{"a contact_id of 129 bytes", `"contact_id":"` + strings.Repeat("x", 129) + `"`, false, "contact_id", "longer than 128 bytes"},
		{"an account_id of 129 bytes", `"account_id":"` + strings.Repeat("x", 129) + `"`, false, "account_id", "longer than 128 bytes"},
		{"a type of 65 bytes", `"type":"a.` + strings.Repeat("b", 63) + `"`, false, "type", "longer than 64 bytes"},
		{"a source of 65 bytes", `"source":"` + strings.Repeat("s", 65) + `"`, false, "source", "longer than 64 bytes"},
		{"a folded key is the field", `"Propertieſ":{"v":[` + list(65, "0") + `]}`, false, "properties.v", "more than 64 items"},
		{"an unknown field is not limited", `"extra":{"v":[` + list(1000, "{}") + `]}`, true, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := `{"id":"e1","type":"a.b","contact_id":"c","time":"2026-11-20T10:00:00Z",` + tt.fields + `}`
			evs, err := Decode(strings.NewReader(body), "application/json", DefaultLimits)
			if tt.ok {
				require.NoError(t, err)
				assert.Empty(t, evs[0].Validate(time.Time{}))
				return
			}
			var ie ItemErrors
			require.True(t, errors.As(err, &ie), "refused while decoding, not after: %v", err)
			assert.Equal(t, ItemErrors{{Index: 0, Field: tt.field, Message: tt.msg}}, ie)
			// Validate says the same of what encoding/json makes of the body,
			// unless a key given twice counts once there.
			var ev stdEvent
			if !duplicateKeys([]byte(body)) && stdjson.Unmarshal([]byte(body), &ev) == nil {
				if e, err := ev.event(); err == nil {
					assert.Contains(t, e.Validate(time.Time{}), FieldError{Field: tt.field, Message: tt.msg})
				}
			}
		})
	}
}

func TestTooMuchToHoldIs413(t *testing.T) {
	t.Parallel()
	// 4,096 one-key objects in an event: 30 KiB of JSON, 1.5 MiB as maps.
	var b strings.Builder
	b.WriteString(`{"id":"e1","type":"a.b","contact_id":"c","time":"2026-11-20T10:00:00Z","properties":{`)
	for i := range 64 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"p` + strings.Repeat("x", i) + `":[` + strings.TrimSuffix(strings.Repeat(`{"":0},`, 64), ",") + `]`)
	}
	b.WriteString("}}")
	_, err := Decode(strings.NewReader(b.String()), "", DefaultLimits)
	var tl *TooLargeError
	require.True(t, errors.As(err, &tl), "got %v", err)
	assert.Equal(t, int64(HeldPerByte*b.Len()+heldSlack), tl.Limit)
	assert.Contains(t, tl.Error(), "memory to hold the decoded events")
}

// TestARefusedBatchIsJudgedOneEventAtATime: once an item is refused, the
// events after it are decoded only to report their problems and dropped,
// so they count against the budget one at a time: eight events that would
// hold 50 times their size together are still judged one by one.
func TestARefusedBatchIsJudgedOneEventAtATime(t *testing.T) {
	t.Parallel()
	heavy := `{"id":"e","type":"a.b","contact_id":"c","time":"2026-11-20T10:00:00Z","properties":{"p":[` +
		strings.TrimSuffix(strings.Repeat(`{"":0},`, 64), ",") + `]}}`
	body := `{"id":` + "\n" + strings.Repeat(heavy+"\n", 8)
	_, err := Decode(strings.NewReader(body), "application/x-ndjson", DefaultLimits)
	var ie ItemErrors
	require.True(t, errors.As(err, &ie), "got %v", err)
	assert.Equal(t, 0, ie[0].Index)

	_, err = Decode(strings.NewReader(strings.Repeat(heavy+"\n", 8)), "application/x-ndjson", DefaultLimits)
	var tl *TooLargeError
	assert.True(t, errors.As(err, &tl), "the same events, kept, are over the budget: %v", err)
}

// stdEvent is an Event as encoding/json decodes it, with a key given twice
// counting the last time for properties too (encoding/json would merge the
// two objects).
type stdEvent struct {
	ID         string             `json:"id"`
	Type       string             `json:"type"`
	ContactID  string             `json:"contact_id"`
	AccountID  string             `json:"account_id"`
	Time       time.Time          `json:"time"`
	Source     string             `json:"source"`
	Properties stdjson.RawMessage `json:"properties"`
}

func (s *stdEvent) event() (Event, error) {
	e := Event{ID: s.ID, Type: s.Type, ContactID: s.ContactID, AccountID: s.AccountID, Time: s.Time, Source: s.Source}
	if s.Properties == nil {
		return e, nil
	}
	dec := stdjson.NewDecoder(bytes.NewReader(s.Properties))
	dec.UseNumber()
	return e, dec.Decode(&e.Properties)
}

// duplicateKeys reports whether an object in a valid JSON body has a key
// twice.
func duplicateKeys(body []byte) bool {
	dec := stdjson.NewDecoder(bytes.NewReader(body))
	type level struct {
		object bool
		keys   []string
		key    bool // the next string is a key
	}
	var stack []*level
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return false
		}
		if err != nil {
			return false
		}
		var top *level
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if s, ok := tok.(string); ok && top != nil && top.object && top.key {
			if slices.Contains(top.keys, s) {
				return true
			}
			top.keys = append(top.keys, s)
			top.key = false
			continue
		}
		if top != nil && top.object {
			top.key = true
		}
		switch tok {
		case stdjson.Delim('{'):
			stack = append(stack, &level{object: true, key: true})
		case stdjson.Delim('['):
			stack = append(stack, &level{})
		case stdjson.Delim('}'), stdjson.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) > 0 && stack[len(stack)-1].object {
				stack[len(stack)-1].key = true
			}
		}
	}
}

// FuzzItemDecodesAsEncodingJSON: an event the decoder accepts is what
// encoding/json makes of it; what encoding/json refuses, the decoder
// refuses; and what encoding/json accepts the decoder accepts too, unless
// it is over a limit (as Validate finds it), nested deeper than allowed, not
// UTF-8 (encoding/json replaces bad bytes) or has a key twice (the decoder
// counts keys as written).
func FuzzItemDecodesAsEncodingJSON(f *testing.F) {
	for _, s := range []string{
		one,
		`{"id":"e","ID":"f","Id":null,"type":"a.b","properties":{"a":1},"properties":{"b":[true,null,-0.5e+3,"\ud83d\ude00\ud800x"]}}`,
		`{"id":"e","time":"2026-11-20T10:00:00.123456789+05:30","propertieſ":{"K":{"":{}}},"source":"\u0073"}`,
		`{"id":5,"properties":[1],"time":"yesterday","extra":[[{"a":"\"\\\/\b\f\n\r\t"}]]}`,
		`{"properties":{"v":[` + strings.Repeat(`{},`, 64) + `{}]}}`,
		`{"id":"e"} {"id":"f"}`,
		`{"id":"e",}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		body = bytes.TrimSpace(body)
		lim := Limits{MaxBytes: 1 << 16, MaxEvents: 100, MaxDepth: 8}
		d := decoder{lim: lim, body: body}
		d.p.budget = 1 << 40
		var got Event
		ie := d.item(body, &got)
		var s stdEvent
		stdErr := stdjson.Unmarshal(body, &s)
		var want Event
		if stdErr == nil {
			want, stdErr = s.event()
		}
		switch {
		case ie == nil && stdErr != nil:
			t.Fatalf("accepted what encoding/json refuses (%v)", stdErr)
		case ie == nil:
			if !got.Time.Equal(want.Time) {
				t.Fatalf("time %v, encoding/json %v", got.Time, want.Time)
			}
			got.Time, want.Time = time.Time{}, time.Time{}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("decoded\n%#v\nencoding/json\n%#v", got, want)
			}
		case stdErr == nil && len(body) > 0 && body[0] == '{' && utf8.Valid(body) && depth(body) <= lim.MaxDepth && !duplicateKeys(body):
			for _, fe := range want.Validate(time.Time{}) {
				for _, limit := range []string{"longer than", "more than", "nested too deeply"} {
					if strings.HasPrefix(fe.Message, limit) || strings.HasPrefix(fe.Message, "key "+limit) {
						return
					}
				}
			}
			t.Fatalf("refused (%v) what encoding/json accepts within the limits", ie)
		}
	})
}

// TestUTCTimeIsTheTimeParsers: where utcTime reads a time, it is the time
// time.Time.UnmarshalJSON reads, location included; where that parser
// refuses a text, utcTime does too. Texts are drawn near the form utcTime
// reads: every field at and past its limits, fractions of 0 to 11 digits,
// separators and the zone sometimes wrong.
func TestUTCTimeIsTheTimeParsers(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		digits := func(label string, n, max int) string {
			return fmt.Sprintf("%0*d", n, rapid.IntRange(0, max).Draw(t, label))
		}
		sep := func(label string, want byte) string {
			return string(rapid.SampledFrom([]byte{want, want, want, want, '/', ' ', 'x'}).Draw(t, label))
		}
		text := digits("year", 4, 9999) + sep("dash1", '-') + digits("month", 2, 13) + sep("dash2", '-') +
			digits("day", 2, 32) + sep("t", 'T') + digits("hour", 2, 24) + sep("colon1", ':') +
			digits("minute", 2, 60) + sep("colon2", ':') + digits("second", 2, 61)
		if n := rapid.IntRange(0, 11).Draw(t, "fraction"); n > 0 {
			text += "." + digits("digits", n, 999999999)[:n]
		} else if rapid.Bool().Draw(t, "dot") {
			text += "."
		}
		text += rapid.SampledFrom([]string{"Z", "Z", "Z", "z", "+00:00", "-07:00", ""}).Draw(t, "zone")

		fast, ok := utcTime([]byte(text))
		var want time.Time
		err := want.UnmarshalJSON([]byte(`"` + text + `"`))
		if ok {
			if err != nil {
				t.Fatalf("%s: utcTime read %v, the time parser refused it: %v", text, fast, err)
			}
			if !fast.Equal(want) || fast.Location() != want.Location() || fast != want {
				t.Fatalf("%s: utcTime read %#v, the time parser %#v", text, fast, want)
			}
		} else if err == nil && utcForm.MatchString(text) {
			t.Fatalf("%s: the time parser read %v, utcTime did not", text, want)
		}
	})
}

// utcForm is the form utcTime reads.
var utcForm = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$`)
