package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/leadscore/leads/pkg/app"
	"github.com/leadscore/leads/pkg/demo"
	"github.com/leadscore/leads/pkg/embedded"
	"github.com/leadscore/leads/pkg/event"
	lmodel "github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scorer"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/stream"
	"github.com/leadscore/leads/pkg/testutil"
)

const (
	benchEvents   = 1_000_000
	benchContacts = 100_000
)

// BenchmarkScorer1M pushes 1,000,000 demo events (100,000 contacts in 5,000
// accounts) through the test broker (embedded, or Apache Kafka: see
// docs/kafka.md) into one scorer with a real redis-server, and reports
// events/s, as such and as a multiple of a naive consumer's in the same run
// (x-naive, see naiveRate), and Redis bytes per contact.
func BenchmarkScorer1M(b *testing.B) { benchScorer(b, 1, 0) }

// BenchmarkScorer1MOnRedisDefaults is the same on a redis-server with
// Redis's default hash-max-listpack-value (64) rather than the one shipped
// (store.HashMaxListpackValue): what a deployment that has not set it
// stores.
func BenchmarkScorer1MOnRedisDefaults(b *testing.B) { benchScorer(b, 1, 64) }

// BenchmarkScorer1MTwoReplicas is the same with two scorers in one
// consumer group, splitting the partitions.
func BenchmarkScorer1MTwoReplicas(b *testing.B) { benchScorer(b, 2, 0) }

// BenchmarkScorer1MFourReplicas: four members, as `scorer --consumers 4`
// runs them in one process.
func BenchmarkScorer1MFourReplicas(b *testing.B) { benchScorer(b, 4, 0) }

