package scoring

import (
	"fmt"
	"testing"
	"time"

	"github.com/leadscore/leads/pkg/demo"
	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
)

// BenchmarkApply applies a typical page view (glob rules, a capped rule) to a
// contact of an account with 20 members, as the scorer does per event.
func BenchmarkApply(b *testing.B) { benchApply(b, 20) }

// BenchmarkApplyLargeAccount is the same in an account of 10,000 contacts:
// the account's engagement is kept, not summed again over every member.
func BenchmarkApplyLargeAccount(b *testing.B) { benchApply(b, 10_000) }

func benchApply(b *testing.B, members int) {
	e := New(model.Default())
	a := &Account{ID: "acme.io", Fit: 30, Members: map[string]int32{}}
	for i := range members {
		a.Members[fmt.Sprint("m-", i)] = int32(i % 20)
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

// BenchmarkWorkspaceBatch applies one scorer-sized batch of demo traffic
// (100,000 events over 100,000 contacts in 5,000 accounts, homes already
// in memory) through a workspace, as the scorer and a backfill do between a
// load and a commit: routing, the engine, ledger lines and crossings filed
// by home, over a working set far larger than the CPU caches.
func BenchmarkWorkspaceBatch(b *testing.B) {
	const events = 100_000
	e := New(model.Default())
	gen := demo.New(42, 100_000, t0, "")
	warm := NewMemory()
	ws := warm.Workspace(e)
	for _, ev := range append(gen.Accounts(), gen.Next(200_000, 20*time.Second)...) {
		if err := ws.Apply(&ev); err != nil {
			b.Fatal(err)
		}
	}
	warm.Commit(ws)
	batch := gen.Next(events, 20*time.Second)
	for b.Loop() {
		b.StopTimer()
		ws := NewWorkspace(e, warm)
		for id, h := range warm.Homes {
			c := NewHome(id)
			c.Account = h.Account.Clone()
			for cid, ct := range h.Contacts {
				c.Contacts[cid] = ct.Clone()
			}
			ws.Put(c)
		}
		b.StartTimer()
		for i := range batch {
			if err := ws.Apply(&batch[i]); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*events), "ns/event")
}
