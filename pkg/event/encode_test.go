package event

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// TestAnItemIsKeptOnlyWhenItIsItsEncoding: the decoder keeps an item as
// its event's encoding exactly when it is what Encode makes of the event,
// and a kept item is always byte for byte what Encode makes of it; every
// other item is encoded again.
func TestAnItemIsKeptOnlyWhenItIsItsEncoding(t *testing.T) {
	t.Parallel()
	const head = `{"id":"e1","type":"web.page_viewed","contact_id":"c-1","account_id":"acme.com","time":"2026-11-20T10:00:00Z"`
	for _, tt := range []struct {
		name, item string
		kept       bool
	}{
		{"the fewest fields", `{"id":"e1","type":"email.opened","contact_id":"c-1","time":"2026-11-20T10:00:00Z"}`, true},
		{"every field", head + `,"source":"zoom","properties":{"url":"https://acme.com/pricing?a=1"}}`, true},
		{"numbers as written", head + `,"properties":{"a":-0,"b":1E5,"c":1e+05,"d":0.10,"e":123456789012345678901234567890,"f":-0.0e-7}}`, true},
		{"nested values, keys in byte order", head + `,"properties":{"":null,"B":true,"a":[[],{},[1,"x",{"k":false}]],"b":{"y":{},"z":[]},"é":"ü"}}`, true},
		{"runes beside U+2028", head + `,"properties":{"a":"` + "\u2027 \u202a 😀 \ufeff" + `"}}`, true},
		{"a time with a fraction and an offset", `{"id":"e1","type":"a.b","contact_id":"c","time":"2026-11-20T10:00:00.123456789+05:30"}`, true},
		{"values of the largest length", `{"id":"` + strings.Repeat("i", MaxIDLen) + `","type":"a.b","contact_id":"c","time":"2026-11-20T10:00:00Z","properties":{"v":"` +
			strings.Repeat("x", MaxPropertyValue) + `"}}`, true},

		{"a unicode escape", `{"id":"e1","type":"a.b","contact_id":"c-\u00e9","time":"2026-11-20T10:00:00Z"}`, false},
		{"an escaped letter in a key", `{"\u0069d":"e1","type":"a.b","contact_id":"c","time":"2026-11-20T10:00:00Z"}`, false},
		{"an escaped quote", head + `,"properties":{"q":"a\"b"}}`, false},
		{"a surrogate pair", head + `,"properties":{"q":"\ud83d\ude00"}}`, false},
		{"<, > and & written as they are", head + `,"properties":{"h":"<b>&"}}`, false},
		{"U+2028 written as it is", head + `,"properties":{"h":"a` + "\u2028" + `b"}}`, false},
		{"U+2029 in a key", head + `,"properties":{"` + "\u2029" + `":1}}`, false},
		{"an id given twice", `{"id":"e0","id":"e1","type":"a.b","contact_id":"c","time":"2026-11-20T10:00:00Z"}`, false},
		{"a property given twice", head + `,"properties":{"a":1,"a":1}}`, false},
		{"properties out of order", head + `,"properties":{"b":1,"a":2}}`, false},
		{"nested keys out of order", head + `,"properties":{"a":{"z":1,"y":2}}}`, false},
		{"fields out of order", `{"id":"e1","type":"a.b","time":"2026-11-20T10:00:00Z","contact_id":"c"}`, false},
		{"a field after the properties", head + `,"properties":{"a":"x","b":[1,"y"],"n":-1.5e3,"t":true},"source":"s"}`, false},
		{"an unknown field after the properties", head + `,"properties":{"a":"x","n":2},"x":{"n":3}}`, false},
		{"properties given twice", head + `,"properties":{"a":"x","n":2},"properties":{"b":"y"}}`, false},
		{"properties, then null", head + `,"properties":{"a":"x","n":2},"properties":null}`, false},
		{"a key out of order after strings and numbers", head + `,"properties":{"a":"x","b":2,"a0":"z","c":3}}`, false},
		{"an escape after strings and numbers", head + `,"properties":{"a":"x","b":2,"c":"\u0041","d":4}}`, false},
		{"properties without an id", `{"type":"a.b","contact_id":"c","time":"2026-11-20T10:00:00Z","properties":{"a":"x","n":2}}`, false},
		{"an unknown field", head + `,"extra":1}`, false},
		{"an unknown field first", `{"a":1,"id":"e1","type":"a.b","contact_id":"c","time":"2026-11-20T10:00:00Z"}`, false},
		{"a field named in capitals", `{"ID":"e1","type":"a.b","contact_id":"c","time":"2026-11-20T10:00:00Z"}`, false},
		{"a space", `{"id": "e1","type":"a.b","contact_id":"c","time":"2026-11-20T10:00:00Z"}`, false},
		{"an empty id, which Encode writes", `{"id":"","type":"a.b","contact_id":"c","time":"2026-11-20T10:00:00Z"}`, true},
		{"a null id", `{"id":null,"type":"a.b","contact_id":"c","time":"2026-11-20T10:00:00Z"}`, false},
		{"an empty source", head + `,"source":""}`, false},
		{"a null account_id", `{"id":"e1","type":"a.b","contact_id":"c","account_id":null,"time":"2026-11-20T10:00:00Z"}`, false},
		{"empty properties", head + `,"properties":{}}`, false},
		{"null properties", head + `,"properties":null}`, false},
		{"no time", `{"id":"e1","type":"a.b","contact_id":"c"}`, false},
		{"a time with zeros after the point", `{"id":"e1","type":"a.b","contact_id":"c","time":"2026-11-20T10:00:00.500Z"}`, false},
		{"a time at +00:00", `{"id":"e1","type":"a.b","contact_id":"c","time":"2026-11-20T10:00:00+00:00"}`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := DecodeBatch([]byte(tt.item), "application/json", DefaultLimits)
			require.NoError(t, err)
			require.Len(t, b.Encoded, 1)
			ev, err := b.Event(0)
			require.NoError(t, err)
			whole, err := DecodeBytes([]byte(tt.item), "application/json", DefaultLimits)
			require.NoError(t, err)
			assert.Equal(t, whole[0], ev, "the same event, kept or not")
			want, err := Encode(&ev)
			require.NoError(t, err)
			if tt.kept {
				assert.Equal(t, tt.item, string(b.Encoded[0]), "kept as posted")
			} else {
				assert.Nil(t, b.Encoded[0], "encoded again")
				assert.Equal(t, whole[0], b.Events[0], "whole")
			}
			got, err := b.Encoding(0)
			require.NoError(t, err)
			assert.Equal(t, string(want), string(got))
		})
	}
}

