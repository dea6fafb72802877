package eventtest

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

// Body is a request body and the Content-Type to send it with.
type Body struct {
	Name        string
	ContentType string
	Bytes       []byte
}

// head is a valid event up to its properties.
const head = `{"id":"e1","type":"a.b","contact_id":"c-1","time":"2026-11-20T10:00:00Z",`

// fill writes prefix, then item (separated by sep) as often as fits in size
// bytes with suffix, then suffix.
func fill(size int, prefix, item, sep, suffix string) []byte {
	var b bytes.Buffer
	b.Grow(size)
	b.WriteString(prefix)
	for i := 0; b.Len()+len(sep)+len(item)+len(suffix) <= size; i++ {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(item)
	}
	b.WriteString(suffix)
	return b.Bytes()
}

// keyed writes prefix, then "k<n>":value for n = 0, 1, ... as long as it
// fits in size bytes with suffix, then suffix.
func keyed(size int, prefix, value, suffix string) []byte {
	var b bytes.Buffer
	b.Grow(size)
	b.WriteString(prefix)
	for i := 0; ; i++ {
		item := `"k` + strconv.FormatInt(int64(i), 36) + `":` + value
		if i > 0 {
			item = "," + item
		}
		if b.Len()+len(item)+len(suffix) > size {
			break
		}
		b.WriteString(item)
	}
	b.WriteString(suffix)
	return b.Bytes()
}

// Hostile returns bodies of about size bytes that no limit allows, each
// shaped so that decoding it whole before judging it costs many times its
// size: 1.75 million {} in a property at 5 MiB, keys by the hundred
// thousand, nesting millions deep, huge strings, and top-level arrays or
// NDJSON of empty events.
func Hostile(size int) []Body {
	n := (size - len(head) - 40) / 2
	return []Body{
		{"empty objects in a property array", "application/json", fill(size, head+`"properties":{"x":[`, "{}", ",", "]}}")},
		{"empty objects as properties", "application/json", keyed(size, head+`"properties":{`, "{}", "}}")},
		{"empty arrays in a nested object", "application/json", keyed(size, head+`"properties":{"x":{`, "[]", "}}}")},
		{"arrays nested millions deep", "application/json",
			[]byte(head + `"properties":{"x":` + strings.Repeat("[", n) + strings.Repeat("]", n) + "}}")},
		{"one huge string", "application/json", []byte(head + `"properties":{"x":"` + strings.Repeat("x", size-len(head)-40) + `"}}`)},
		{"strings of the largest length, too many", "application/json", keyed(size, head+`"properties":{`, `"`+strings.Repeat("x", 2048)+`"`, "}}")},
		{"numbers, too many", "application/json", fill(size, head+`"properties":{"x":[`, "0", ",", "]}}")},
		{"a huge id", "application/json", []byte(`{"id":"` + strings.Repeat("x", size-100) + `","type":"a.b","contact_id":"c","time":"2026-11-20T10:00:00Z"}`)},
		{"empty events in an array", "application/json", fill(size, "[", "{}", ",", "]")},
		{"empty events as NDJSON", "application/x-ndjson", fill(size, "", "{}", "\n", "\n")},
	}
}

// nested is an array of width items, each an array of width items, and so
// on depth times, of leaf.
func nested(width, depth int, leaf string) string {
	v := leaf
	for range depth {
		v = "[" + strings.TrimSuffix(strings.Repeat(v+",", width), ",") + "]"
	}
	return v
}

// Largest returns NDJSON bodies of about size bytes that every limit
// allows, shaped to cost the most memory once decoded: 64 properties per
// event, each an array of 64 small objects, empty objects or
// numbers (a one-key object costs a map: over 300 bytes for 7 of JSON),
// strings of the largest length, of characters encoding/json escapes
// (<, six bytes as \u003c) or not, and, for comparison, the smallest events
// and typical ones. No body holds more than 10,000 events.
func Largest(size int) []Body {
	props := func(value string) string {
		var b strings.Builder
		for i := range 64 {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`"p` + strconv.Itoa(i) + `":` + value)
		}
		return `"properties":{` + b.String() + "}"
	}
	events := func(name string, event func(i int) string) Body {
		var b bytes.Buffer
		for i := range 10000 {
			line := event(i) + "\n"
			if b.Len()+len(line) > size {
				break
			}
			b.WriteString(line)
		}
		return Body{name, "application/x-ndjson", b.Bytes()}
	}
	id := func(i int) string { return `{"id":"e` + strconv.Itoa(i) + `",` + head[len(`{"id":"e1",`):] }
	return []Body{
		events("one-key objects in arrays", func(i int) string { return id(i) + props(nested(64, 1, `{"":0}`)) + "}" }),
		events("empty objects in arrays", func(i int) string { return id(i) + props(nested(64, 1, `{}`)) + "}" }),
		events("numbers in arrays", func(i int) string { return id(i) + props(nested(64, 1, `0`)) + "}" }),
		events("strings of the largest length", func(i int) string { return id(i) + props(`"`+strings.Repeat("x", 2048)+`"`) + "}" }),
		events("strings of the largest length, escaped as JSON", func(i int) string {
			return id(i) + props(`"`+strings.Repeat("<", 2048)+`"`) + "}"
		}),
		events("empty objects in an unknown field", func(i int) string {
			return id(i) + `"extra":` + nested(1, 1, "{}"+strings.Repeat(",{}", (size-200)/3)) + "}"
		}),
		events("the smallest events", func(i int) string {
			return `{"id":"` + strconv.Itoa(i) + `","type":"a.b","contact_id":"c","time":"2026-11-20T10:00:00Z"}`
		}),
		events("typical events", func(i int) string {
			return `{"id":"evt-` + strconv.Itoa(i) + `","type":"web.page_viewed","contact_id":"c-` + strconv.Itoa(i%1000) +
				`","account_id":"acme.com","time":"2026-11-20T10:00:00Z","source":"website",` +
				`"properties":{"url":"https://acme.com/pricing/enterprise?utm_source=news","percent":75}}`
		}),
	}
}

// UpTo mixes the lines of heavy (events that hold many times their size)
// into light (events that hold about their size), as many as fit says it
// takes in a body of at most size bytes: the body that holds the most a
// budget allows. ok is false when not even one fits.
func UpTo(heavy, light Body, size int, fit func(Body) bool) (mix Body, ok bool) {
	h := bytes.SplitAfter(heavy.Bytes, []byte("\n"))
	l := bytes.SplitAfter(light.Bytes, []byte("\n"))
	mixed := func(n int) Body {
		body := bytes.Join(h[:n], nil)
		for _, line := range l {
			if len(body)+len(line) > size {
				break
			}
			body = append(body, line...)
		}
		return Body{heavy.Name + " up to the budget", "application/x-ndjson", body}
	}
	for lo, hi := 1, len(h); lo < hi; {
		n := (lo + hi) / 2
		if b := mixed(n); fit(b) {
			mix, ok, lo = b, true, n+1
		} else {
			hi = n
		}
	}
	return mix, ok
}

// SkipUnderRace skips a test that measures what is allocated: the race
// detector allocates on its own account.
func SkipUnderRace(t testing.TB) {
	t.Helper()
	if race {
		t.Skip("the race detector changes what is allocated")
	}
}
