package program

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/leadscore/leads/pkg/api"
	"github.com/leadscore/leads/pkg/app"
	"github.com/leadscore/leads/pkg/auth"
	"github.com/leadscore/leads/pkg/console"
	"github.com/leadscore/leads/pkg/decay"
	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/failpoint"
	"github.com/leadscore/leads/pkg/httperr"
	"github.com/leadscore/leads/pkg/ingest"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/openapi"
	"github.com/leadscore/leads/pkg/retry"
	"github.com/leadscore/leads/pkg/scorer"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/segment"
	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/stream"
)

// Options let an embedding caller observe a program.
type Options struct {
	// OnListen is called with the bound HTTP address once serving.
	OnListen func(addr string)
	// Logger replaces the JSON logger built from --log-level.
	Logger *zap.Logger
	// Stdout receives the output of commands such as compare (default
	// os.Stdout).
	Stdout io.Writer
}

func (o Options) stdout() io.Writer {
	if o.Stdout == nil {
		return os.Stdout
	}
	return o.Stdout
}

// shutdownGrace bounds the HTTP shutdown; the contract promises exit
// within 10 s of SIGTERM.
const shutdownGrace = 5 * time.Second

type base struct {
	common app.Common
	kafka  stream.Config
	log    *zap.Logger
	reg    *prometheus.Registry
	// closers run in reverse at shutdown.
	closers []func() error
	// args are the positional arguments of a subcommand.
	args []string
	// version is --version, which a program (not a subcommand) takes.
	version bool
}

// ErrVersion is returned by a program given --version, once it printed its
// build: not a failure, Main exits 0 as for --help.
var ErrVersion = errors.New("version printed")

// registerVersion adds --version to a program's flags.
func (b *base) registerVersion(fs *flag.FlagSet) {
	fs.BoolVar(&b.version, "version", false, "print the version, VCS revision and Go version, and exit")
}

// registerCommon adds the flags of app.Common that a command uses, by
// name; "redis-addr" brings the Redis security flags along. The others
// keep their defaults, so the rest of base sees a whole configuration, and
// are neither listed by --help nor accepted: a flag that would change
// nothing is refused rather than ignored.
func (b *base) registerCommon(fs *flag.FlagSet, httpAddr string, names ...string) {
	all := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	b.common.RegisterFlags(all, httpAddr)
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	if want["redis-addr"] {
		sec := flag.NewFlagSet("", flag.ContinueOnError)
		new(app.RedisSecurity).RegisterFlags(sec)
		sec.VisitAll(func(f *flag.Flag) { want[f.Name] = true })
	}
	all.VisitAll(func(f *flag.Flag) {
		if want[f.Name] {
			fs.Var(f.Value, f.Name, f.Usage)
		}
	})
}

// parse parses the flags of a command that takes no positional arguments
// (see ParseFlags), validates them and makes the logger and the registry.
func (b *base) parse(fs *flag.FlagSet, args []string, opts Options) error {
	if err := ParseFlags(fs, args); err != nil {
		return err
	}
	if b.version {
		fmt.Fprintln(opts.stdout(), app.ReadBuild().Line(fs.Name()))
		return ErrVersion
	}
	if err := b.common.Validate(); err != nil {
		return invalidFlags(err)
	}
	b.kafka.Brokers = b.common.Brokers()
	if err := b.kafka.Validate(); err != nil {
		return invalidFlags(err)
	}
	b.log = opts.Logger
	if b.log == nil {
		log, err := app.Logger(b.common.LogLevel)
		if err != nil {
			return err
		}
		b.log = log
		app.RouteRedisLogs(log)
	}
	b.reg = app.Registry()
	return nil
}