// TestItemsOfEveryFormAreKept: an item is kept in NDJSON, in an array and
// alone; the items around one that is encoded again are still kept.
func TestItemsOfEveryFormAreKept(t *testing.T) {
	t.Parallel()
	const a, b = `{"id":"e1","type":"a.b","contact_id":"c","time":"2026-11-20T10:00:00Z"}`, `{"id":"e2", "type":"a.b","contact_id":"c","time":"2026-11-20T10:00:00Z"}`
	for _, tt := range []struct{ ct, body string }{
		{"application/x-ndjson", a + "\n" + b + "\r\n\n" + a + "\n"},
		{"", a + "\n" + b + "\n" + a},
		{"application/json", "[ " + a + ",\n" + b + " ," + a + "]"},
	} {
		batch, err := DecodeBatch([]byte(tt.body), tt.ct, DefaultLimits)
		require.NoError(t, err)
		assert.Equal(t, [][]byte{[]byte(a), nil, []byte(a)}, batch.Encoded, tt.body)
	}
	batch, err := DecodeBatch([]byte("\xef\xbb\xbf "+a+"\n"), "application/json", DefaultLimits)
	require.NoError(t, err)
	assert.Equal(t, [][]byte{[]byte(a)}, batch.Encoded)
}

// TestFillSourceKeepsTheEncoding: a kept item given a source is what
// Encode makes of the event with it, whatever the source's characters.
func TestFillSourceKeepsTheEncoding(t *testing.T) {
	t.Parallel()
	body := strings.Join([]string{
		`{"id":"e1","type":"a.b","contact_id":"c","time":"2026-11-20T10:00:00Z"}`,
		`{"id":"e2","type":"a.b","contact_id":"c","time":"2026-11-20T10:00:00.5+01:00","properties":{"time":"\"time\":\"x"}}`,
		`{"id":"e3","type":"a.b","contact_id":"c","time":"2026-11-20T10:00:00Z","source":"crm"}`,
		`{"id":"e4","type":"a.b","contact_id":"c","time":"2026-11-20T10:00:00Z","properties":{"b":1,"a":2}}`,
		`{"id":"e5","type":"a.b","account_id":"time","time":"2026-11-20T10:00:00Z","properties":{"k":"v"}}`,
	}, "\n")
	for _, name := range []string{"zoom", `a "source" <of> & ` + "\u2028é"} {
		b, err := DecodeBatch([]byte(body), "application/x-ndjson", DefaultLimits)
		require.NoError(t, err)
		b.FillSource(name)
		for i := range b.Events {
			want := name
			if i == 2 {
				want = "crm"
			}
			assert.Equal(t, want, b.Events[i].Source)
			ev, err := b.Event(i)
			require.NoError(t, err)
			enc, err := Encode(&ev)
			require.NoError(t, err)
			got, err := b.Encoding(i)
			require.NoError(t, err)
			assert.Equal(t, string(enc), string(got), "event %d", i)
		}
		assert.NotNil(t, b.Encoded[0], "a kept item stays kept")
		assert.NotNil(t, b.Encoded[4])
	}
}

