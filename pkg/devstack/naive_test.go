package devstack

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/stream"
	"github.com/leadscore/leads/pkg/testutil"
)

// naiveScript is what a first lead scorer does for one event, in one call:
// skip an id seen in the last day, add the points of the event type, keep
// the time, rank the contact. No accounts, decay, ledger or crossings: it
// is cheaper per event than the scorer's work, which makes it a fair floor.
var naiveScript = redis.NewScript(`
if not redis.call('SET', KEYS[1], 1, 'NX', 'EX', 86400) then return 0 end
local score = redis.call('HINCRBY', KEYS[2], 'score', ARGV[1])
redis.call('HSET', KEYS[2], 'at', ARGV[2])
redis.call('ZADD', KEYS[3], score, ARGV[3])
return 1`)

// naiveEvents is how many events the naive consumer takes: at one round
// trip an event it is far slower than the scorer, and its rate is steady
// after a few thousand.
const naiveEvents = 100_000

// naiveDB is a client of rdb's server on database 1: the naive consumer's
// keys then do not grow the scorer's key space (database 0), whose table
// used_memory counts.
func naiveDB(b *testing.B, rdb *redis.Client) *redis.Client {
	opts := *rdb.Options()
	opts.DB = 1
	c := redis.NewClient(&opts)
	b.Cleanup(func() { c.Close() })
	return c
}

// naiveRate runs the naive consumer over the first naiveEvents events of
// topic (in its own consumer group and keys) and returns its events/s: a
// baseline measured in the same run as the scorer, so that the ratio
// between them cancels most of the machine's noise. It consumes as the
// scorer does (batches, offsets committed after each), but calls the
// script once per event and waits for its reply.
func naiveRate(b *testing.B, brokers []string, group, topic string, rdb *redis.Client, keys string) float64 {
	b.Helper()
	ctx := context.Background()
	src := stream.NewConsumer(stream.Config{Brokers: brokers, SessionTimeout: time.Second}, group, topic, testutil.Logger(b))
	defer src.Close()
	if err := naiveScript.Load(ctx, rdb).Err(); err != nil {
		b.Fatal(err)
	}
	var start time.Time
	var ev event.Event
	for n := 0; n < naiveEvents; {
		recs, err := src.FetchBatch(ctx, min(1000, naiveEvents-n), 5*time.Millisecond)
		if err != nil {
			b.Fatal(err)
		}
		if start.IsZero() {
			start = time.Now() // the group joined
		}
		for _, r := range recs {
			ev = event.Event{}
			if err := event.Unmarshal(r.Value, &ev); err != nil {
				b.Fatal(err)
			}
			who := ev.ContactID
			if who == "" {
				who = ev.AccountID
			}
			err := naiveScript.EvalSha(ctx, rdb, []string{keys + "id:" + ev.ID, keys + "c:" + who, keys + "lb"},
				1+len(ev.Type)%10, ev.Time.Unix(), who).Err()
			if err != nil {
				b.Fatal(err)
			}
		}
		if err := src.Commit(ctx, recs); err != nil {
			b.Fatal(err)
		}
		n += len(recs)
	}
	return naiveEvents / time.Since(start).Seconds()
}
