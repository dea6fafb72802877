package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/leadscore/leads/pkg/demo"
	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/testutil"
)

// BenchmarkCommitAll commits 5,000 homes of 4 contacts, each contact with a
// fresh state and one ledger line, as one scorer batch of 20,000 events
// does, and reports redis-server's CPU per contact written: the script's
// cost, apart from the engine and the broker. Two baselines show where it
// goes: args-only calls a script that only returns, with the same keys and
// arguments; plain sends the same writes as pipelined HSET and APPEND,
// without the version check; watch checks the versions without Lua, as an
// optimistic transaction per script call's worth of homes (WATCH, read the
// versions, MULTI, the writes, EXEC).
func BenchmarkCommitAll(b *testing.B) {
	const homes, perHome = 5000, 4
	ctx := context.Background()
	rdb := testutil.RedisClient(b)
	s := New(rdb, "bench")
	engine := scoring.New(model.Default())
	at := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	commits := make([]Commit, homes)
	for n := range commits {
		commits[n] = commitOf(b, engine, scoring.NewHome(fmt.Sprintf("a:acct-%d.io", n)), perHome, at, n)
	}
	measure := func(b *testing.B, op func() error) {
		if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
			b.Fatal(err)
		}
		cpu := func() float64 { return testutil.RedisInfo(b, rdb, "cpu", "used_cpu_sys", "used_cpu_user") }
		cpu0 := cpu()
		for b.Loop() {
			if err := op(); err != nil {
				b.Fatal(err)
			}
		}
		if testing.Verbose() {
			stats, _ := rdb.Info(ctx, "commandstats").Result()
			b.Log(stats)
		}
		b.ReportMetric((cpu()-cpu0)*1e6/float64(b.N*homes*perHome), "redis-µs/contact")
	}
	commitAll := func(commits []Commit) error {
		versions, errs, err := s.CommitAll(ctx, commits)
		if err != nil {
			return err
		}
		for i := range commits {
			if errs[i] != nil {
				return errs[i]
			}
			commits[i].Meta.Version = versions[i]
		}
		return nil
	}
	b.Run("script", func(b *testing.B) {
		measure(b, func() error { return commitAll(commits) })
	})
	// The same on ledgers of 20 and 180 lines (retention keeps 200): a
	// ledger appended to is read into the script and set whole while it
	// is short, appended to and copied once it is long (see commit.lua).
	// Run it with -benchtime 20x or less, so that no ledger reaches 200.
	for _, n := range []int{20, 180} {
		b.Run(fmt.Sprintf("script-%d-lines", n), func(b *testing.B) {
			long := make([]Commit, homes)
			for h := range long {
				long[h] = commitOf(b, engine, scoring.NewHome(fmt.Sprintf("a:long%d-%d.io", n, h)), perHome, at, h)
				// n lines a contact, an hour apart, each of its own
				// cause, before the line measured.
				one := long[h].Home.Ledger
				var lines []scoring.Entry
				for k := range int64(n) {
					for _, e := range one {
						e.Time -= (int64(n) - k) * 3600
						e.Cause += fmt.Sprint("-", k)
						lines = append(lines, e)
					}
				}
				long[h].Home.Ledger = append(lines, one...)
			}
			if err := commitAll(long); err != nil {
				b.Fatal(err)
			}
			for h := range long {
				long[h].Home.Ledger = long[h].Home.Ledger[n*perHome:]
			}
			h := long[0].Home
			size, err := rdb.StrLen(ctx, s.ledgerKey(h.ID, h.Ledger[0].ContactID)).Result()
			if err != nil {
				b.Fatal(err)
			}
			measure(b, func() error { return commitAll(long) })
			b.ReportMetric(float64(size), "ledger-bytes")
		})
	}
	plans, err := s.planLedgers(ctx, commits)
	if err != nil {
		b.Fatal(err)
	}
	calls, err := s.commitCalls(commits, plans)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("args-only", func(b *testing.B) {
		noop := redis.NewScript("return 1")
		if err := noop.Load(ctx, rdb).Err(); err != nil {
			b.Fatal(err)
		}
		measure(b, func() error {
			pipe := rdb.Pipeline()
			for _, c := range calls {
				noop.EvalSha(ctx, pipe, c.keys, c.args...)
			}
			_, err := pipe.Exec(ctx)
			return err
		})
	})
	// writes queues a call's writes as plain commands, from the layout of
	// commit.lua's arguments (no deletions here), and returns its homes.
	writes := func(pipe redis.Pipeliner, c commitCall) (homes []string) {
		i, k := 1, 0
		for range c.args[0].(int) {
			nkeys, sets := c.args[i].(int), c.args[i+2].(int)
			homes = append(homes, c.keys[k])
			pipe.HSet(ctx, c.keys[k], c.args[i+3:i+3+2*sets]...)
			i += 3 + 2*sets
			i += 1 + c.args[i].(int) // deletions
			i += 1 + c.args[i].(int) // outbox entries
			for l := 2; l < nkeys; l++ {
				switch c.args[i] {
				case "a":
					pipe.Append(ctx, c.keys[k+l], string(c.args[i+2].([]byte)))
					i += 3
				case "r":
					pipe.Set(ctx, c.keys[k+l], c.args[i+1], 0)
					i += 2
				default:
					pipe.Del(ctx, c.keys[k+l])
					i++
				}
			}
			k += nkeys
		}
		return homes
	}
	b.Run("watch", func(b *testing.B) {
		measure(b, func() error {
			for _, c := range calls {
				homes := writes(rdb.Pipeline(), c) // only the home keys
				err := rdb.Watch(ctx, func(tx *redis.Tx) error {
					versions := tx.Pipeline()
					for _, h := range homes {
						versions.HGet(ctx, h, fieldVersion)
					}
					if _, err := versions.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
						return err
					}
					_, err := tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
						writes(pipe, c)
						return nil
					})
					return err
				}, homes...)
				if err != nil {
					return err
				}
			}
			return nil
		})
	})
	b.Run("plain", func(b *testing.B) {
		measure(b, func() error {
			pipe := rdb.Pipeline()
			for _, c := range calls {
				writes(pipe, c)
			}
			_, err := pipe.Exec(ctx)
			return err
		})
	})
}

