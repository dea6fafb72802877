package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/leadscore/leads/pkg/commit"
	"github.com/leadscore/leads/pkg/demo"
	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/stream"
	"github.com/leadscore/leads/pkg/testutil"
)

type nopSink struct{}

func (nopSink) Publish(context.Context, ...stream.Record) error { return nil }

// BenchmarkLedgerMemory scores demo traffic through the store in batches of
// 20,000 events, as the scorer does, and reports the ledger's Redis memory
// per line stored: MEMORY USAGE of the ledger keys over the lines they
// hold, and the growth of used_memory over the same lines (which counts
// everything the run stored: states, index, leaderboards as well). Two
// shapes: the 1M benchmark's (10 events a contact) at a tenth of its size,
// and full ledgers (most contacts past 200 lines).
func BenchmarkLedgerMemory(b *testing.B) {
	for _, tc := range []struct {
		name             string
		contacts, events int
	}{{"10-per-contact", 10_000, 100_000}, {"full", 500, 200_000}} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			rdb := testutil.RedisClient(b)
			gen := demo.New(42, tc.contacts, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), "")
			evs := gen.Accounts()
			evs = append(evs, gen.Next(tc.events-len(evs), 20*time.Second)...)
			engine := scoring.New(model.Default())
			for b.Loop() {
				st := store.New(rdb, testutil.Prefix(b))
				base := testutil.RedisInfo(b, rdb, "memory", "used_memory")
				for i := 0; i < len(evs); i += 20000 {
					scoreBatch(b, st, engine, evs[i:min(i+20000, len(evs))])
				}
				used := testutil.RedisInfo(b, rdb, "memory", "used_memory") - base
				keys, err := rdb.Keys(ctx, st.Namespace()+":{*}:l:*").Result()
				if err != nil {
					b.Fatal(err)
				}
				var bytes, lines int64
				pipe := rdb.Pipeline()
				cmds := make([]*redis.IntCmd, len(keys))
				for i, k := range keys {
					cmds[i] = pipe.MemoryUsage(ctx, k)
				}
				if _, err := pipe.Exec(ctx); err != nil {
					b.Fatal(err)
				}
				for _, c := range cmds {
					bytes += c.Val()
				}
				for n := range tc.contacts {
					h, err := st.History(ctx, fmt.Sprintf("c-%d", n), 1<<30)
					if err != nil && !isNotFound(err) {
						b.Fatal(err)
					}
					lines += int64(len(h))
				}
				b.ReportMetric(float64(lines), "lines")
				b.ReportMetric(float64(lines)/float64(len(evs)), "lines/event")
				b.ReportMetric(float64(bytes)/float64(lines), "ledger-bytes/line")
				b.ReportMetric(float64(used)/float64(lines), "used-memory/line")
			}
		})
	}
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

func scoreBatch(b *testing.B, st *store.Store, e *scoring.Engine, evs []event.Event) {
	ctx := context.Background()
	var ids []string
	for _, ev := range evs {
		if ev.ContactID != "" {
			ids = append(ids, ev.ContactID)
		}
	}
	c := &commit.Committer{Store: st, Sink: nopSink{}, Topic: "t", Engine: e, Writer: commit.ScorerWriter()}
	post, err := c.Cycle(ctx, func(need *commit.Needs) (*commit.Post, error) {
		batch, err := c.Load(ctx, ids, func(ws *scoring.Workspace) map[string]*store.Request {
			reqs := map[string]*store.Request{}
			for i := range evs {
				from, to := ws.Target(&evs[i])
				reqs[from], reqs[to] = &store.Request{All: true}, &store.Request{All: true}
			}
			return reqs
		}, need)
		if err != nil {
			return nil, err
		}
		for i := range evs {
			if err := batch.WS.Apply(&evs[i]); err != nil && !errors.Is(err, scoring.ErrNotLoaded) {
				return nil, err
			}
		}
		return c.Commit(ctx, batch)
	}, c.Deliver)
	if err == nil {
		err = c.Deliver(ctx, post)
	}
	if err != nil {
		b.Fatal(err)
	}
}