// open loads the model and connects to Redis and Kafka; close releases them.
// The namespace is the one promoted to live for --namespace, if any
// (see rescore.Promote); an unreachable Redis is retried with backoff for
// up to a minute.
func (b *base) open(ctx context.Context) (*model.Model, *store.Store, *stream.Writer, error) {
	m, err := app.LoadModel(b.common.ModelPath)
	if err != nil {
		return nil, nil, nil, err
	}
	app.WatchReview(b.reg, b.log, m, time.Now)
	rdb, err := app.Redis(b.common.RedisAddr, b.common.RedisSecurity)
	if err != nil {
		return nil, nil, nil, err
	}
	b.closers = append(b.closers, rdb.Close)
	var ns string
	eb := retry.Backoff(backoff.DefaultInitialInterval, 5*time.Second)
	eb.MaxElapsedTime = time.Minute // a program that cannot reach Redis at start fails
	err = backoff.RetryNotify(func() (err error) {
		ns, err = store.Resolve(ctx, rdb, b.common.Namespace)
		return err
	}, backoff.WithContext(eb, ctx), func(err error, d time.Duration) {
		b.log.Warn("Redis unreachable; retrying", zap.Duration("in", d), zap.Error(err))
	})
	if err != nil {
		return nil, nil, nil, err
	}
	if ns != b.common.Namespace {
		b.log.Info("using the promoted namespace", zap.String("configured", b.common.Namespace), zap.String("namespace", ns))
	}
	w := stream.NewWriter(b.kafka, b.log)
	b.closers = append(b.closers, w.Close)
	return m, store.New(rdb, ns).KeepLedgersAs(m), w, nil
}

// started is what a program returns for err, a failure to start: nil when
// it was told to stop (SIGTERM ended ctx) while starting, retrying Redis,
// as it exits cleanly when told to stop once running.
func (b *base) started(ctx context.Context, err error) error {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		b.log.Info("stopped while starting", zap.Error(err))
		return nil
	}
	return err
}

func (b *base) close() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		_ = b.closers[i]()
	}
}

// dependencies are the readiness checks of Redis and Kafka. /readyz names
// them, never their addresses; the log says why one failed.
func (b *base) dependencies(st *store.Store) []app.Check {
	return []app.Check{
		{Name: "redis", Ping: st.Ping},
		{Name: "kafka", Ping: func(ctx context.Context) error { return stream.PingConfig(ctx, b.kafka) }},
	}
}

// errRetrying is a program's own state check failing.
var errRetrying = errors.New("retrying a step that failed")

// state is the readiness check of a program's own work: ready reports
// whether its last round trips to Redis and Kafka succeeded.
func state(name string, ready func() bool) app.Check {
	return app.Check{Name: name, Failing: "retrying Redis or Kafka", Ping: func(context.Context) error {
		if !ready() {
			return errRetrying
		}
		return nil
	}}
}

// serve runs the HTTP server and work until ctx ends or work fails, then
// shuts down in order: readiness 503, HTTP shutdown, then the caller's closes.
func serve(ctx context.Context, b *base, mux *http.ServeMux, health *app.Health, opts Options, work func(context.Context) error) error {
	srv, err := app.Listen(b.common.HTTPAddr, httperr.Handler(mux))
	if err != nil {
		return err
	}
	b.log.Info("listening", zap.String("addr", srv.Addr()))
	if opts.OnListen != nil {
		opts.OnListen(srv.Addr())
	}
	g, gctx := errgroup.WithContext(ctx)
	workCtx, stopWork := context.WithCancel(gctx)
	defer stopWork()
	g.Go(func() error {
		<-gctx.Done()
		health.Drain()
		return nil
	})
	g.Go(func() error { return srv.Serve(gctx, shutdownGrace) })
	if work != nil {
		g.Go(func() error {
			err := work(workCtx)
			if err == nil && ctx.Err() == nil {
				return errors.New("stopped unexpectedly")
			}
			return err
		})
	}
	return g.Wait()
}

// ingestorCmd is the ingestor's command line.
type ingestorCmd struct {
	b              base
	cfg            ingest.Config
	tokensFile     string
	segmentMapping string
}

