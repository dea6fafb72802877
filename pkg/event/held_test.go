package event

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/event/eventtest"
)

// TestHeldMatchesTheHeap: what the decoder counts as held by the events
// it decodes is at least what they hold on the heap, for each shape of
// value, so the budget bounds the heap. Not parallel: it measures the
// process's heap.
func TestHeldMatchesTheHeap(t *testing.T) {
	eventtest.SkipUnderRace(t)
	// Five events of 64 properties, each an array of 64 values.
	const n = 20 * 64 * 64
	body := func(value string) []byte {
		var b strings.Builder
		for e := range 20 {
			fmt.Fprintf(&b, `{"id":"e%d","type":"a.b","contact_id":"c","time":"2026-11-20T10:00:00Z","properties":{`, e)
			for p := range 64 {
				if p > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `"p%d":[%s]`, p, strings.TrimSuffix(strings.Repeat(value+",", 64), ","))
			}
			b.WriteString("}}\n")
		}
		return []byte(b.String())
	}
	for _, tt := range []struct{ name, value string }{
		{"empty object", `{}`},
		{"one-key object", `{"":0}`},
		{"nine-key object", `{"a":0,"b":0,"c":0,"d":0,"e":0,"f":0,"g":0,"h":0,"i":0}`},
		{"empty array", `[]`},
		{"one-item array", `[0]`},
		{"number", `0`},
		{"long number", `1234567890123456789`},
		{"short string", `"ab"`},
		{"string of 100 bytes", `"` + strings.Repeat("x", 100) + `"`},
		{"true", `true`},
	} {
		b := body(tt.value)
		d := decoder{lim: DefaultLimits, body: b}
		d.p.budget = 1 << 62
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		evs, err := d.lines(b)
		require.NoError(t, err)
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
		t.Logf("%-20s counted %6.1f bytes a value, the heap grew %6.1f", tt.name, float64(d.p.held)/n, float64(heap)/n)
		assert.GreaterOrEqual(t, int64(d.p.held), heap, tt.name)
		runtime.KeepAlive(evs)
	}
}