// commitOf is the commit of home h with perHome new contacts, each with one
// email click scored at at, and an offset n.
func commitOf(b *testing.B, engine *scoring.Engine, h *scoring.Home, perHome int, at time.Time, n int) Commit {
	b.Helper()
	for i := range perHome {
		c := &scoring.Contact{ID: fmt.Sprintf("c-%s-%d", h.ID, i)}
		var res scoring.Result
		ev := event.Event{ID: "e-" + c.ID, Type: "email.clicked", ContactID: c.ID, AccountID: h.Account.ID, Time: at}
		if err := engine.Apply(h.Account, c, &ev, &res); err != nil {
			b.Fatal(err)
		}
		h.Contacts[c.ID] = c
		h.Ledger = append(h.Ledger, res.Ledger...)
	}
	return Commit{Home: h, Meta: &Meta{}, Offsets: map[int32]int64{int32(n % 8): int64(n)}}
}

// BenchmarkWriteDerived writes the derived keys (index, due index, the
// contact and account leaderboards, filtered boards and cells) of a batch
// of 40 demo contacts, as the scorer does after each commit at a few
// thousand events a second, over boards already full from 20,000 contacts,
// and reports the wall time of a call and redis-server's CPU per call.
func BenchmarkWriteDerived(b *testing.B) {
	const contacts, batch = 20_000, 40
	ctx := context.Background()
	rdb := testutil.RedisClient(b)
	s := New(rdb, "bench")
	s.LeaderboardSize, s.FilteredBoardSize = 1000, 1000
	engine := scoring.New(model.Default())
	mem := scoring.NewMemory()
	ws := mem.Workspace(engine)
	gen := demo.New(7, contacts, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), "")
	for _, ev := range append(gen.Accounts(), gen.Next(8*contacts, 20*time.Second)...) {
		if err := ws.Apply(&ev); err != nil {
			b.Fatal(err)
		}
	}
	mem.Commit(ws)
	var all []*scoring.Contact
	derived := func(cs []*scoring.Contact, bump int32) Derived {
		d := Derived{Where: map[string]string{}, Contacts: map[string]int32{}, Due: map[string]int64{}, Boards: map[string]Boards{}}
		for _, c := range cs {
			d.Where[c.ID] = "a:" + c.AccountID
			d.Contacts[c.ID] = c.Score() + bump
			d.Due[c.ID] = c.DecayFrom + 86400
			bs := ContactBoards(c, c)
			bs.Score += bump
			d.Boards[c.ID] = bs
		}
		return d
	}
	for _, h := range mem.Homes {
		for _, c := range h.Contacts {
			all = append(all, c)
		}
	}
	for from := 0; from < len(all); from += 1000 {
		if err := s.WriteDerived(ctx, derived(all[from:min(from+1000, len(all))], 0)); err != nil {
			b.Fatal(err)
		}
	}
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		b.Fatal(err)
	}
	cpu := func() float64 { return testutil.RedisInfo(b, rdb, "cpu", "used_cpu_sys", "used_cpu_user") }
	cpu0 := cpu()
	n := 0
	for b.Loop() {
		from := (n * batch) % (len(all) - batch)
		if err := s.WriteDerived(ctx, derived(all[from:from+batch], int32(n%7))); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric((cpu()-cpu0)*1e6/float64(b.N), "redis-µs/call")
	if testing.Verbose() {
		stats, _ := rdb.Info(ctx, "commandstats").Result()
		b.Log(stats)
	}
}