func (c *ingestorCmd) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("ingestor", flag.ContinueOnError)
	c.b.common.RegisterFlags(fs, ":8080")
	c.b.kafka.RegisterConnectionFlags(fs)
	c.b.kafka.RegisterProducerFlags(fs)
	c.b.registerVersion(fs)
	c.cfg.RegisterFlags(fs)
	fs.StringVar(&c.tokensFile, "tokens-file", "", "YAML or JSON file of source tokens (SHA-256 hashes, allowed event types, rate limits) and read tokens; "+
		"without it the API is open to anyone (development only)")
	fs.StringVar(&c.segmentMapping, "segment-mapping", "", "YAML file mapping Segment calls (/v1/track, /v1/batch, ...) to event types; "+
		"without it the built-in mapping (Segment's Email and Video specs, page, identify, group)")
	return fs
}

// Ingestor runs the ingestor: POST /v1/events and the read API.
func Ingestor(ctx context.Context, args []string, opts Options) error {
	var c ingestorCmd
	fs := c.flags()
	b, cfg := &c.b, &c.cfg
	if err := b.parse(fs, args, opts); err != nil {
		return err
	}
	defer b.log.Sync() //nolint:errcheck // stderr sync fails on terminals
	if err := cfg.Validate(); err != nil {
		return invalidFlags(err)
	}
	tokens, err := auth.Load(c.tokensFile)
	if err != nil {
		return err
	}
	if tokens.Configured() {
		sources, readers := tokens.Summary()
		b.log.Info("bearer tokens required", zap.Int("sources", sources), zap.Int("readers", readers))
	} else {
		b.log.Warn("NO --tokens-file: POST /v1/events, the Segment-compatible API and the read API accept anyone, without a token or rate limit; " +
			"never run like this outside development")
	}
	mapping, err := segment.Load(c.segmentMapping)
	if err != nil {
		return err
	}
	m, st, w, err := b.open(ctx)
	defer b.close()
	if err != nil {
		return b.started(ctx, err)
	}
	intake := []ingest.Option{ingest.WithTokens(tokens)}
	for _, in := range mapping.Intakes() {
		intake = append(intake, ingest.WithIntake(in))
	}
	pub := failpointPublisher{&ingest.StreamPublisher{Sink: w, Topic: b.common.EventsTopic}}
	svc, err := ingest.New(*cfg, b.log, tallyPublisher{pub, st.Tally(store.TallyIntake)}, b.reg, intake...)
	if err != nil {
		return err
	}
	health := &app.Health{Gatherer: b.reg, Log: b.log, Checks: b.dependencies(st)}
	mux := http.NewServeMux()
	svc.Register(mux)
	reads := api.New(st, scoring.New(m), b.log).Handler()
	for _, prefix := range []string{"/v1/contacts", "/v1/contacts/", "/v1/accounts/", "/v1/leaderboard", "/v1/model", "/v1/reports/"} {
		mux.Handle(prefix, tokens.RequireReader(reads))
	}
	feed := console.NewFeed(b.kafka, b.common.TransitionsTopic, b.log)
	ui, err := console.New(console.Deps{API: reads, Store: st, Model: m, Tokens: tokens, Feed: feed,
		Models: func(ctx context.Context) (map[string]string, error) {
			return store.Models(ctx, st.Client(), b.common.Namespace)
		},
		ReportVersions: st.ReportVersions}, b.log)
	if err != nil {
		return err
	}
	ui.Register(mux)
	b.reg.MustRegister(health.ReadyGauge())
	health.Register(mux)
	openapi.Register(mux)
	b.log.Info("ingestor starting", zap.Strings("brokers", b.kafka.Brokers), zap.String("events_topic", b.common.EventsTopic),
		zap.String("model_version", m.Version))
	return serve(ctx, b, mux, health, opts, feed.Run)
}

// failpointPublisher marks the instant between Kafka's acknowledgement and
// the 202, for crash tests (see package failpoint).
type failpointPublisher struct{ ingest.Publisher }

func (p failpointPublisher) Publish(ctx context.Context, b event.Batch) error {
	err := p.Publisher.Publish(ctx, b)
	if err == nil {
		failpoint.Hit(failpoint.IngestAfterPublish)
	}
	return err
}