// benchScorer runs the benchmark with replicas scorers, on a redis-server
// set to listpackValue (hash-max-listpack-value) unless it is 0.
func benchScorer(b *testing.B, replicas, listpackValue int) {
	ctx := context.Background()
	p := testutil.Prefix(b) + "."
	events, transitions, dlq := p+EventsTopic, p+TransitionsTopic, p+DLQTopic
	brokers := testutil.Kafka(b, 8, events, transitions, dlq)
	rdb := testutil.RedisClient(b)
	log := testutil.Logger(b)
	w := stream.NewWriter(stream.Config{Brokers: brokers}, log)
	defer w.Close()

	gen := demo.New(42, benchContacts, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), "")
	evs := gen.Accounts()
	evs = append(evs, gen.Next(benchEvents-len(evs), 20*time.Second)...)
	for chunk := range slicesChunk(evs, 20000) {
		recs := make([]stream.Record, len(chunk))
		for i := range chunk {
			v, err := json.Marshal(&chunk[i])
			if err != nil {
				b.Fatal(err)
			}
			recs[i] = stream.Record{Topic: events, Key: []byte(chunk[i].Key()), Value: v}
		}
		if err := w.Publish(ctx, recs...); err != nil {
			b.Fatal(err)
		}
	}
	// The baseline first, in the same run: its keys (in a database of their
	// own) are left out of the memory figures, its commands out of the
	// scorer's statistics.
	naive := naiveRate(b, brokers, p+"naive", events, naiveDB(b, rdb), "")
	if listpackValue > 0 {
		if err := rdb.ConfigSet(ctx, "hash-max-listpack-value", strconv.Itoa(listpackValue)).Err(); err != nil {
			b.Fatal(err)
		}
	}
	base := int64(testutil.RedisInfo(b, rdb, "memory", "used_memory"))
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		b.Fatal(err)
	}
	app.TuneGC()
	var regs []prometheus.Gatherer
	var scorers []*scorer.Scorer
	st := store.New(rdb, "leads")
	for range replicas {
		reg := prometheus.NewRegistry()
		src := stream.NewConsumer(stream.Config{Brokers: brokers, SessionTimeout: time.Second}, p+"bench", events, log)
		defer src.Close()
		s, err := scorer.New(scorer.Config{EventsTopic: events, TransitionsTopic: transitions, DLQTopic: dlq,
			BatchSize: 20000, Linger: 5 * time.Millisecond, MaxBackoff: time.Second}, log, src, w, st, scoring.New(lmodel.Default()),
			scorer.NewMetrics(reg))
		if err != nil {
			b.Fatal(err)
		}
		regs, scorers = append(regs, reg), append(scorers, s)
	}
	total := func(name string) float64 {
		var n float64
		for _, g := range regs {
			n += sum(b, g, name)
		}
		return n
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var elapsed, goCPU, redisCPU time.Duration
	var allocated uint64
	for b.Loop() {
		stopProfile := profileRun(b)
		go0, redis0 := testutil.CPU(b, rdb)
		var mem0, mem1 runtime.MemStats
		runtime.ReadMemStats(&mem0)
		start := time.Now()
		for _, s := range scorers {
			go func() { _ = s.Run(runCtx) }()
		}
		// Every event counted (events redelivered after a rebalance count
		// twice, so this is not enough), then the group at the end of the
		// topic: a batch's offsets are committed after its transitions.
		for wait := 10 * time.Millisecond; ; time.Sleep(wait) {
			if time.Since(start) > 10*time.Minute {
				b.Fatal("scorers did not finish in 10 minutes")
			}
			if total("leads_scorer_events_total")+total("leads_scorer_dedupe_hits_total") < benchEvents {
				continue
			}
			wait = 100 * time.Millisecond
			if done, err := stream.GroupCaughtUp(ctx, stream.Config{Brokers: brokers}, p+"bench", events); err != nil {
				b.Fatal(err)
			} else if done {
				break
			}
		}
		elapsed = time.Since(start)
		go1, redis1 := testutil.CPU(b, rdb)
		runtime.ReadMemStats(&mem1)
		allocated = mem1.TotalAlloc - mem0.TotalAlloc
		goCPU, redisCPU = go1-go0, redis1-redis0
		stopProfile()
	}
	cancel()
	if testing.Verbose() {
		stats, _ := rdb.Info(ctx, "commandstats").Result()
		b.Log(stats)
	}
	b.ReportMetric(testutil.RedisInfo(b, rdb, "cpu", "used_cpu_sys", "used_cpu_user"), "redis-cpu-s")
	b.ReportMetric(benchEvents/elapsed.Seconds(), "events/s")
	// Against one script call per event, each waited for (naive_test.go).
	b.ReportMetric(naive, "naive-events/s")
	b.ReportMetric(benchEvents/elapsed.Seconds()/naive, "x-naive")
	// Per event: the scorers with the embedded broker, and redis-server.
	b.ReportMetric(float64(goCPU.Microseconds())/benchEvents, "process-cpu-µs/event")
	b.ReportMetric(float64(redisCPU.Microseconds())/benchEvents, "redis-cpu-µs/event")
	// Bytes the process allocated (scorers, embedded broker, reader): less
	// noisy than its CPU, and what the collector's work follows.
	b.ReportMetric(float64(allocated)/benchEvents, "alloc-bytes/event")
	// Where the batches' path spends its time, per event
	// (leads_scorer_step_seconds_total; fetch includes waiting).
	for _, step := range []string{"fetch", "decode", "read", "apply", "commit"} {
		var seconds float64
		for _, g := range regs {
			seconds += labelled(b, g, "leads_scorer_step_seconds_total", "step", step)
		}
		b.ReportMetric(seconds*1e6/benchEvents, step+"-µs/event")
	}
	b.ReportMetric(total("leads_scorer_transitions_total"), "transitions")
	// Batches redone because another member committed one of their homes
	// between their load and their commit.
	b.ReportMetric(total("leads_scorer_version_conflicts_total"), "conflicts")
	// A crossing is published once on a run without faults; a rebalance
	// (several replicas) may publish one again, with its id: count both.
	ids := map[string]bool{}
	records := 0
	err := stream.Scan(ctx, stream.Config{Brokers: brokers}, transitions, 0, func(r stream.Record) error {
		var ce struct{ ID string }
		if err := json.Unmarshal(r.Value, &ce); err != nil {
			return err
		}
		ids[ce.ID] = true
		records++
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(ids)), "transition-ids")
	b.ReportMetric(float64(records-len(ids)), "transitions-repeated")
	used := int64(testutil.RedisInfo(b, rdb, "memory", "used_memory")) - base
	ledger := keysMemory(b, rdb, "leads:{*}:l:*")
	dedupe := keysMemory(b, rdb, "leads:dd:*")
	// The dictionary of the ledger lines' labels (store/labels.go) is
	// part of the ledger, not of the state.
	labels := keysMemory(b, rdb, "leads:ledger:labels")
	b.ReportMetric(float64(used)/benchContacts, "redis-bytes/contact")
	b.ReportMetric(float64(used-ledger-labels-dedupe)/benchContacts, "state-bytes/contact")
	b.ReportMetric(float64(ledger)/benchEvents, "ledger-bytes/event")
	b.ReportMetric(float64(labels)/benchContacts, "ledger-labels-bytes/contact")
	// The dictionary of state texts (store/texts.go) is part of the
	// state; shown apart too.
	texts := keysMemory(b, rdb, "leads:state:texts")
	b.ReportMetric(float64(texts)/benchContacts, "state-texts-bytes/contact")
	numbered, _ := rdb.HGet(ctx, "leads:state:texts", "#").Float64()
	b.ReportMetric(numbered, "state-texts")
	// Lines, as the history endpoint reads them (demo contacts are c-0…).
	var lines int
	for n := range benchContacts {
		h, err := st.History(ctx, fmt.Sprintf("c-%d", n), store.DefaultLedgerMax)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			b.Fatal(err)
		}
		lines += len(h)
	}
	b.ReportMetric(float64(ledger)/float64(lines), "ledger-bytes/line")
	b.ReportMetric(float64(dedupe)/benchEvents, "dedupe-bytes/event")
	// Where the state's bytes are, by kind of key (MEMORY USAGE, every
	// element counted): homes, the contact index, the email lookup, the
	// due index, the leaderboards (filtered boards, cells and their lost
	// marks included). The rest of state-bytes is Redis's key table and
	// buffers.
	for _, k := range []struct{ pattern, name string }{
		{"leads:{[ac]:*}", "homes"}, {"leads:ci:*", "index"}, {"leads:em:*", "email"}, {"leads:due:{*}", "due"},
		{"leads:lb:*", "boards"}, {"{leads:lb:*}:lost", "lost-marks"},
	} {
		b.ReportMetric(float64(keysMemory(b, rdb, k.pattern, 0))/benchContacts, k.name+"-bytes/contact")
	}
}