// TestKeptItemsAreRefusedAlike: a kept item's event, its properties left
// in the encoding, is refused for what the whole event is refused for, and
// accepted when it is.
func TestKeptItemsAreRefusedAlike(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	const fields = `{"id":"e1","type":"a.b","contact_id":"c","time":"2026-11-20T10:00:00Z","properties":`
	for _, item := range []string{
		`{"id":"e1","type":"Bad","contact_id":"c","time":"2026-11-20T10:00:00Z","properties":{"a":1}}`,
		`{"id":"e1","type":"a.b","time":"2026-11-20T10:00:00Z","properties":{"a":"x"}}`,
		`{"id":"e1","type":"a.b","contact_id":"c","time":"2099-11-20T10:00:00Z","properties":{"a":[1,2]}}`,
		fields + `{"n":1e999}}`,
		fields + `{"a":1,"n":-1e309,"z":"x"}}`,
		fields + `{"a":[{"b":[1e400]}]}}`,
		fields + `{"a":{"b":1e308,"c":1e-400}}}`,
		fields + `{"a":1,"b":"` + strings.Repeat("x", MaxPropertyValue) + `","c":[[[[1]]]],"d":{"e":{}},"f":null}}`,
	} {
		kept, err := DecodeBatch([]byte(item), "", DefaultLimits)
		require.NoError(t, err)
		require.NotNil(t, kept.Encoded[0], item)
		whole, err := DecodeBytes([]byte(item), "", DefaultLimits)
		require.NoError(t, err)
		assert.Equal(t, whole[0].Validate(at), kept.Events[0].Validate(at), item)
	}
}

// encodingProperty is what FuzzDecodeRoundTrip checks of the encodings the
// decoder keeps: each is Encode's, also once a source is filled in; an
// encoding without escapes, decoded again, is kept whole; and an event
// whose properties are left in its encoding is as valid as it is whole.
func encodingProperty(t *testing.T, body []byte, ct string, lim Limits) {
	b, err := DecodeBatch(body, ct, lim)
	if err != nil {
		return
	}
	if len(b.Encoded) != len(b.Events) {
		t.Fatalf("%d encodings for %d events", len(b.Encoded), len(b.Events))
	}
	whole, err := DecodeBytes(body, ct, lim)
	var tl *TooLargeError
	switch {
	case errors.As(err, &tl):
		return // whole events may hold more than the budget; kept ones hold less
	case err != nil:
		t.Fatalf("DecodeBatch decodes what DecodeBytes refuses: %v", err)
	}
	for i := range whole {
		got, err := b.Event(i)
		if err != nil {
			t.Fatal(err)
		}
		want := whole[i]
		if !got.Time.Equal(want.Time) {
			t.Fatalf("time %v, whole %v", got.Time, want.Time)
		}
		got.Time, want.Time = time.Time{}, time.Time{}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("event %d\n%#v\nwhole\n%#v", i, got, want)
		}
	}
	check := func(what string) {
		for i := range b.Events {
			ev, err := b.Event(i)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if got, want := b.Events[i].Validate(time.Time{}), ev.Validate(time.Time{}); len(got) != len(want) {
				t.Fatalf("%s: %v without the properties, %v with them", what, got, want)
			}
			want, err := Encode(&ev)
			if err != nil {
				if b.Encoded[i] != nil {
					t.Fatalf("%s: kept %s, which does not encode: %v", what, b.Encoded[i], err)
				}
				continue
			}
			if b.Encoded[i] != nil && !bytes.Equal(b.Encoded[i], want) {
				t.Fatalf("%s: kept\n%s\nEncode\n%s", what, b.Encoded[i], want)
			}
			if bytes.IndexByte(want, '\\') >= 0 || len(want) > int(lim.MaxBytes) {
				continue
			}
			again, err := DecodeBatch(want, "application/json", lim)
			if err == nil && again.Encoded[0] == nil {
				t.Fatalf("%s: not kept when decoded again: %s", what, want)
			}
		}
	}
	check("as posted")
	b.FillSource(`s<"`)
	check("with a source")
}