// tallyPublisher counts the events accepted per hour, for the console.
type tallyPublisher struct {
	ingest.Publisher
	tally *store.Tally
}

func (p tallyPublisher) Publish(ctx context.Context, b event.Batch) error {
	err := p.Publisher.Publish(ctx, b)
	if err == nil {
		p.tally.Add(time.Now(), len(b.Events))
	}
	return err
}

// scorerCmd is the live scorer's command line.
type scorerCmd struct {
	b           base
	cfg         scorer.Config
	group       string
	consumers   int
	lagInterval time.Duration
}

func (c *scorerCmd) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("scorer", flag.ContinueOnError)
	c.b.common.RegisterFlags(fs, ":8081")
	c.b.kafka.RegisterFlags(fs)
	c.b.registerVersion(fs)
	fs.StringVar(&c.group, "group", "leads-scorer", "consumer group id")
	fs.DurationVar(&c.lagInterval, "lag-interval", 5*time.Second, "how often the consumer group's lag is read from the brokers (for the lag metrics)")
	fs.IntVar(&c.consumers, "consumers", 1, "members of the consumer group in this process, each with its own scorer (more use more cores; at most the partition count counts)")
	c.cfg.RegisterFlags(fs)
	return fs
}

// Scorer runs the scorer.
// Its subcommands (backfill, compare, promote, model, report, dlq) are ops
// tools that run once and exit.
func Scorer(ctx context.Context, args []string, opts Options) error {
	if len(args) > 0 {
		if cmd, ok := scorerCommand(args[0]); ok {
			return cmd.run(ctx, args[1:], opts)
		}
	}
	var c scorerCmd
	fs := c.flags()
	b, cfg := &c.b, &c.cfg
	if err := b.parse(fs, args, opts); err != nil {
		var ae *argsError
		switch {
		case errors.Is(err, flag.ErrHelp):
			writeSubcommands(fs.Output())
		case errors.As(err, &ae):
			return scorerArgsError(ae.args[0])
		}
		return err
	}
	defer b.log.Sync() //nolint:errcheck // stderr sync fails on terminals
	group, consumers, lagInterval := c.group, c.consumers, c.lagInterval
	if consumers < 1 {
		return fmt.Errorf("%w: --consumers must be at least 1", ErrUsage)
	}
	cfg.EventsTopic, cfg.TransitionsTopic, cfg.DLQTopic = b.common.EventsTopic, b.common.TransitionsTopic, b.common.DLQTopic
	if err := cfg.Validate(); err != nil {
		return invalidFlags(err)
	}
	if lagInterval < 10*time.Millisecond {
		return errors.New("--lag-interval must be at least 10ms")
	}
	app.TuneGC()
	m, st, w, err := b.open(ctx)
	defer b.close()
	if err != nil {
		return b.started(ctx, err)
	}
	if err := store.RegisterModel(ctx, st.Client(), b.common.Namespace, m.Version, m.Source); err != nil {
		return b.started(ctx, err)
	}
	checkListpackValue(ctx, b.log, st)
	// Each consumer is a member of the group with a scorer of its own, as
	// separate replicas would be: more of them use more cores.
	metrics := scorer.NewMetrics(b.reg)
	var scorers []*scorer.Scorer
	for range consumers {
		src := stream.NewConsumer(b.kafka, group, b.common.EventsTopic, b.log)
		defer src.Close()
		s, err := scorer.New(*cfg, b.log, src, w, st, scoring.New(m), metrics)
		if err != nil {
			return err
		}
		scorers = append(scorers, s)
	}
	// The lag is read from the brokers, apart from the batches, so that a
	// stuck batch shows.
	lagReader := stream.NewLagReader(b.kafka, group, b.common.EventsTopic)
	defer lagReader.Close()
	lag := scorer.NewLag(lagReader.Read, lagInterval, b.log)
	b.reg.MustRegister(lag)
	health := &app.Health{Gatherer: b.reg, Log: b.log, Checks: append([]app.Check{state("scorer", func() bool {
		for _, s := range scorers {
			if !s.Ready() {
				return false
			}
		}
		return true
	})}, b.dependencies(st)...)}
	run := func(ctx context.Context) error {
		g, ctx := errgroup.WithContext(ctx)
		for _, s := range scorers {
			g.Go(func() error { return s.Run(ctx) })
		}
		g.Go(func() error { return lag.Run(ctx) })
		return g.Wait()
	}
	mux := http.NewServeMux()
	b.reg.MustRegister(health.ReadyGauge())
	health.Register(mux)
	b.log.Info("scorer starting", zap.Strings("brokers", b.kafka.Brokers), zap.String("group", group),
		zap.String("model_version", m.Version))
	return serve(ctx, b, mux, health, opts, run)
}