// profileEnv names a file to write a CPU profile of the scorers' run
// alone to: -test.cpuprofile also takes in publishing the events, the
// naive consumer and the reads after the run.
const profileEnv = "LEADS_BENCH_CPUPROFILE"

// profileRun starts the CPU profile profileEnv asks for, if any, and
// returns what stops it.
func profileRun(b *testing.B) (stop func()) {
	path := os.Getenv(profileEnv)
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Error(err)
		}
	}
}

func slicesChunk[T any](s []T, n int) func(func([]T) bool) {
	return func(yield func([]T) bool) {
		for i := 0; i < len(s); i += n {
			if !yield(s[i:min(i+n, len(s))]) {
				return
			}
		}
	}
}

// keysMemory sums MEMORY USAGE over the keys matching pattern, with
// samples (Redis's SAMPLES; 0 counts every element) when given.
func keysMemory(b *testing.B, rdb *redis.Client, pattern string, samples ...int) int64 {
	ctx := context.Background()
	var total int64
	iter := rdb.Scan(ctx, 0, pattern, 10000).Iterator()
	var keys []string
	flush := func() {
		pipe := rdb.Pipeline()
		cmds := make([]*redis.IntCmd, len(keys))
		for i, k := range keys {
			cmds[i] = pipe.MemoryUsage(ctx, k, samples...)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
		for _, c := range cmds {
			total += c.Val()
		}
		keys = keys[:0]
	}
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) == 5000 {
			flush()
		}
	}
	if len(keys) > 0 {
		flush()
	}
	return total
}

// labelled is the value of the counter name whose label is value.
func labelled(b *testing.B, g prometheus.Gatherer, name, label, value string) float64 {
	mfs, err := g.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	b.Fatalf("no %s{%s=%q}", name, label, value)
	return 0
}

