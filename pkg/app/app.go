package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/leadscore/leads/pkg/httperr"
	"github.com/leadscore/leads/pkg/model"
)

// Common are the flags every program takes.
type Common struct {
	KafkaBrokers     string
	RedisAddr        string
	Namespace        string
	EventsTopic      string
	TransitionsTopic string
	DLQTopic         string
	ModelPath        string
	HTTPAddr         string
	LogLevel         string
	RedisSecurity    RedisSecurity
}

// Errors from Validate. ErrBrokersFlag is the flag left empty; a Kafka
// configuration without brokers is stream.ErrNoBrokers.
var (
	ErrBrokersFlag = errors.New("--kafka-brokers is required")
	ErrNoRedis     = errors.New("--redis-addr is required")
	ErrNoTopics    = errors.New("--events-topic, --transitions-topic and --dlq-topic are required")
	ErrLogLevel    = errors.New("--log-level must be debug, info, warn or error")
)

// RegisterFlags adds the common flags; httpAddr is the program's default listener.
func (c *Common) RegisterFlags(fs *flag.FlagSet, httpAddr string) {
	fs.StringVar(&c.KafkaBrokers, "kafka-brokers", "localhost:9092", "comma-separated seed brokers")
	fs.StringVar(&c.RedisAddr, "redis-addr", "localhost:6379", "host:port or redis:// URL; a comma list means Redis Cluster")
	fs.StringVar(&c.Namespace, "namespace", "leads", "Redis key prefix of the live scores (replay writes to others)")
	fs.StringVar(&c.EventsTopic, "events-topic", "leads.events", "input events topic")
	fs.StringVar(&c.TransitionsTopic, "transitions-topic", "leads.transitions", "threshold crossings (output) topic")
	fs.StringVar(&c.DLQTopic, "dlq-topic", "leads.events.dlq", "topic for events that cannot be processed")
	fs.StringVar(&c.ModelPath, "model", "", "path of a scoring-model file (default: the built-in model)")
	fs.StringVar(&c.HTTPAddr, "http-addr", httpAddr, "HTTP listener for health, readiness and metrics")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	c.RedisSecurity.RegisterFlags(fs)
}

// Validate checks the common flags.
func (c *Common) Validate() error {
	var errs []error
	if strings.TrimSpace(c.KafkaBrokers) == "" {
		errs = append(errs, ErrBrokersFlag)
	}
	if strings.TrimSpace(c.RedisAddr) == "" {
		errs = append(errs, ErrNoRedis)
	}
	if c.EventsTopic == "" || c.TransitionsTopic == "" || c.DLQTopic == "" {
		errs = append(errs, ErrNoTopics)
	}
	if _, err := zapcore.ParseLevel(c.LogLevel); err != nil {
		errs = append(errs, ErrLogLevel)
	}
	if err := c.RedisSecurity.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Brokers returns the seed brokers as a list.
func (c *Common) Brokers() []string { return SplitList(c.KafkaBrokers) }

// SplitList splits a comma-separated list, dropping blanks.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Logger returns a JSON logger on stderr at the level.
func Logger(level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, err
	}
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.EncoderConfig.TimeKey = "time"
	cfg.EncoderConfig.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	return cfg.Build()
}

// RouteRedisLogs sends go-redis's own log lines (dial failures, dropped
// connections: it retries them itself) to log at Warn, under the name
// redis, instead of the plain text it prints on stderr among the JSON
// lines. go-redis has one logger per process: the last call wins. The
// caller skips this adapter and go-redis's forwarding Printf, so it names
// the go-redis statement that logged.
func RouteRedisLogs(log *zap.Logger) {
	redis.SetLogger(redisLogger{log.Named("redis").WithOptions(zap.AddCallerSkip(2))})
}

type redisLogger struct{ log *zap.Logger }

func (l redisLogger) Printf(_ context.Context, format string, args ...any) {
	if l.log.Core().Enabled(zap.WarnLevel) {
		l.log.Warn(strings.TrimSpace(fmt.Sprintf(format, args...)))
	}
}

// LoadModel reads the model file, or the built-in default when path is "".
func LoadModel(path string) (*model.Model, error) {
	if path == "" {
		return model.Default(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}
	m, err := model.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", path, err)
	}
	return m, nil
}

