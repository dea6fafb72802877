package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/leadscore/leads/pkg/demo"
	"github.com/leadscore/leads/pkg/program"
	"github.com/leadscore/leads/pkg/stream"
	"github.com/leadscore/leads/pkg/testutil"
)

// BenchmarkIngestVsProducer compares the ingestor with raw producers
// writing the same records (the events as the ingestor encodes them, keyed
// alike, lz4, acks=all) straight to the test broker: franz-go, and
// stream.Writer (the ingestor's own client, reported as kafka-go: its
// produce requests go through kafka-go's protocol and transport). Each sends
// 1,000-event batches from 4 clients; the ingestor runs alone (no scorer).
// The phases run in the order franz-go, kafka-go, ingestor, ingestor,
// kafka-go, franz-go, so that the machine's drift weighs on each alike.
// Each phase's CPU per event is the test process's (clients, ingestor,
// and the broker when it is the embedded one).
func BenchmarkIngestVsProducer(b *testing.B) {
	const clients, batches, rounds, perBatch = 4, 100, 4, 1000
	topic := testutil.Prefix(b) + ".events"
	brokers := testutil.Kafka(b, 8, topic)
	url := startIngestor(b, brokers, topic)
	ctx := b.Context()

	gen := demo.New(9, 50000, time.Now().UTC().Add(-time.Hour), "ing-")
	bodies := make([][]byte, batches)
	recs := make([][]stream.Record, batches)
	for i := range bodies {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		for _, e := range gen.Next(perBatch, time.Millisecond) {
			if err := enc.Encode(&e); err != nil {
				b.Fatal(err)
			}
			v, err := json.Marshal(&e)
			if err != nil {
				b.Fatal(err)
			}
			recs[i] = append(recs[i], stream.Record{Topic: topic, Key: []byte(e.Key()), Value: v})
		}
		bodies[i] = buf.Bytes()
	}

	franz, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerBatchCompression(kgo.Lz4Compression()),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(stream.DefaultBatchTimeout))
	if err != nil {
		b.Fatal(err)
	}
	defer franz.Close()
	kgoRecs := make([][]*kgo.Record, batches)
	for i := range recs {
		for _, r := range recs[i] {
			kgoRecs[i] = append(kgoRecs[i], &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value})
		}
	}
	w := stream.NewWriter(stream.Config{Brokers: brokers}, testutil.Logger(b))
	defer w.Close()

	// One kept-alive connection a client (http.DefaultClient keeps two).
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	defer hc.CloseIdleConnections()
	send := map[string]func(i int) error{
		"franz-go": func(i int) error {
			at := time.Now()
			for _, r := range kgoRecs[i] {
				r.Timestamp = at
			}
			return franz.ProduceSync(ctx, kgoRecs[i]...).FirstErr()
		},
		"kafka-go": func(i int) error {
			at := time.Now()
			for j := range recs[i] {
				recs[i][j].Time = at
			}
			return w.Publish(ctx, recs[i]...)
		},
		"ingestor": func(i int) error {
			resp, err := hc.Post(url+"/v1/events", "application/x-ndjson", bytes.NewReader(bodies[i]))
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				return &statusError{resp.StatusCode}
			}
			return nil
		},
	}
	took, cpu := map[string]time.Duration{}, map[string]time.Duration{}
	run := func(name string) {
		cpu0 := processCPU(b)
		took[name] += sendAll(b, name, clients, rounds, batches, send[name])
		cpu[name] += processCPU(b) - cpu0
	}
	run("franz-go") // warm-up: connections, metadata, the broker's JIT
	run("ingestor")
	clear(took)
	clear(cpu)
	for b.Loop() {
		for _, name := range []string{"franz-go", "kafka-go", "ingestor", "ingestor", "kafka-go", "franz-go"} {
			run(name)
		}
	}
	events := float64(2 * b.N * rounds * batches * perBatch)
	rate := func(name string) float64 { return events / took[name].Seconds() }
	for _, name := range []string{"ingestor", "franz-go", "kafka-go"} {
		b.ReportMetric(rate(name), name+"-events/s")
		b.ReportMetric(float64(cpu[name].Nanoseconds())/events/1e3, name+"-cpu-µs/event")
	}
	b.ReportMetric(rate("ingestor")/rate("franz-go"), "ingestor/franz-go")
	b.ReportMetric(rate("ingestor")/rate("kafka-go"), "ingestor/kafka-go")
}

// sendAll has clients send batches 0 to batches-1, rounds times, each
// client its own batches (no batch is sent by two clients at once), and
// returns how long it took.
func sendAll(b *testing.B, name string, clients, rounds, batches int, send func(i int) error) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; i < rounds*batches; i += clients {
				if err := send(i % batches); err != nil {
					b.Errorf("%s: %v", name, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

// processCPU is the CPU time the test process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startIngestor runs an ingestor alone (no scorer) on the events topic
// until the benchmark ends, and returns its URL.
func startIngestor(b *testing.B, brokers []string, topic string) string {
	b.Helper()
	redisAddr, _ := testutil.Redis(b)
	ctx, cancel := context.WithCancel(context.Background())
	up, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- program.Ingestor(ctx, []string{"--kafka-brokers=" + brokers[0], "--redis-addr=" + redisAddr,
			"--events-topic=" + topic, "--http-addr=127.0.0.1:0", "--log-level=error"},
			program.Options{OnListen: func(a string) { up <- "http://" + a }})
	}()
	b.Cleanup(func() { cancel(); <-done })
	select {
	case url := <-up:
		return url
	case err := <-done:
		b.Fatal(err)
	}
	return ""
}

type statusError struct{ code int }

func (e *statusError) Error() string { return "status " + http.StatusText(e.code) }
