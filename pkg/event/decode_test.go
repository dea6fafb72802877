package event

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

const one = `{"id":"e1","type":"email.opened","contact_id":"c-1","time":"2026-11-20T10:00:00Z"}`

func TestDecodeForms(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, ct, body string
		n              int
	}{
		{"object", "application/json", one, 1},
		{"array", "application/json", "[" + one + "," + one + "]", 2},
		{"ndjson", "application/x-ndjson", one + "\n\n" + one + "\n", 2},
		{"ndjson sniffed", "", one + "\n" + one, 2},
		{"unknown fields ignored", "application/json", `{"id":"e1","type":"a.b","contact_id":"c","time":"2026-11-20T10:00:00Z","extra":{"x":1}}`, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			evs, err := Decode(strings.NewReader(tt.body), tt.ct, DefaultLimits)
			require.NoError(t, err)
			require.Len(t, evs, tt.n)
			assert.Equal(t, time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC), evs[0].Time.UTC())
		})
	}
}

func TestDecodeErrorsNameTheItem(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, body string
		index      int
		field      string
		msg        string
	}{
		{"broken JSON on line 3", one + "\n" + one + "\n{\"id\":", 2, "", "invalid JSON"},
		{"wrong type", `[` + one + `,{"id":5}]`, 1, "id", "wrong type"},
		{"time not a string", `{"id":"e","type":"a.b","contact_id":"c","time":5}`, 0, "time", "RFC 3339"},
		{"time not RFC 3339", `{"id":"e","type":"a.b","contact_id":"c","time":"yesterday"}`, 0, "time", "RFC 3339"},
		{"invalid UTF-8", "{\"id\":\"\xff\",\"type\":\"a.b\"}", 0, "", "UTF-8"},
		{"too deep", `{"id":"e","properties":{"a":` + strings.Repeat("[", 20) + strings.Repeat("]", 20) + `}}`, 0, "", "deeper"},
		{"not an object", `[1]`, 0, "", "JSON object"},
		{"empty", "  ", 0, "", "empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Decode(strings.NewReader(tt.body), "", DefaultLimits)
			var ie ItemErrors
			require.True(t, errors.As(err, &ie), "got %v", err)
			assert.Equal(t, tt.index, ie[0].Index)
			assert.Equal(t, tt.field, ie[0].Field)
			assert.Contains(t, ie[0].Message, tt.msg)
		})
	}
}

func TestDecodeLimits(t *testing.T) {
	t.Parallel()
	lim := Limits{MaxBytes: 1000, MaxEvents: 2, MaxDepth: 16}
	var tl *TooLargeError
	_, err := Decode(strings.NewReader(strings.Repeat(" ", 1001)), "", lim)
	require.True(t, errors.As(err, &tl))
	assert.Equal(t, "body", tl.What)
	_, err = Decode(strings.NewReader(one+"\n"+one+"\n"+one), "", lim)
	require.True(t, errors.As(err, &tl))
	assert.Equal(t, "event count", tl.What)
	_, err = Decode(strings.NewReader("["+one+","+one+","+one+"]"), "", lim)
	require.True(t, errors.As(err, &tl))
}

func TestValidate(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	ok := Event{ID: "e", Type: "email.opened", ContactID: "c", Time: now}
	for _, tt := range []struct {
		name   string
		mutate func(*Event)
		fields []string
	}{
		{"valid", func(*Event) {}, nil},
		{"old times are fine", func(e *Event) { e.Time = now.AddDate(-3, 0, 0) }, nil},
		{"4 minutes ahead is fine", func(e *Event) { e.Time = now.Add(4 * time.Minute) }, nil},
		{"6 minutes ahead is not", func(e *Event) { e.Time = now.Add(6 * time.Minute) }, []string{"time"}},
		{"missing everything", func(e *Event) { *e = Event{} }, []string{"id", "type", "contact_id", "time"}},
		{"upper-case type", func(e *Event) { e.Type = "Email.Opened" }, []string{"type"}},
		{"undotted type", func(e *Event) { e.Type = "opened" }, []string{"type"}},
		{"account event needs account_id", func(e *Event) { e.Type = "account.updated"; e.ContactID = "" }, []string{"account_id"}},
		{"long id", func(e *Event) { e.ID = strings.Repeat("x", MaxIDLen+1) }, []string{"id"}},
		{"control characters", func(e *Event) { e.ContactID = "c\n1" }, []string{"contact_id"}},
		{"huge property", func(e *Event) { e.Properties = map[string]any{"url": strings.Repeat("x", MaxPropertyValue+1)} }, []string{"properties.url"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := ok
			tt.mutate(&e)
			var got []string
			for _, fe := range e.Validate(now) {
				got = append(got, fe.Field)
			}
			assert.Equal(t, tt.fields, got)
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(one), "application/json")
	f.Add([]byte("["+one+","+one+"]"), "")
	f.Add([]byte(one+"\n"+one), "application/x-ndjson")
	f.Add([]byte("{\"id\":\"\xff\"}"), "")
	f.Add([]byte(`{"id":"e","type":"a.b","contact_id":"c","time":"2026-11-20T10:00:00Z","properties":{"n":1e999,"x":[[[[{}]]]]}}`), "")
	f.Add([]byte(`{"id":"e","type":"a.b","contact_id":"c","time":"2026-11-20T10:00:00Z","properties":{"percent":"NaN"}}`), "")
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		evs, err := Decode(strings.NewReader(string(body)), ct, Limits{MaxBytes: 1 << 16, MaxEvents: 100, MaxDepth: 8})
		if err != nil {
			if len(evs) != 0 {
				t.Fatal("events returned with an error")
			}
			return
		}
		for i := range evs {
			// Validation never panics and its verdict is stable.
			a, b := evs[i].Validate(time.Time{}), evs[i].Validate(time.Time{})
			if len(a) != len(b) {
				t.Fatal("unstable validation")
			}
			if n, ok := evs[i].Number("percent"); ok && (n != n) {
				t.Fatal("NaN number accepted")
			}
		}
	})
}