// checkListpackValue warns when Redis keeps homes as hash tables, which
// costs memory but works: a Redis whose configuration cannot be read (CONFIG
// disabled, as on managed services) is only mentioned.
func checkListpackValue(ctx context.Context, log *zap.Logger, st *store.Store) {
	v, err := st.ListpackValue(ctx)
	switch {
	case err != nil:
		log.Info("cannot check Redis's hash-max-listpack-value: below want, homes are kept as hash tables, about 60 bytes more a contact",
			zap.Int("want", store.HashMaxListpackValue), zap.Error(err))
	case v < store.HashMaxListpackValue:
		log.Warn("Redis's hash-max-listpack-value is below want: homes holding a larger state are kept as hash tables, about 60 bytes more a contact; set hash-max-listpack-value to want in Redis's configuration",
			zap.Int("hash_max_listpack_value", v), zap.Int("want", store.HashMaxListpackValue))
	}
}

// Main runs a program as a process: it stops on SIGINT or SIGTERM, prints
// an error, and exits with ExitCode: 0, 2 for a command line it does not
// understand, 1 for any other failure (--help exits 0, as the flag
// package does).
func Main(run func(context.Context, []string, Options) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], Options{})
	stop()
	if code := ExitCode(err); code != 0 {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(code)
	}
}

// decayerCmd is the decayer's command line.
type decayerCmd struct {
	b    base
	cfg  decay.Config
	once bool
	at   string
}

func (c *decayerCmd) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("decayer", flag.ContinueOnError)
	c.b.common.RegisterFlags(fs, ":8082")
	c.b.kafka.RegisterConnectionFlags(fs)
	c.b.kafka.RegisterProducerFlags(fs)
	c.b.registerVersion(fs)
	c.cfg.RegisterFlags(fs)
	fs.BoolVar(&c.once, "once", false, "make one pass and exit: wait up to --lease-ttl (and a second) for shards another decayer holds, "+
		"fail if it still does, release the shard leases at the end")
	fs.StringVar(&c.at, "now", "", "with --once: the instant to decay to (RFC 3339), instead of the clock")
	return fs
}

// Decayer runs the decayer: periodic passes, or one pass with --once.
func Decayer(ctx context.Context, args []string, opts Options) error {
	var c decayerCmd
	fs := c.flags()
	b, cfg := &c.b, &c.cfg
	if err := b.parse(fs, args, opts); err != nil {
		return err
	}
	once, at := c.once, c.at
	defer b.log.Sync() //nolint:errcheck // stderr sync fails on terminals
	if err := cfg.Validate(); err != nil {
		return invalidFlags(err)
	}
	now := time.Now()
	if at != "" {
		if !once {
			return fmt.Errorf("%w: --now needs --once", ErrUsage)
		}
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return fmt.Errorf("%w: --now: want RFC 3339, got %q", ErrUsage, at)
		}
		now = t
	}
	m, st, w, err := b.open(ctx)
	defer b.close()
	if err != nil {
		return b.started(ctx, err)
	}
	d, err := decay.New(*cfg, b.log, st, scoring.New(m), w, b.common.TransitionsTopic, decay.NewMetrics(b.reg))
	if err != nil {
		return err
	}
	if once {
		// Once waits for shards another decayer holds, and releases its
		// own leases, so that the next --once (a new process, a new
		// --owner) can lease them.
		n, err := d.Once(ctx, now)
		if err != nil {
			return err
		}
		b.log.Info("one pass done", zap.Int("decayed", n), zap.Time("now", now))
		return nil
	}
	health := &app.Health{Gatherer: b.reg, Log: b.log, Checks: append([]app.Check{state("decayer", d.Ready)}, b.dependencies(st)...)}
	mux := http.NewServeMux()
	b.reg.MustRegister(health.ReadyGauge())
	health.Register(mux)
	b.log.Info("decayer starting", zap.Duration("interval", cfg.Interval), zap.String("owner", cfg.Owner),
		zap.String("model_version", m.Version))
	return serve(ctx, b, mux, health, opts, d.Run)
}

