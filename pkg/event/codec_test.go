package event

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ndjsonBatch is n typical events of about 250 bytes, one per line.
func ndjsonBatch(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, `{"id":"evt-%08d","type":"web.page_viewed","contact_id":"c-%06d","account_id":"acme-%04d.com",`+
			`"time":"2026-11-20T10:00:00Z","source":"website","properties":{"url":"https://acme.com/pricing/enterprise?utm_source=news","percent":75}}`+"\n",
			i, i%100000, i%1000)
	}
	return b.Bytes()
}

func BenchmarkDecode(b *testing.B) {
	const n = 1000
	body := ndjsonBatch(n)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		evs, err := Decode(bytes.NewReader(body), "application/x-ndjson", DefaultLimits)
		if err != nil || len(evs) != n {
			b.Fatalf("%d events: %v", len(evs), err)
		}
	}
	b.ReportMetric(float64(b.N)*n/b.Elapsed().Seconds(), "events/s")
}

// FuzzDecodeRoundTrip checks what the pipeline relies on: an event the
// ingestor decodes and finds valid is still valid, and the same event, after
// the ingestor encodes it for Kafka and the scorer decodes it back; an item
// the decoder keeps as the event's encoding is Encode's (encodingProperty);
// and Decode fails only with the typed errors the HTTP layer maps to 400
// and 413.
func FuzzDecodeRoundTrip(f *testing.F) {
	f.Add([]byte(`{"id":"e1","type":"email.opened","contact_id":"c-1","time":"2026-11-20T10:00:00Z"}`), "application/json")
	f.Add([]byte(`[{"id":"e1","type":"account.updated","account_id":"acme.com","time":"2026-11-20T10:00:00.123456789+05:30",`+
		`"properties":{"employees":1200,"technologies":["go","kafka"],"tier":"named"}}]`), "")
	f.Add([]byte(`{"id":"e","type":"a.b","contact_id":"c","time":"2026-11-20T10:00:00-01:00","properties":`+
		`{"n":123456789012345678901234567890,"x":[[{"y":1e308}]],"s":"\ud800","z":-0.0e-7,"u":"\u00e9\u2028"}}`), "application/x-ndjson")
	f.Add([]byte(`{"id":"e","type":"a.b","contact_id":"c","account_id":"a","time":"2026-11-20T10:00:00.5+01:00","source":"s",`+
		`"properties":{"":null,"a":[1,-0.5e3,true,{"b":{},"c":[]}],"é":"<x>"}}`+"\n"+
		`{"id":"f","type":"a.b","contact_id":"c","time":"2026-11-20T10:00:00Z","properties":{"k":"v"}}`), "")
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		lim := Limits{MaxBytes: 1 << 16, MaxEvents: 100, MaxDepth: 8}
		encodingProperty(t, body, ct, lim)
		evs, err := Decode(bytes.NewReader(body), ct, lim)
		if err != nil {
			var tl *TooLargeError
			var ie ItemErrors
			if !errors.As(err, &tl) && !errors.As(err, &ie) {
				t.Fatalf("untyped error: %v", err)
			}
			if len(ie) > 0 && ie[0].Message == "" {
				t.Fatal("item error without a message")
			}
			if evs != nil {
				t.Fatal("events returned with an error")
			}
			return
		}
		if len(evs) == 0 || len(evs) > lim.MaxEvents {
			t.Fatalf("%d events without an error", len(evs))
		}
		for i := range evs {
			ev := &evs[i]
			valid := len(ev.Validate(time.Time{})) == 0
			b, err := json.Marshal(ev)
			if err != nil {
				if valid {
					t.Fatalf("valid event does not encode: %v", err)
				}
				continue
			}
			var back Event // as the scorer reads it: no UseNumber
			if err := json.Unmarshal(b, &back); err != nil {
				if valid {
					t.Fatalf("valid event does not decode after encoding: %v\n%s", err, b)
				}
				continue
			}
			if got := back.Validate(time.Time{}); valid != (len(got) == 0) {
				t.Fatalf("valid=%v, but after a round trip: %v\n%s", valid, got, b)
			}
			if !valid {
				continue
			}
			again, err := Decode(bytes.NewReader(b), "application/x-ndjson", lim)
			if err != nil {
				t.Fatalf("re-decode: %v\n%s", err, b)
			}
			a, c := *ev, again[0]
			if !a.Time.Equal(c.Time) {
				t.Fatalf("time %v became %v", a.Time, c.Time)
			}
			a.Time, c.Time = time.Time{}, time.Time{}
			if !reflect.DeepEqual(a, c) {
				t.Fatalf("%#v\nbecame\n%#v", a, c)
			}
		}
	})
}