func sum(b *testing.B, g prometheus.Gatherer, name string) float64 {
	mfs, err := g.Gather()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

// BenchmarkLatency5k runs the whole stack and posts NDJSON batches at 5,000
// events/s for 10 s. It reports p50 and p99 from the start of a POST to the
// transition its event caused arriving at a consumer of the transitions
// topic (franz-go, a client apart from the code under test), and, to say
// where that time goes, of the POST itself and, from the scorer's
// histograms, of ingest (the record's time) to the score in Redis, to the
// transition published, and of the scorer's batches.
func BenchmarkLatency5k(b *testing.B) { benchLatency(b, 100, 50, 10) } // 100 posts a second of 50 events

// BenchmarkLatencyTrickle is the same at 50 events/s, one event a POST, for
// 8 s: the programs mostly idle between events, as at a quiet hour.
func BenchmarkLatencyTrickle(b *testing.B) { benchLatency(b, 50, 1, 8) }

func benchLatency(b *testing.B, posts, perPost, seconds int) {
	s, stop := benchStack(b)
	defer stop()
	gen := demo.New(7, 20000, time.Now().UTC(), "lat-")
	w := watchTransitions(b, s.Brokers, s.TransitionsTopic)
	if err := postBench(s.IngestorURL, gen.Accounts()); err != nil {
		b.Fatal(err)
	}
	// Warm-up (the consumer joining its group, the accounts) is left out:
	// quantiles are of the difference between two scrapes.
	time.Sleep(2 * time.Second)
	before := scrape(b, s.ScorerURL+"/metrics")
	var took []float64
	for b.Loop() {
		tick := time.NewTicker(time.Second / time.Duration(posts))
		for i := 0; i < seconds*posts; i++ {
			<-tick.C
			gen.SetTime(time.Now().UTC())
			evs := gen.Next(perPost, time.Millisecond)
			start := w.posting(evs)
			if err := postBench(s.IngestorURL, evs); err != nil {
				b.Fatal(err)
			}
			took = append(took, time.Since(start).Seconds())
		}
		tick.Stop()
	}
	time.Sleep(2 * time.Second) // the stragglers
	e2e := w.stop()
	hs := scrape(b, s.ScorerURL+"/metrics")
	for name, h := range hs {
		hs[name] = minus(h, before[name])
	}
	b.ReportMetric(exactQuantile(e2e, 0.50)*1000, "post-to-transition-p50-ms")
	b.ReportMetric(exactQuantile(e2e, 0.99)*1000, "post-to-transition-p99-ms")
	b.ReportMetric(float64(len(e2e)), "transitions")
	b.ReportMetric(exactQuantile(took, 0.50)*1000, "post-p50-ms")
	b.ReportMetric(exactQuantile(took, 0.99)*1000, "post-p99-ms")
	for _, h := range []struct{ name, label string }{
		{"leads_scorer_event_latency_seconds", "score"},
		{"leads_scorer_transition_latency_seconds", "transition"},
		{"leads_scorer_batch_seconds", "batch"},
	} {
		b.ReportMetric(quantile(hs[h.name], 0.50)*1000, h.label+"-p50-ms")
		b.ReportMetric(quantile(hs[h.name], 0.99)*1000, h.label+"-p99-ms")
	}
	b.ReportMetric(quantile(hs["leads_scorer_batch_events"], 0.50), "batch-p50-events")
}

// transitionWatch times transitions from the POST of their cause (the
// event id in the CloudEvent's data.cause) to their arrival.
type transitionWatch struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	posted  map[string]time.Time
	seconds []float64
}

// watchTransitions consumes every partition of topic from its end, and
// waits until it is there.
func watchTransitions(b *testing.B, brokers []string, topic string) *transitionWatch {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()), kgo.FetchMaxWait(time.Second))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &transitionWatch{cl: cl, cancel: cancel, done: make(chan struct{}), posted: map[string]time.Time{}}
	go func() {
		defer close(w.done)
		for {
			fs := cl.PollFetches(ctx)
			at := time.Now()
			if ctx.Err() != nil {
				return
			}
			fs.EachRecord(func(r *kgo.Record) {
				var ce struct {
					Data struct{ Cause string } `json:"data"`
				}
				if json.Unmarshal(r.Value, &ce) != nil {
					return
				}
				w.mu.Lock()
				if t, ok := w.posted[ce.Data.Cause]; ok {
					w.seconds = append(w.seconds, at.Sub(t).Seconds())
				}
				w.mu.Unlock()
			})
		}
	}()
	return w
}

// posting notes that evs are being posted now, and returns now.
func (w *transitionWatch) posting(evs []event.Event) time.Time {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := range evs {
		w.posted[evs[i].ID] = now
	}
	return now
}

// stop ends the watch and returns the latencies seen, in seconds.
func (w *transitionWatch) stop() []float64 {
	w.cancel()
	<-w.done
	w.cl.Close()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seconds
}

