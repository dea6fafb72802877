package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/leadscore/leads/pkg/api"
	"github.com/leadscore/leads/pkg/auth"
	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/testutil"
)

// BenchmarkPages1M measures the server time and the HTML weight of the
// leaderboard and contact pages, and the server time of the read API's
// filtered leaderboard (with the entries it read and whether it was
// complete), over a store of 1,000,000 contacts (250,000 accounts of 4),
// written through the store's own commit as the scorer writes them, with
// their boards and cells: the pages read the leaderboard's sorted set,
// the contact index and the contact's home, never a scan, so the number
// of contacts should not show. LEADS_BENCH_CONTACTS sets another size.
func BenchmarkPages1M(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("LEADS_BENCH_CONTACTS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	rdb := testutil.RedisClient(b)
	st := store.New(rdb, testutil.Prefix(b))
	m := model.Default()
	engine := scoring.New(m)
	start := time.Now()
	fill(b, ctx, st, engine, n)
	b.Logf("wrote %d contacts in %s; Redis holds %.0f MB", n, time.Since(start).Round(time.Second),
		testutil.RedisInfo(b, rdb, "memory", "used_memory")/1e6)
	c, err := New(Deps{API: api.New(st, engine, zap.NewNop()).Handler(), Store: st, Model: m, Tokens: auth.Open()}, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	c.Register(mux)
	for _, p := range []struct{ name, path string }{
		{"leaderboard-50", "/ui/leaderboard?by=contact&limit=50"},
		{"leaderboard-200", "/ui/leaderboard?by=contact&limit=200"},
		{"accounts-50", "/ui/leaderboard?by=account&limit=50"},
		{"contact", "/ui/contacts/" + url.PathEscape(contactID(n/2))},
		{"account", "/ui/accounts/" + url.PathEscape(accountID(n/8))},
		{"filtered-50", "/ui/leaderboard?by=contact&limit=50&grade=A&stage=late&mql=true"},
	} {
		b.Run(p.name, func(b *testing.B) {
			var size int
			for b.Loop() {
				w := httptest.NewRecorder()
				mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, p.path, nil))
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", p.path, w.Code, w.Body.String())
				}
				size = w.Body.Len()
			}
			b.ReportMetric(float64(size), "html-bytes")
		})
	}
	// The read API's filtered leaderboard, from common combinations to
	// one no contact has (the walk reads until every board's mark).
	read := api.New(st, engine, zap.NewNop()).Handler()
	for _, q := range []struct{ name, query string }{
		{"api-grade-A-50", "grade=A&limit=50"},
		{"api-A-late-10", "grade=A&stage=late&limit=10"},
		{"api-A-late-mql-100", "grade=A&stage=late&mql=true&limit=100"},
		{"api-A-late-1000", "grade=A&stage=late&limit=1000"},
		{"api-A-early-10", "grade=A&stage=early&limit=10"},
		{"api-B-mid-clevel-mql-10", "grade=B&stage=mid&nurture=c_level&mql=true&limit=10"},
		{"api-B-mid-clevel-mql-1000", "grade=B&stage=mid&nurture=c_level&mql=true&limit=1000"},
		{"api-D-clevel-none-10", "grade=D&nurture=c_level&limit=10"},
	} {
		b.Run(q.name, func(b *testing.B) {
			var got api.Filtered
			for b.Loop() {
				w := httptest.NewRecorder()
				read.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/leaderboard?"+q.query, nil))
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", q.query, w.Code, w.Body.String())
				}
				got = api.Filtered{}
				if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
					b.Fatal(err)
				}
			}
			complete := 0.0
			if got.Complete {
				complete = 1
			}
			b.ReportMetric(float64(len(got.Items)), "items")
			b.ReportMetric(float64(got.Scanned), "scanned")
			b.ReportMetric(complete, "complete")
		})
	}
}

func contactID(i int) string { return fmt.Sprintf("c-%07d", i) }
func accountID(i int) string { return fmt.Sprintf("acct-%06d.example", i) }

// fill writes n contacts, 4 to an account, each with a profile and a few
// engagements that vary with its number, so that scores, grades and
// stages spread.
func fill(b *testing.B, ctx context.Context, st *store.Store, engine *scoring.Engine, n int) {
	const perHome, batch = 4, 2500
	at := time.Now().UTC().Add(-24 * time.Hour)
	titles := []string{"VP Marketing", "Marketing Manager", "Data Engineer", "CTO", "Analyst", "Student"}
	types := []string{"email.opened", "email.clicked", "webinar.attended", "content.downloaded", "meeting.booked"}
	for first := 0; first < n/perHome; first += batch {
		var commits []store.Commit
		d := store.Derived{Where: map[string]string{}, Contacts: map[string]int32{}, Accounts: map[string]int32{}, Boards: map[string]store.Boards{}}
		for a := first; a < min(first+batch, n/perHome); a++ {
			h := scoring.NewHome(scoring.HomeID(accountID(a), ""))
			var res scoring.Result
			acct := event.Event{ID: "a-" + accountID(a), Type: "account.updated", AccountID: h.Account.ID, Time: at,
				Properties: map[string]any{"name": "Account " + strconv.Itoa(a), "employees": float64(50 + a%5000),
					"industry": []string{"software", "retail", "finance"}[a%3], "country": "US"}}
			if err := engine.ApplyAccount(h.Account, &acct, &res); err != nil {
				b.Fatal(err)
			}
			for i := range perHome {
				k := a*perHome + i
				c := &scoring.Contact{ID: contactID(k)}
				evs := []event.Event{{ID: "p-" + c.ID, Type: "contact.updated", Properties: map[string]any{"first_name": "F", "last_name": "L",
					"email": c.ID + "@x.example", "title": titles[k%len(titles)], "company": "Account"}}}
				for j := range k % 7 {
					evs = append(evs, event.Event{ID: fmt.Sprintf("e-%s-%d", c.ID, j), Type: types[(k+j)%len(types)]})
				}
				for j := range evs {
					evs[j].ContactID, evs[j].AccountID, evs[j].Time = c.ID, h.Account.ID, at.Add(time.Duration(j)*time.Minute)
					if err := engine.Apply(h.Account, c, &evs[j], &res); err != nil {
						b.Fatal(err)
					}
				}
				h.Contacts[c.ID] = c
				d.Where[c.ID], d.Contacts[c.ID], d.Boards[c.ID] = h.ID, c.Score(), store.ContactBoards(nil, c)
			}
			h.Ledger = res.Ledger
			d.Accounts[h.Account.ID] = h.Account.Score()
			commits = append(commits, store.Commit{Home: h, Meta: &store.Meta{}, Offsets: map[int32]int64{0: int64(a)}})
		}
		_, errs, err := st.CommitAll(ctx, commits)
		if err != nil {
			b.Fatal(err)
		}
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		if err := st.WriteDerived(ctx, d); err != nil {
			b.Fatal(err)
		}
	}
}
