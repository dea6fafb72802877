package console

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/leadscore/leads/pkg/api"
)

// Chart is an SVG chart drawn on the server: bars or lines. Coordinates
// are numbers computed here; labels go through html/template's escaping
// like any other text.
type Chart struct {
	Title         string
	Width, Height int
	Bars          []bar
	Series        []series
	YTicks        []tick
	XTicks        []tick
	// Empty says why there is nothing to draw.
	Empty string
}

type bar struct {
	Label           string
	Value           int64
	Y, W            float64
	TextX, TextY    float64
	ValueX          float64
	LabelW, BarLeft float64
}

type series struct {
	Name, Color string
	Points      string
	LegendX     float64
}

type tick struct {
	X, Y  float64
	Label string
}

const (
	barHeight = 26
	barLabelW = 90
	// Bar charts sit three abreast: a narrow drawing keeps their text
	// readable when scaled to a third of the page.
	barW   = 380
	chartW = 640
)

// bars draws one horizontal bar per key, in the order given.
func bars(title string, keys []string, value func(string) int64) Chart {
	ch := Chart{Title: title, Width: barW, Height: barHeight*len(keys) + 8}
	var hi int64
	for _, k := range keys {
		hi = max(hi, value(k))
	}
	if len(keys) == 0 {
		ch.Empty, ch.Height = "nothing counted yet", 0
		return ch
	}
	span := float64(barW - barLabelW - 60)
	for i, k := range keys {
		v := value(k)
		w := 0.0
		if hi > 0 {
			w = span * float64(v) / float64(hi)
		}
		y := float64(4 + i*barHeight)
		ch.Bars = append(ch.Bars, bar{Label: k, Value: v, Y: y, W: math.Max(w, 1), TextX: barLabelW - 8, TextY: y + 15,
			ValueX: barLabelW + w + 6, BarLeft: barLabelW})
	}
	return ch
}

const (
	lineLeft, lineRight, lineTop, lineBottom = 44, 12, 24, 28
	lineH                                    = 240
)

// scoreChart draws score, behavior and fit after each ledger line, oldest
// first (the history comes newest first).
func scoreChart(entries []api.Entry) Chart {
	ch := Chart{Title: "Score, behavior and fit over time", Width: chartW, Height: lineH}
	if len(entries) == 0 {
		ch.Empty = "no ledger lines yet"
		return ch
	}
	// Lines of contacts merged into this one carry their own scores.
	es := slices.DeleteFunc(slices.Clone(entries), func(e api.Entry) bool { return e.MergedFrom != "" })
	if len(es) == 0 {
		ch.Empty = "no ledger lines yet"
		return ch
	}
	slices.Reverse(es)
	t0, t1 := es[0].Time, es[len(es)-1].Time
	lo, hi := int32(0), int32(10)
	for _, e := range es {
		lo = min(lo, e.Score, e.Behavior, e.Fit)
		hi = max(hi, e.Score, e.Behavior, e.Fit)
	}
	plotW, plotH := float64(chartW-lineLeft-lineRight), float64(lineH-lineTop-lineBottom)
	x := func(t time.Time) float64 {
		if !t1.After(t0) {
			return lineLeft + plotW/2
		}
		return lineLeft + plotW*float64(t.Sub(t0))/float64(t1.Sub(t0))
	}
	y := func(v int32) float64 { return lineTop + plotH*(1-float64(v-lo)/float64(hi-lo)) }
	for i, s := range []struct {
		name, color string
		v           func(api.Entry) int32
	}{
		{"score", "#1f5fbf", func(e api.Entry) int32 { return e.Score }},
		{"behavior", "#c2571a", func(e api.Entry) int32 { return e.Behavior }},
		{"fit", "#2e7d32", func(e api.Entry) int32 { return e.Fit }},
	} {
		var b strings.Builder
		for j, e := range es {
			if j > 0 {
				// A step: the value holds until the next line.
				b.WriteString(ftoa(x(e.Time)) + "," + ftoa(y(s.v(es[j-1]))) + " ")
			}
			b.WriteString(ftoa(x(e.Time)) + "," + ftoa(y(s.v(e))) + " ")
		}
		ch.Series = append(ch.Series, series{Name: s.name, Color: s.color, Points: strings.TrimSpace(b.String()),
			LegendX: lineLeft + float64(i)*110})
	}
	for _, v := range []int32{lo, (lo + hi) / 2, hi} {
		ch.YTicks = append(ch.YTicks, tick{X: lineLeft - 6, Y: y(v) + 4, Label: strconv.Itoa(int(v))})
	}
	ch.XTicks = append(ch.XTicks, tick{X: lineLeft, Y: lineH - 8, Label: t0.UTC().Format("2006-01-02 15:04")})
	if t1.After(t0) {
		ch.XTicks = append(ch.XTicks, tick{X: lineLeft + plotW, Y: lineH - 8, Label: t1.UTC().Format("2006-01-02 15:04")})
	}
	return ch
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }
