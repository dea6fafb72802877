package decay

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/testutil"
)

// BenchmarkPass1M seeds 1,000,000 contacts in 100,000 accounts, 10% of them
// idle past the first decay step, and times one pass over the due ones. It
// reports decayed contacts/s and the due index's Redis bytes per contact.
func BenchmarkPass1M(b *testing.B) {
	const contacts, perAccount = 1_000_000, 10
	ctx := context.Background()
	rdb := testutil.RedisClient(b)
	st := store.New(rdb, "leads")
	engine := scoring.New(model.Default())
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	var commits []store.Commit
	due := map[string]int64{}
	where := map[string]string{}
	flush := func() {
		if _, _, err := st.CommitAll(ctx, commits); err != nil {
			b.Fatal(err)
		}
		if err := st.WriteDerived(ctx, store.Derived{Where: where, Due: due}); err != nil {
			b.Fatal(err)
		}
		commits, due, where = commits[:0], map[string]int64{}, map[string]string{}
	}
	var res scoring.Result
	for n := 0; n < contacts/perAccount; n++ {
		h := scoring.NewHome(fmt.Sprintf("a:acct-%d.io", n))
		for i := range perAccount {
			id := fmt.Sprintf("c-%d-%d", n, i)
			at := now.Add(-time.Duration(1+(n*perAccount+i)%29) * 24 * time.Hour) // recent: nothing due
			if (n*perAccount+i)%10 == 0 {
				at = now.Add(-31 * 24 * time.Hour) // idle: one step due
			}
			c := &scoring.Contact{ID: id}
			ev := event.Event{ID: "e-" + id, Type: "score.adjusted", ContactID: id, AccountID: h.Account.ID, Time: at,
				Properties: map[string]any{"points": 100.0}}
			res.Reset()
			if err := engine.Apply(h.Account, c, &ev, &res); err != nil {
				b.Fatal(err)
			}
			h.Contacts[id] = c
			due[id] = engine.NextDue(c)
			where[id] = h.ID
		}
		commits = append(commits, store.Commit{Home: h, Meta: &store.Meta{}})
		if len(commits) == 2000 {
			flush()
		}
	}
	flush()
	var index int64
	for i := range store.DueShards {
		index += rdb.MemoryUsage(ctx, st.DueKey(i)).Val()
	}
	backlog, err := st.Backlog(ctx, now)
	if err != nil {
		b.Fatal(err)
	}
	d, err := New(Config{Interval: time.Minute, BatchSize: 2000, LeaseTTL: time.Minute, Owner: "bench"}, testutil.Logger(b), st, engine, &sink{}, "t", nil)
	if err != nil {
		b.Fatal(err)
	}
	go0, redis0 := testutil.CPU(b, rdb)
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		b.Fatal(err)
	}
	var decayed int
	for b.Loop() {
		decayed, err = d.Pass(ctx, now)
		if err != nil {
			b.Fatal(err)
		}
	}
	if backlog != contacts/10 || int64(decayed) != backlog {
		b.Fatalf("decayed %d of %d due", decayed, backlog)
	}
	go1, redis1 := testutil.CPU(b, rdb)
	b.ReportMetric((redis1 - redis0).Seconds(), "redis-cpu-s")
	b.ReportMetric(float64((go1-go0).Microseconds())/float64(decayed), "process-cpu-µs/contact")
	b.ReportMetric(float64((redis1-redis0).Microseconds())/float64(decayed), "redis-cpu-µs/contact")
	if testing.Verbose() {
		stats, _ := rdb.Info(ctx, "commandstats").Result()
		b.Log(stats)
	}
	b.ReportMetric(float64(decayed), "decayed")
	b.ReportMetric(float64(decayed)/b.Elapsed().Seconds(), "contacts/s")
	b.ReportMetric(float64(index)/contacts, "index-bytes/contact")
}