// exactQuantile is the q-quantile of xs (sorted in place), NaN when empty.
func exactQuantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	sort.Float64s(xs)
	return xs[min(len(xs)-1, int(q*float64(len(xs))))]
}

// BenchmarkIngestNDJSON posts 1,000-event NDJSON batches from four clients
// to the ingestor, which publishes them with acks=all to the test broker.
func BenchmarkIngestNDJSON(b *testing.B) {
	s, stop := benchStack(b)
	defer stop()
	gen := demo.New(9, 50000, time.Now().UTC().Add(-time.Hour), "ing-")
	bodies := make([][]byte, 50)
	for i := range bodies {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		for _, e := range gen.Next(1000, time.Millisecond) {
			if err := enc.Encode(&e); err != nil {
				b.Fatal(err)
			}
		}
		bodies[i] = buf.Bytes()
	}
	var sent int
	for b.Loop() {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for c := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := c; i < len(bodies)*4; i += 4 {
					resp, err := http.Post(s.IngestorURL+"/v1/events", "application/x-ndjson", bytes.NewReader(bodies[i%len(bodies)]))
					if err != nil || resp.StatusCode != http.StatusAccepted {
						b.Errorf("post: %v %v", err, resp)
						return
					}
					resp.Body.Close()
					mu.Lock()
					sent += 1000
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	}
	b.ReportMetric(float64(sent)/b.Elapsed().Seconds(), "events/s")
}

func benchStack(b *testing.B) (Stack, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	up := make(chan Stack, 1)
	done := make(chan error, 1)
	port, err := embedded.FreePort()
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		done <- Run(ctx, Config{Brokers: testutil.RealKafka(b), Prefix: testutil.Prefix(b) + ".", KafkaPort: port, IngestorAddr: "127.0.0.1:0", ScorerAddr: "127.0.0.1:0", DecayerAddr: "127.0.0.1:0", Partitions: 8, LogLevel: "error"},
			testutil.Logger(b), func(s Stack) { up <- s })
	}()
	select {
	case s := <-up:
		return s, func() { cancel(); <-done }
	case err := <-done:
		b.Fatal(err)
	}
	return Stack{}, nil
}

func postBench(url string, evs []event.Event) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i := range evs {
		if err := enc.Encode(&evs[i]); err != nil {
			return err
		}
	}
	resp, err := http.Post(url+"/v1/events", "application/x-ndjson", &buf)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func scrape(b *testing.B, url string) map[string]*dto.Histogram {
	resp, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	out := map[string]*dto.Histogram{}
	for name, mf := range mfs {
		if mf.GetType() == dto.MetricType_HISTOGRAM && len(mf.GetMetric()) > 0 {
			out[name] = mf.GetMetric()[0].GetHistogram()
		}
	}
	return out
}

// minus returns the histogram of the observations made between two scrapes.
func minus(after, before *dto.Histogram) *dto.Histogram {
	if before == nil {
		return after
	}
	prev := map[float64]uint64{}
	for _, bk := range before.GetBucket() {
		prev[bk.GetUpperBound()] = bk.GetCumulativeCount()
	}
	count := after.GetSampleCount() - before.GetSampleCount()
	out := &dto.Histogram{SampleCount: &count}
	for _, bk := range after.GetBucket() {
		c := bk.GetCumulativeCount() - prev[bk.GetUpperBound()]
		ub := bk.GetUpperBound()
		out.Bucket = append(out.Bucket, &dto.Bucket{UpperBound: &ub, CumulativeCount: &c})
	}
	return out
}

// quantile interpolates linearly inside the histogram bucket holding q.
func quantile(h *dto.Histogram, q float64) float64 {
	if h == nil || h.GetSampleCount() == 0 {
		return math.NaN()
	}
	buckets := h.GetBucket()
	sort.Slice(buckets, func(i, j int) bool { return buckets[i].GetUpperBound() < buckets[j].GetUpperBound() })
	rank := q * float64(h.GetSampleCount())
	prevBound, prevCount := 0.0, 0.0
	for _, bk := range buckets {
		c := float64(bk.GetCumulativeCount())
		if c >= rank {
			if c == prevCount {
				return bk.GetUpperBound()
			}
			return prevBound + (bk.GetUpperBound()-prevBound)*(rank-prevCount)/(c-prevCount)
		}
		prevBound, prevCount = bk.GetUpperBound(), c
	}
	return prevBound
}