func TestDecodeFixes(t *testing.T) {
	t.Parallel()
	const item = `{"id":"e1","type":"email.opened","contact_id":"c-1","time":"2026-11-20T10:00:00Z"}`
	pretty := "{\n  \"id\": \"e1\",\n  \"type\": \"email.opened\",\n  \"contact_id\": \"c-1\",\n  \"time\": \"2026-11-20T10:00:00Z\"\n}\n"
	for _, tt := range []struct {
		name, ct, body string
		n              int
		index          int
		msg            string
	}{
		{name: "pretty-printed object", ct: "application/json", body: pretty, n: 1},
		{name: "pretty-printed object without a Content-Type", body: pretty, n: 1},
		{name: "pretty-printed array", ct: "application/json", body: "[\n" + pretty + ",\n" + pretty + "]", n: 2},
		{name: "broken pretty-printed object is one item", ct: "application/json", body: "{\n  \"id\": \"e1\",\n}", index: 0, msg: "invalid JSON"},
		{name: "two pretty objects", ct: "application/json", body: pretty + pretty, index: 0, msg: "NDJSON"},
		{name: "array broken at item 3", ct: "application/json", body: "[" + item + "," + item + "," + item + `,{"id":},` + item + "]", index: 3, msg: "invalid JSON"},
		{name: "array missing a comma at item 1", ct: "application/json", body: "[" + item + " " + item + "]", index: 1, msg: "invalid JSON"},
		{name: "array cut in item 2", ct: "application/json", body: "[" + item + "," + item + `,{"id":"e`, index: 2, msg: "invalid JSON"},
		{name: "array without ]", ct: "application/json", body: "[" + item + "," + item, index: 0, msg: "invalid JSON array"},
		{name: "data after the array", ct: "application/json", body: "[" + item + "]]", index: 0, msg: "after the closing ]"},
		{name: "wrong type named as JSON", ct: "application/json", body: `{"id":"e","properties":[1]}`, index: 0, msg: "wrong type: expected an object"},
		{name: "string expected", ct: "application/json", body: `{"id":{}}`, index: 0, msg: "wrong type: expected a string"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			evs, err := Decode(strings.NewReader(tt.body), tt.ct, DefaultLimits)
			if tt.msg == "" {
				require.NoError(t, err)
				require.Len(t, evs, tt.n)
				assert.Equal(t, "e1", evs[0].ID)
				return
			}
			var ie ItemErrors
			require.True(t, errors.As(err, &ie), "got %v", err)
			assert.Equal(t, tt.index, ie[0].Index)
			assert.Contains(t, ie[0].Message, tt.msg)
		})
	}
}

func TestBool(t *testing.T) {
	t.Parallel()
	ev := Event{Properties: map[string]any{
		"b": true, "s": "true", "y": " Yes ", "one": "1", "f": 1.0, "n": json.Number("1"), "i": 1, "i64": int64(2),
		"no": false, "zs": "0", "zn": json.Number("0"), "zf": 0.0, "bad": json.Number("x"), "list": []any{true},
	}}
	for name, want := range map[string]bool{
		"b": true, "s": true, "y": true, "one": true, "f": true, "n": true, "i": true, "i64": true,
		"no": false, "zs": false, "zn": false, "zf": false, "bad": false, "list": false, "missing": false,
	} {
		assert.Equal(t, want, ev.Bool(name), name)
	}
}
