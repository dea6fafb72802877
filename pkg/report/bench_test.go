package report_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/report"
	"github.com/leadscore/leads/pkg/rescore"
	"github.com/leadscore/leads/pkg/scoring"
)

// BenchmarkReport produces the effectiveness report after scoring 1,000 and
// 1,000,000 contacts: it reads one hash of counters per model version, so
// its cost follows the number of counters (days, rules, grades), not of
// contacts.
func BenchmarkReport(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		b.Run(fmt.Sprintf("contacts=%d", n), func(b *testing.B) {
			ctx := context.Background()
			st := newStore(b)
			path := filepath.Join(b.TempDir(), "events.ndjson")
			writeContacts(b, path, n)
			bf := &rescore.Backfill{Log: zap.NewNop(), Store: st, Engine: scoring.New(model.Default())}
			if _, err := bf.FromFile(ctx, path); err != nil {
				b.Fatal(err)
			}
			v := model.Default().Version
			var fields map[string]string
			for b.Loop() {
				var err error
				if fields, err = st.Report(ctx, v); err != nil {
					b.Fatal(err)
				}
				r, err := report.Compute(v, fields, "", "")
				if err != nil {
					b.Fatal(err)
				}
				if r.Contacts != int64(n) {
					b.Fatalf("report counts %d contacts, want %d", r.Contacts, n)
				}
			}
			b.ReportMetric(float64(len(fields)), "counters")
		})
	}
}

// writeContacts writes n contacts' histories over 30 days: a profile, one
// to three engagements, and for one in ten an opportunity.
func writeContacts(b *testing.B, path string, n int) {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	types := []string{"email.opened", "webinar.attended", "content.downloaded", "web.page_viewed"}
	for i := range n {
		c := fmt.Sprintf("c-%d", i)
		when := t0.Add(time.Duration(i%30) * 24 * time.Hour)
		evs := []event.Event{{ID: c + "-p", Type: "contact.updated", ContactID: c, Time: when,
			Properties: map[string]any{"title": "VP Sales", "first_name": "A", "last_name": "B", "email": c + "@x.io"}}}
		for k := range 1 + i%3 {
			evs = append(evs, event.Event{ID: fmt.Sprintf("%s-%d", c, k), Type: types[(i+k)%len(types)], ContactID: c,
				Time: when.Add(time.Duration(k+1) * time.Hour), Properties: map[string]any{"asset_type": "whitepaper", "url": "https://x.io/pricing"}})
		}
		if i%10 == 0 {
			evs = append(evs, event.Event{ID: c + "-o", Type: "opportunity.created", ContactID: c, Time: when.Add(48 * time.Hour)})
		}
		for j := range evs {
			if err := enc.Encode(&evs[j]); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		b.Fatal(err)
	}
}
