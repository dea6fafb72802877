package rescore_test

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

	"github.com/redis/go-redis/v9"

	"github.com/leadscore/leads/pkg/app"
	"github.com/leadscore/leads/pkg/demo"
	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/rescore"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/stream"
	"github.com/leadscore/leads/pkg/testutil"
)

const (
	benchEvents   = 1_000_000
	benchContacts = 100_000
)

func benchHistory() []event.Event {
	gen := demo.New(42, benchContacts, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), "")
	evs := gen.Accounts()
	return append(evs, gen.Next(benchEvents-len(evs), 20*time.Second)...)
}

// BenchmarkBackfillTopic1M backfills 1,000,000 demo events (100,000
// contacts in 5,000 accounts) from the embedded broker into a real
// redis-server and reports events/s, with 1, 2, 4 and 8 workers.
func BenchmarkBackfillTopic1M(b *testing.B) {
	for _, workers := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) { benchTopic(b, workers) })
	}
}

func benchTopic(b *testing.B, workers int) {
	ctx := context.Background()
	p := testutil.Prefix(b)
	brokers := testutil.Kafka(b, 8, p+".events")
	rdb := testutil.RedisClient(b)
	log := testutil.Logger(b)
	cfg := stream.Config{Brokers: brokers}
	w := stream.NewWriter(cfg, log)
	defer w.Close()
	evs := benchHistory()
	for i := 0; i < len(evs); i += 20000 {
		chunk := evs[i:min(i+20000, len(evs))]
		recs := make([]stream.Record, len(chunk))
		for j := range chunk {
			v, err := json.Marshal(&chunk[j])
			if err != nil {
				b.Fatal(err)
			}
			recs[j] = stream.Record{Topic: p + ".events", Key: []byte(chunk[j].Key()), Value: v}
		}
		if err := w.Publish(ctx, recs...); err != nil {
			b.Fatal(err)
		}
	}
	app.TuneGC()
	run := 0
	for b.Loop() {
		run++
		bf := &rescore.Backfill{Log: log, Store: store.New(rdb, p+"-"+string(rune('a'+run))), Engine: scoring.New(model.Default()),
			Kafka: cfg, Topic: p + ".events", Workers: workers}
		measure(b, rdb, func() (*rescore.Result, error) { return bf.FromTopic(ctx, time.Time{}, time.Time{}, false) })
	}
}

// BenchmarkBackfillFile1M backfills the same 1,000,000 events from an
// NDJSON archive, in 1 and 8 lanes.
func BenchmarkBackfillFile1M(b *testing.B) {
	ctx := context.Background()
	p := testutil.Prefix(b)
	rdb := testutil.RedisClient(b)
	path := filepath.Join(b.TempDir(), "events.ndjson")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	enc := json.NewEncoder(bw)
	for _, e := range benchHistory() {
		if err := enc.Encode(&e); err != nil {
			b.Fatal(err)
		}
	}
	if err := errors.Join(bw.Flush(), f.Close()); err != nil {
		b.Fatal(err)
	}
	app.TuneGC()
	for _, workers := range []int{1, 8} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			run := 0
			for b.Loop() {
				run++
				bf := &rescore.Backfill{Log: testutil.Logger(b), Store: store.New(rdb, fmt.Sprintf("%s-%d-%d", p, workers, run)),
					Engine: scoring.New(model.Default()), Workers: workers}
				measure(b, rdb, func() (*rescore.Result, error) { return bf.FromFile(ctx, path) })
			}
		})
	}
}

// measure runs one backfill of the benchmark's events and reports its rate
// and the CPU redis-server spent on it.
func measure(b *testing.B, rdb *redis.Client, backfill func() (*rescore.Result, error)) {
	go0, redis0 := testutil.CPU(b, rdb)
	res, err := backfill()
	if err != nil {
		b.Fatal(err)
	}
	go1, redis1 := testutil.CPU(b, rdb)
	b.ReportMetric((redis1 - redis0).Seconds(), "redis-cpu-s")
	if res.Events != benchEvents {
		b.Fatalf("backfilled %d events, want %d", res.Events, benchEvents)
	}
	b.ReportMetric(float64(res.Events)/res.Elapsed.Seconds(), "events/s")
	b.ReportMetric(float64((go1-go0).Microseconds())/benchEvents, "process-cpu-µs/event")
	b.ReportMetric(float64((redis1-redis0).Microseconds())/benchEvents, "redis-cpu-µs/event")
}