// TestCanonicalTimeIsEncodesTime: a time that parses is taken as Encode
// writes it exactly when Encode writes it so.
func TestCanonicalTimeIsEncodesTime(t *testing.T) {
	t.Parallel()
	check := func(t interface{ Fatalf(string, ...any) }, text string) {
		var tm time.Time
		if tm.UnmarshalJSON([]byte(`"`+text+`"`)) != nil {
			return
		}
		if want := tm.Format(time.RFC3339Nano) == text; canonicalTime([]byte(text)) != want {
			t.Fatalf("%q: canonicalTime %v, Encode writes %q", text, !want, tm.Format(time.RFC3339Nano))
		}
	}
	for _, s := range []string{"2026-11-20T10:00:00Z", "2026-11-20T10:00:00.5Z", "2026-11-20T10:00:00.50Z", "2026-11-20T10:00:00.000000001Z",
		"2026-11-20T10:00:00.0000000001Z", "2026-11-20T10:00:00+05:30", "2026-11-20T10:00:00-00:00", "2026-11-20T10:00:00+00:00",
		"2026-11-20t10:00:00z", "2026-11-20T10:00:00,5Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999-23:59"} {
		check(t, s)
	}
	rapid.Check(t, func(t *rapid.T) {
		digits := func(label string, min, max int) string {
			return fmt.Sprintf("%0*d", len(fmt.Sprint(max)), rapid.IntRange(min, max).Draw(t, label))
		}
		s := digits("year", 0, 9999) + "-" + digits("month", 1, 12) + "-" + digits("day", 1, 28) +
			rapid.SampledFrom([]string{"T", "t", " "}).Draw(t, "T") + digits("hour", 0, 23) + ":" + digits("minute", 0, 59) + ":" + digits("second", 0, 59)
		if n := rapid.IntRange(0, 11).Draw(t, "fraction"); n > 0 {
			s += rapid.SampledFrom([]string{".", ","}).Draw(t, "point") + rapid.StringOfN(rapid.RuneFrom([]rune("0123456789")), n, n, -1).Draw(t, "digits")
		}
		s += rapid.SampledFrom([]string{"Z", "z", "+00:00", "-00:00", "+05:30", "-01:00", "+23:59", "+24:00", "+1:00", ""}).Draw(t, "zone")
		check(t, s)
	})
}

// TestAKeptMergeHasItsPropertiesBuilt: a contact.merged posted as its
// encoding is kept as posted, and its properties are built anyway, since
// Validate reads its "into"; another type's stay in the encoding.
func TestAKeptMergeHasItsPropertiesBuilt(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	merge := Event{ID: "m1", Type: ContactMerged, ContactID: "anon:x", Time: at, Properties: map[string]any{MergeInto: "u-1"}}
	open := Event{ID: "e1", Type: "email.opened", ContactID: "c-1", Time: at, Properties: map[string]any{"subject": "hi"}}
	for _, ev := range []Event{merge, open} {
		b, err := Encode(&ev)
		require.NoError(t, err)
		batch, err := DecodeBatch(b, "application/json", DefaultLimits)
		require.NoError(t, err)
		require.Len(t, batch.Encoded, 1)
		assert.Equal(t, b, batch.Encoded[0], "%s: kept as posted", ev.Type)
		if ev.Type == ContactMerged {
			assert.Equal(t, map[string]any{MergeInto: "u-1"}, batch.Events[0].Properties)
			assert.Empty(t, batch.Events[0].Validate(at))
		} else {
			assert.Nil(t, batch.Events[0].Properties, "left in the encoding")
		}
	}
}
