package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/testutil"
)

// BenchmarkCommitAll commits 5,000 homes of 4 contacts, each contact with a
// fresh state and one ledger entry, as one scorer batch of 20,000 events
// does, and reports redis-server's CPU per contact written: the script's
// cost, apart from the engine and the broker.
func BenchmarkCommitAll(b *testing.B) {
	const homes, perHome = 5000, 4
	ctx := context.Background()
	addr, _ := testutil.Redis(b)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	s := New(rdb, "bench")
	engine := scoring.New(model.Default())
	at := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	commits := make([]Commit, homes)
	for n := range commits {
		h := scoring.NewHome(fmt.Sprintf("a:acct-%d.io", n))
		for i := range perHome {
			c := &scoring.Contact{ID: fmt.Sprintf("c-%d-%d", n, i)}
			var res scoring.Result
			ev := event.Event{ID: "e-" + c.ID, Type: "email.clicked", ContactID: c.ID, AccountID: h.Account.ID, Time: at}
			if err := engine.Apply(h.Account, c, &ev, &res); err != nil {
				b.Fatal(err)
			}
			h.Contacts[c.ID] = c
			h.Ledger = append(h.Ledger, res.Ledger...)
		}
		commits[n] = Commit{Home: h, Meta: &Meta{}, Offsets: map[int32]int64{int32(n % 8): int64(n)}}
	}
	cpu := func() float64 { return testutil.RedisInfo(b, rdb, "cpu", "used_cpu_sys", "used_cpu_user") }
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		b.Fatal(err)
	}
	cpu0 := cpu()
	for b.Loop() {
		versions, errs, err := s.CommitAll(ctx, commits)
		if err != nil {
			b.Fatal(err)
		}
		for i := range commits {
			if errs[i] != nil {
				b.Fatal(errs[i])
			}
			commits[i].Meta.Version = versions[i]
		}
	}
	if testing.Verbose() {
		stats, _ := rdb.Info(ctx, "commandstats").Result()
		b.Log(stats)
	}
	b.ReportMetric((cpu()-cpu0)*1e6/float64(b.N*homes*perHome), "redis-µs/contact")
}
