package scoring

import (
	"fmt"
	"testing"
	"time"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
)

// BenchmarkApply applies a typical page view (glob rules, a capped rule) to a
// contact of an account with 20 members, as the scorer does per event.
func BenchmarkApply(b *testing.B) {
	e := New(model.Default())
	a := &Account{ID: "acme.io", Fit: 30, Members: map[string]int32{}}
	for i := range 20 {
		a.Members[fmt.Sprint("m-", i)] = int32(i)
	}
	c := &Contact{ID: "c-1", AccountID: "acme.io"}
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = fmt.Sprint("evt-", i)
	}
	evs := []event.Event{
		{Type: "web.page_viewed", ContactID: "c-1", AccountID: "acme.io", Properties: map[string]any{"url": "https://acme.io/blog/post-1"}},
		{Type: "email.opened", ContactID: "c-1", AccountID: "acme.io"},
		{Type: "content.downloaded", ContactID: "c-1", AccountID: "acme.io", Properties: map[string]any{"asset_type": "whitepaper"}},
	}
	var out Result
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		ev := &evs[i%len(evs)]
		ev.ID = ids[i%len(ids)]
		ev.Time = t0.Add(time.Duration(i) * time.Minute)
		out.Reset()
		if err := e.Apply(a, c, ev, &out); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkDecay decays a contact idle for 400 days (13 steps to the floor).
func BenchmarkDecay(b *testing.B) {
	e := New(model.Default())
	a := &Account{}
	base := &Contact{ID: "c-1"}
	var out Result
	x := event.Event{ID: "x", Type: "score.adjusted", ContactID: "c-1", Time: t0, Properties: map[string]any{"points": 150.0}}
	if err := e.Apply(a, base, &x, &out); err != nil {
		b.Fatal(err)
	}
	c := base.Clone()
	b.ReportAllocs()
	for b.Loop() {
		*c = *base
		out.Reset()
		e.Decay(a, c, t0.Add(400*24*time.Hour), &out)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "contacts/s")
}