const dlqUsage = "scorer dlq replay [--from-offset N] [--filter REGEXP] [--dry-run] [common flags]"

// dlqReplayCmd is the command line of `scorer dlq replay`.
type dlqReplayCmd struct {
	b      base
	from   int64
	filter string
	dry    bool
}

func (c *dlqReplayCmd) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("scorer dlq replay", flag.ContinueOnError)
	c.b.registerCommon(fs, "", "kafka-brokers", "events-topic", "dlq-topic", "log-level")
	c.b.kafka.RegisterConnectionFlags(fs)
	c.b.kafka.RegisterProducerFlags(fs)
	fs.Int64Var(&c.from, "from-offset", 0, "first DLQ offset replayed in every partition")
	fs.StringVar(&c.filter, "filter", "", "replay only records whose dlq.error header matches this regular expression")
	fs.BoolVar(&c.dry, "dry-run", false, "count and list what would be replayed, publish nothing")
	return fs
}

// scorerDLQ runs `scorer dlq replay`: it puts the records of the DLQ topic
// (those whose error matches --filter, from --from-offset on) back on the
// events topic, once their cause is fixed (a new model, a fixed engine).
func scorerDLQ(ctx context.Context, args []string, opts Options) error {
	switch {
	case len(args) == 0:
		return fmt.Errorf("%w: %s", ErrUsage, dlqUsage)
	case isHelp(args[0]):
		fmt.Fprintln(os.Stderr, "Usage:", dlqUsage)
		return flag.ErrHelp
	case args[0] != "replay":
		return fmt.Errorf("%w: unknown dlq subcommand %q: %s", ErrUsage, args[0], dlqUsage)
	}
	var c dlqReplayCmd
	fs := c.flags()
	b := &c.b
	if err := b.parse(fs, args[1:], opts); err != nil {
		return err
	}
	from, filter, dry := c.from, c.filter, c.dry
	defer b.log.Sync() //nolint:errcheck // stderr sync fails on terminals
	ro := stream.ReplayOptions{DLQTopic: b.common.DLQTopic, Target: b.common.EventsTopic, FromOffset: from, DryRun: dry}
	if filter != "" {
		re, err := regexp.Compile(filter)
		if err != nil {
			return fmt.Errorf("%w: --filter: %w", ErrUsage, err)
		}
		ro.Filter = re
	}
	if dry {
		ro.Each = func(r stream.Record) {
			fmt.Fprintf(opts.stdout(), "%s/%d/%d\t%s\t%s\n", r.Topic, r.Partition, r.Offset, r.HeaderValue(stream.HeaderDLQError), r.Value)
		}
	}
	w := stream.NewWriter(b.kafka, b.log)
	defer w.Close()
	st, err := stream.ReplayDLQ(ctx, b.kafka, w, ro)
	b.log.Info("DLQ replay", zap.String("from", ro.DLQTopic), zap.String("to", ro.Target), zap.Int("read", st.Read),
		zap.Int("replayed", st.Replayed), zap.Int("skipped", st.Skipped), zap.Bool("dry_run", dry))
	if err != nil {
		return err
	}
	verb := "replayed"
	if dry {
		verb = "would replay"
	}
	fmt.Fprintf(opts.stdout(), "%s %d of %d DLQ records to %s\n", verb, st.Replayed, st.Read, ro.Target)
	return nil
}