// Redis returns a client for host:port, a redis:// URL, or a comma list of
// cluster nodes, with the credentials and TLS of s (the zero value for
// none; every command that takes --redis-addr takes the security flags too).
func Redis(addr string, s RedisSecurity) (redis.UniversalClient, error) {
	addrs := SplitList(addr)
	switch {
	case len(addrs) == 0:
		return nil, ErrNoRedis
	case len(addrs) > 1:
		opts := &redis.ClusterOptions{Addrs: addrs}
		if err := s.apply(&opts.Username, &opts.Password, &opts.TLSConfig); err != nil {
			return nil, err
		}
		return redis.NewClusterClient(opts), nil
	case strings.HasPrefix(addrs[0], "redis://") || strings.HasPrefix(addrs[0], "rediss://"):
		opts, err := redis.ParseURL(addrs[0])
		if err != nil {
			return nil, fmt.Errorf("redis url: %w", err)
		}
		if err := s.apply(&opts.Username, &opts.Password, &opts.TLSConfig); err != nil {
			return nil, err
		}
		return redis.NewClient(opts), nil
	}
	opts := &redis.Options{Addr: addrs[0]}
	if err := s.apply(&opts.Username, &opts.Password, &opts.TLSConfig); err != nil {
		return nil, err
	}
	return redis.NewClient(opts), nil
}

// Registry returns a Prometheus registry with the Go and process
// collectors and leads_build_info.
func Registry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		ReadBuild().collector())
	return reg
}

// ReadyTimeout bounds one /readyz answer: a probe that waits longer
// than its own timeout (a second in Kubernetes by default) counts as
// failed anyway, and a hung dependency must not hold the answer.
const ReadyTimeout = time.Second

// A Check is one thing /readyz asks about: a dependency, or the program's
// own state.
type Check struct {
	// Name says what is wrong in /readyz's answer: "redis", "kafka".
	Name string
	// Ping returns nil while the dependency answers. Its error may name
	// internal addresses: it goes to the log, never into the answer.
	Ping func(ctx context.Context) error
	// Failing is what the answer says after Name when Ping fails or does
	// not answer within ReadyTimeout; "not reachable" when empty.
	Failing string
}

// Health serves /healthz, /readyz and /metrics. /readyz runs the Checks
// at once and answers within ReadyTimeout, 503 naming each check that
// failed or did not answer in time; Draining makes it answer 503 during
// shutdown.
type Health struct {
	Checks   []Check
	Gatherer prometheus.Gatherer
	// Log receives why a check failed (nil: nowhere), once per change.
	Log      *zap.Logger
	draining atomic.Bool

	mu      sync.Mutex
	flights map[int]*flight
	failing string // the last answer's failures, to log only changes
}

// flight is one run of a check's Ping, which every probe arriving while it
// runs waits for: a Ping that ignores its deadline (go-redis reads with its
// own timeouts and retries) then costs one goroutine, not one per probe.
type flight struct {
	done chan struct{}
	err  error
}

// wait reports whether the flight is done, waiting until ctx ends at
// most. A flight that finished while an earlier check was waited for
// counts as done, whatever ctx.
func (f *flight) wait(ctx context.Context) bool {
	select {
	case <-f.done:
		return true
	default:
	}
	select {
	case <-f.done:
		return true
	case <-ctx.Done():
		return false
	}
}

// Drain makes /readyz answer 503 from now on.
func (h *Health) Drain() { h.draining.Store(true) }

// Register mounts the endpoints. /healthz and /readyz answer JSON, a 503
// in the error shape (see httperr) saying why the program is not ready.
func (h *Health) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeStatus(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if h.draining.Load() {
			httperr.Write(w, http.StatusServiceUnavailable, "not ready: shutting down")
			return
		}
		if failing := h.Check(r.Context()); failing != "" {
			httperr.Write(w, http.StatusServiceUnavailable, "not ready: "+failing)
			return
		}
		writeStatus(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(h.Gatherer, promhttp.HandlerOpts{}))
}

func writeStatus(w http.ResponseWriter, status string) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, "{\"status\":%q}\n", status)
}

// ReadyGauge is leads_ready: 1 while every check answers well, as /readyz
// would say at the scrape, else 0, so that alerts see what probes see.
func (h *Health) ReadyGauge() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "leads_ready",
		Help: "1 while every dependency answers (what /readyz says at the scrape), else 0."}, func() float64 {
		if h.draining.Load() || h.Check(context.Background()) != "" {
			return 0
		}
		return 1
	})
}

// Check runs every check, waiting at most ReadyTimeout, and returns what
// fails ("redis: not reachable; kafka: not reachable"), or "" when all
// answered well.
func (h *Health) Check(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	defer cancel()
	flights := make([]*flight, len(h.Checks))
	for i := range h.Checks {
		flights[i] = h.ping(i)
	}
	var msgs []string
	var errs []error
	for i, f := range flights {
		c := &h.Checks[i]
		what := c.Failing
		if what == "" {
			what = "not reachable"
		}
		if !f.wait(ctx) {
			what += " (no answer within " + ReadyTimeout.String() + ")"
			errs = append(errs, fmt.Errorf("%s: no answer within %s", c.Name, ReadyTimeout))
		} else if f.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.Name, f.err))
		} else {
			continue
		}
		msgs = append(msgs, c.Name+": "+what)
	}
	failing := strings.Join(msgs, "; ")
	h.logChange(failing, errs)
	return failing
}