func TestValidTypeMatchesThePattern(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(`^[a-z0-9_]+(\.[a-z0-9_]+)+$`)
	for _, s := range []string{"web.page_viewed", "a.b.c", "a_1.b2", "", ".", "a", "a.", ".a", "a..b", "A.b", "a.b-c",
		"a b.c", "é.b", "a.b.", "_._", "1.2"} {
		assert.Equal(t, re.MatchString(s), validType(s), "%q", s)
	}
}

func TestValidTypeProperty(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(`^[a-z0-9_]+(\.[a-z0-9_]+)+$`)
	rapid.Check(t, func(t *rapid.T) {
		s := rapid.StringOfN(rapid.RuneFrom([]rune("az09_.A- é")), 0, 10, -1).Draw(t, "type")
		if re.MatchString(s) != validType(s) {
			t.Fatalf("%q: pattern says %v", s, re.MatchString(s))
		}
	})
}

// TestAnItemIsRefusedForItsBytesThenItsDepth: an item that is not UTF-8,
// or else nests deeper than allowed, is refused for that, whatever else is
// wrong with it and wherever the problem is, even when what comes before
// would hold more than the budget.
func TestAnItemIsRefusedForItsBytesThenItsDepth(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("[", 20) + strings.Repeat("]", 20)
	heavy := `"p":[` + strings.TrimSuffix(strings.Repeat(`{"":0},`, 64), ",") + `]`
	var props []string
	for i := range 64 {
		props = append(props, `"k`+strings.Repeat("x", i)+`":[`+strings.TrimSuffix(strings.Repeat(`{"":0},`, 64), ",")+`]`)
	}
	over := `"properties":{` + strings.Join(props, ",") + `}`
	const utf8Msg, deepMsg = "not valid UTF-8", "nested deeper than 16"
	for _, tt := range []struct{ name, item, msg string }{
		{"bad bytes after a syntax error", `{"id":"e" "x":"` + "\xff" + `"}`, utf8Msg},
		{"bad bytes after a wrong type", `{"id":5,"x":"` + "\xff" + `"}`, utf8Msg},
		{"bad bytes in a valid event", `{"id":"e","type":"a.b","contact_id":"c","time":"2026-11-20T10:00:00Z","x":"` + "\xff" + `"}`, utf8Msg},
		{"bad bytes after nesting too deep", `{"x":` + deep + `,"y":"` + "\xff" + `"}`, utf8Msg},
		{"too deep after a syntax error", `{"id":"e" "x":` + deep + `}`, deepMsg},
		{"too deep after a wrong type", `{"id":5,"x":` + deep + `}`, deepMsg},
		{"too deep after an id too long", `{"id":"` + strings.Repeat("x", 200) + `","x":` + deep + `}`, deepMsg},
		{"too deep after a value too long", `{"properties":{"v":"` + strings.Repeat("x", 3000) + `"},"x":` + deep + `}`, deepMsg},
		{"too deep after properties over the budget", `{` + over + `,"x":` + deep + `}`, deepMsg},
		{"too deep in a string is not deep", `{"id":"e","x":"` + deep + `",}`, "invalid JSON"},
		{"a property too long", `{` + heavy + `,"properties":{"v":"` + strings.Repeat("x", 3000) + `"}}`, "longer than 2048 bytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Decode(strings.NewReader(tt.item), "application/json", DefaultLimits)
			var ie ItemErrors
			require.True(t, errors.As(err, &ie), "got %v", err)
			assert.Contains(t, ie[0].Message, tt.msg)
		})
	}
}

// TestIDProblemIsTheRuneCheck: the byte scan of ids finds what checking
// the runes finds, first UTF-8, then control characters.
func TestIDProblemIsTheRuneCheck(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"c-1", "é", "a\x00", "a\x7f", "\xff", "\xff\n", "\xe2\x80", "\u2028", "\u0080", "\t"} {
		assert.Equal(t, runeProblem(v), idProblem(v), "%q", v)
	}
	rapid.Check(t, func(t *rapid.T) {
		v := string(rapid.SliceOfN(rapid.SampledFrom([]byte{'a', 0, 0x1f, 0x20, 0x7e, 0x7f, 0x80, 0xbf, 0xc3, 0xa9, 0xe2, 0xff}), 0, 8).Draw(t, "id"))
		if got, want := idProblem(v), runeProblem(v); got != want {
			t.Fatalf("%q: %q, runes say %q", v, got, want)
		}
	})
}
