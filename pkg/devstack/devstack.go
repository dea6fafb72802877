package devstack

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/leadscore/leads/pkg/demo"
	"github.com/leadscore/leads/pkg/embedded"
	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/program"
	"github.com/leadscore/leads/pkg/stream"
)

// Config configures the dev stack.
type Config struct {
	// Brokers of a Kafka cluster to use instead of starting the embedded
	// broker (KafkaPort is then unused).
	Brokers []string
	// Prefix goes before the topic and consumer group names, so that
	// stacks can share a broker.
	Prefix         string
	KafkaPort      int
	IngestorAddr   string
	ScorerAddr     string
	DecayerAddr    string
	DecayEvery     time.Duration
	Partitions     int
	DemoRate       int // events per second; 0 disables demo traffic
	DemoContacts   int
	ModelPath      string
	LogLevel       string
	ForceMiniredis bool
	// RedisAddr uses a running Redis (a comma list: Redis Cluster) instead
	// of starting one.
	RedisAddr string
}

// Topics of the stack, with Config.Prefix before them.
const (
	EventsTopic      = "leads.events"
	TransitionsTopic = "leads.transitions"
	DLQTopic         = "leads.events.dlq"
)

// Stack is a running dev stack.
type Stack struct {
	Brokers          []string
	EventsTopic      string
	TransitionsTopic string
	DLQTopic         string
	RedisAddr        string
	RedisKind        string
	IngestorURL      string
	ScorerURL        string
	DecayerURL       string
}

// Run starts everything, calls ready with the addresses, and runs until ctx
// ends; then it stops the services first and the infrastructure last.
func Run(ctx context.Context, cfg Config, log *zap.Logger, ready func(Stack)) error {
	brokers := cfg.Brokers
	if len(brokers) == 0 {
		kafka, err := embedded.StartKafka(log, embedded.KafkaOptions{Port: cfg.KafkaPort, Partitions: int32(cfg.Partitions)})
		if err != nil {
			return fmt.Errorf("start Kafka: %w", err)
		}
		defer kafka.Close()
		brokers = kafka.Addrs()
	}
	st := Stack{Brokers: brokers, EventsTopic: cfg.Prefix + EventsTopic, TransitionsTopic: cfg.Prefix + TransitionsTopic,
		DLQTopic: cfg.Prefix + DLQTopic}
	if err := stream.EnsureTopics(ctx, stream.Config{Brokers: brokers},
		stream.TopicSpec{Name: st.EventsTopic, Partitions: cfg.Partitions, Config: map[string]string{"retention.ms": "-1"}},
		stream.TopicSpec{Name: st.TransitionsTopic, Partitions: cfg.Partitions},
		stream.TopicSpec{Name: st.DLQTopic, Partitions: 1}); err != nil {
		return err
	}
	redisAddr, redisKind := cfg.RedisAddr, "given"
	if redisAddr == "" {
		redis, err := embedded.StartRedis(ctx, log, embedded.RedisOptions{ForceMiniredis: cfg.ForceMiniredis})
		if err != nil {
			return fmt.Errorf("start Redis: %w", err)
		}
		defer redis.Close()
		redisAddr, redisKind = redis.Addr(), redis.Kind()
	}

	common := []string{
		"--kafka-brokers=" + strings.Join(brokers, ","), "--redis-addr=" + redisAddr, "--log-level=" + cfg.LogLevel,
		"--events-topic=" + st.EventsTopic, "--transitions-topic=" + st.TransitionsTopic, "--dlq-topic=" + st.DLQTopic,
	}
	if cfg.ModelPath != "" {
		common = append(common, "--model="+cfg.ModelPath)
	}
	st.RedisAddr, st.RedisKind = redisAddr, redisKind
	ingestorUp, scorerUp, decayerUp := make(chan string, 1), make(chan string, 1), make(chan string, 1)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return program.Ingestor(gctx, append(common, "--http-addr="+cfg.IngestorAddr), program.Options{
			OnListen: func(a string) { ingestorUp <- a }})
	})
	g.Go(func() error {
		return program.Scorer(gctx, append(common, "--http-addr="+cfg.ScorerAddr, "--session-timeout=2s",
			"--group="+cfg.Prefix+"leads-scorer"), program.Options{
			OnListen: func(a string) { scorerUp <- a }})
	})
	g.Go(func() error {
		return program.Decayer(gctx, append(common, "--http-addr="+cfg.DecayerAddr, "--interval="+cmp.Or(cfg.DecayEvery, time.Minute).String()),
			program.Options{OnListen: func(a string) { decayerUp <- a }})
	})
	for _, up := range []struct {
		ch  chan string
		url *string
	}{{ingestorUp, &st.IngestorURL}, {scorerUp, &st.ScorerURL}, {decayerUp, &st.DecayerURL}} {
		select {
		case a := <-up.ch:
			*up.url = "http://" + a
		case <-gctx.Done():
			return g.Wait()
		}
	}
	if ready != nil {
		ready(st)
	}
	if cfg.DemoRate > 0 {
		g.Go(func() error { return traffic(gctx, st.IngestorURL, cfg, log) })
	}
	err := g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// traffic posts demo events as NDJSON, ten batches a second.
func traffic(ctx context.Context, url string, cfg Config, log *zap.Logger) error {
	gen := demo.New(uint64(time.Now().UnixNano()), max(cfg.DemoContacts, 10), time.Now().UTC(), "")
	gen.Outcomes = true
	if err := post(ctx, url, gen.Accounts()); err != nil {
		return err
	}
	per := max(cfg.DemoRate/10, 1)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		gen.SetTime(time.Now().UTC())
		if err := post(ctx, url, gen.Next(per, time.Millisecond)); err != nil && ctx.Err() == nil {
			log.Warn("demo traffic post failed", zap.Error(err))
		}
	}
}

func post(ctx context.Context, url string, evs []event.Event) error {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	for i := range evs {
		if err := enc.Encode(&evs[i]); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/events", &body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("POST /v1/events: %s: %s", strconv.Itoa(resp.StatusCode), b)
	}
	return nil
}