// ping returns the running flight of check i, or starts one. Its context
// is its own, bounded by ReadyTimeout, so that a probe that goes away does
// not fail the others waiting for it.
func (h *Health) ping(i int) *flight {
	h.mu.Lock()
	defer h.mu.Unlock()
	if f := h.flights[i]; f != nil {
		return f
	}
	if h.flights == nil {
		h.flights = map[int]*flight{}
	}
	f := &flight{done: make(chan struct{})}
	h.flights[i] = f
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), ReadyTimeout)
		defer cancel()
		f.err = h.Checks[i].Ping(ctx)
		h.mu.Lock()
		delete(h.flights, i)
		h.mu.Unlock()
		close(f.done)
	}()
	return f
}

// logChange logs why the program is not ready, with the checks' own
// errors, when that changes (probes come every few seconds).
func (h *Health) logChange(failing string, errs []error) {
	h.mu.Lock()
	changed := failing != h.failing
	h.failing = failing
	h.mu.Unlock()
	if !changed || h.Log == nil {
		return
	}
	if failing == "" {
		h.Log.Info("ready")
		return
	}
	h.Log.Warn("not ready", zap.String("failing", failing), zap.Errors("errors", errs))
}

// Server runs an HTTP server until ctx ends, then shuts it down within the
// grace period.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// ReadTimeout is how long a client may take to send one request, headers
// and body: a 5 MiB body needs less than a second on any link a marketing
// tool posts from.
var ReadTimeout = time.Minute

// Listen binds addr now, so callers learn the real port (":0" in tests)
// before serving.
func Listen(addr string, h http.Handler) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	// ReadTimeout bounds a whole request, body included, so a client that
	// trickles a body cannot hold a connection and its buffer for long.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: ReadTimeout, IdleTimeout: 2 * time.Minute}
	stopping := make(chan struct{})
	base := context.WithValue(context.Background(), stoppingKey{}, (<-chan struct{})(stopping))
	srv.BaseContext = func(net.Listener) context.Context { return base }
	var once sync.Once
	srv.RegisterOnShutdown(func() { once.Do(func() { close(stopping) }) })
	return &Server{ln: ln, srv: srv}, nil
}

type stoppingKey struct{}

// Stopping returns a channel closed when the server serving a request
// begins to shut down (nil, never closed, outside one). Shutdown waits for
// every handler to return and cancels none: a response that streams until
// the client leaves (server-sent events) ends when this closes, so that it
// does not hold a graceful shutdown until its deadline.
func Stopping(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(stoppingKey{}).(<-chan struct{})
	return ch
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve serves until ctx ends, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("http shutdown: %w", err)
	}
	return nil
}

// TuneGC lets the heap grow to five times the live data between
// collections unless GOGC is set: the scorer's live heap is small and its
// garbage is per batch, so the default spends a tenth of its CPU collecting.
func TuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
}

// WatchReview publishes the model's version and review schedule as metrics
// (leads_model_info, leads_model_review_due_timestamp_seconds,
// leads_model_review_overdue) and warns in the log when the review is past
// due: 60 days after the first version, then every 90 days.
func WatchReview(reg prometheus.Registerer, log *zap.Logger, m *model.Model, now func() time.Time) {
	r := m.File.Review()
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "leads_model_info", Help: "The scoring model in use (always 1).",
			ConstLabels: prometheus.Labels{"version": m.Version, "name": m.File.Name}}, func() float64 { return 1 }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "leads_model_review_due_timestamp_seconds",
			Help: "When the scoring model is due for review (Unix time; 0: the changelog has no date)."}, func() float64 {
			if r.Due.IsZero() {
				return 0
			}
			return float64(r.Due.Unix())
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "leads_model_review_overdue",
			Help: "1 when the scoring model's review is past due."}, func() float64 {
			if r.Overdue(now()) {
				return 1
			}
			return 0
		}),
	)
	fields := []zap.Field{zap.String("model_version", m.Version), zap.Time("first_version", r.First),
		zap.Time("reviewed", r.Reviewed), zap.Time("review_due", r.Due)}
	if r.Overdue(now()) {
		log.Warn("the scoring model is past its review date: check its rules against outcomes and set reviewed:", fields...)
	}
}