// BenchmarkContactCodec encodes and decodes a demo contact (the format 2
// fixture's: a title, a title rule, two caps, a product) with every text
// inline (as format 3 wrote them) and with its texts numbered (format 4),
// and reports the state's bytes.
func BenchmarkContactCodec(b *testing.B) {
	c := &scoring.Contact{ID: "c-68900", AccountID: "acme-326.io", Title: "Product Manager", Fields: 63, TargetTitle: true,
		TitleRule: "manager", TitleFit: 5, Fit: 60, Anchor: 45, Behavior: 45, DecayFrom: 1814441360, DecayedTo: 1814441360,
		LastEngaged: 1814441360, Caps: []scoring.CapCount{{Rule: "blog@86400", Period: 20999, Count: 1},
			{Rule: "pricing-repeat@2592000", Period: 700, Count: 2}}, Grade: "A", Stage: model.Stage(2), MQL: true, AQL: true,
		Events: 23, Model: "3", MQLAt: 1769169560, AQLAt: 1771021120, Rules: []byte{51, 226}, Nurture: "key_vertical",
		Products: []scoring.Product{{Name: "analytics", Anchor: 10, Score: 12}}}
	dict := &labels{}
	dict.init()
	for i, t := range []string{"TProduct Manager", "Rmanager", "Rblog", "Rpricing-repeat", "Nanalytics"} {
		dict.ids[t], dict.text[uint32(i+1)] = uint32(i+1), t
	}
	for _, v := range []struct {
		name string
		dict *labels
	}{{"inline", nil}, {"numbered", dict}} {
		b.Run(v.name+"/encode", func(b *testing.B) {
			var n int
			for b.Loop() {
				n = len(encodeContact(c, v.dict))
			}
			b.ReportMetric(float64(n), "bytes")
		})
		b.Run(v.name+"/decode", func(b *testing.B) {
			raw := encodeContact(c, v.dict)
			r := &textReader{l: v.dict}
			if v.dict == nil {
				r = nil
			}
			for b.Loop() {
				if _, _, err := decodeContactWith(raw, c.ID, c.AccountID, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
