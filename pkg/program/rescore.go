package program

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	json "github.com/goccy/go-json"
	"go.uber.org/zap"

	"github.com/leadscore/leads/pkg/app"
	"github.com/leadscore/leads/pkg/flagenv"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/report"
	"github.com/leadscore/leads/pkg/rescore"
	"github.com/leadscore/leads/pkg/scorer"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/stream"
)

// rescoreBase parses the common and Kafka flags of a rescoring command and
// opens Redis; the store is the namespace given by --namespace as is (not
// resolved: these commands name namespaces explicitly). A command that
// takes no positional arguments (takesArgs false) refuses any.
func rescoreBase(fs *flag.FlagSet, b *base, args []string, opts Options, takesArgs bool) (*model.Model, *store.Store, error) {
	flags, pos, err := interspersed(fs, args)
	if err != nil {
		return nil, nil, err
	}
	if len(pos) > 0 && !takesArgs {
		return nil, nil, &argsError{command: fs.Name(), args: pos}
	}
	if err := b.parse(fs, flags, opts); err != nil {
		return nil, nil, err
	}
	b.args = pos
	m, err := app.LoadModel(b.common.ModelPath)
	if err != nil {
		return nil, nil, err
	}
	rdb, err := app.Redis(b.common.RedisAddr, b.common.RedisSecurity)
	if err != nil {
		return nil, nil, err
	}
	b.closers = append(b.closers, rdb.Close)
	return m, store.New(rdb, b.common.Namespace).KeepLedgersAs(m), nil
}

// interspersed separates flags from positional arguments wherever they
// appear (the flag package stops at the first positional one), so that
// "compare A B --json" works as well as "compare --json A B".
func interspersed(fs *flag.FlagSet, args []string) (flags, pos []string, err error) {
	flagenv.SetUsage(fs)
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return nil, nil, usageError(err)
		}
		rest := fs.Args()
		used := args[:len(args)-len(rest)]
		if len(used) > 0 && used[len(used)-1] == "--" {
			return append(flags, used[:len(used)-1]...), append(pos, rest...), nil
		}
		flags = append(flags, used...)
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	return flags, pos, nil
}

// parseTime parses the value of a time flag; one that does not parse is
// a usage error.
func parseTime(name, v string, allowEarliest bool) (time.Time, error) {
	if v == "" || allowEarliest && v == "earliest" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: --%s: want RFC 3339%s, got %q", ErrUsage, name,
			map[bool]string{true: " or earliest"}[allowEarliest], v)
	}
	return t, nil
}

// backfillCommand: scorer backfill --from <RFC3339|earliest> [--to T]
// [--file events.ndjson] --namespace NAME [--model FILE] [--emit-to TOPIC]
// [--decay-at now|T].
type backfillCmd struct {
	b                                     base
	from, to, file, emitTo, decayAt, live string
	batch, workers                        int
	every, window                         time.Duration
}

func (c *backfillCmd) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("scorer backfill", flag.ContinueOnError)
	c.b.registerCommon(fs, "", "kafka-brokers", "redis-addr", "namespace", "events-topic", "model", "log-level")
	c.b.kafka.RegisterConnectionFlags(fs)
	c.b.kafka.RegisterProducerFlags(fs) // for --emit-to
	fs.StringVar(&c.from, "from", "", "first event time to replay: RFC 3339, or earliest (with the events topic)")
	fs.StringVar(&c.to, "to", "", "last event time to replay (RFC 3339; default: the topic's end when the backfill starts)")
	fs.StringVar(&c.file, "file", "", "replay an NDJSON archive instead of the events topic")
	fs.StringVar(&c.emitTo, "emit-to", "", "publish the crossings as transitions to this topic (default: publish none)")
	fs.StringVar(&c.decayAt, "decay-at", "", "after replaying, decay idle scores to this instant: now or RFC 3339 (default: no decay pass)")
	fs.StringVar(&c.live, "live-namespace", "leads", "the live deployment's --namespace, never backfilled into ('' to rebuild a wiped live namespace, scorers stopped)")
	fs.IntVar(&c.batch, "replay-batch-size", 100000, "events applied per commit (at most 100000)")
	fs.IntVar(&c.workers, "replay-workers", 8, "scorers replaying at once: each a group of the topic's partitions, or a lane of the --file by event key")
	fs.DurationVar(&c.every, "progress-interval", 5*time.Second, "how often progress is logged when stderr is not a terminal")
	fs.DurationVar(&c.window, "dedupe-window", scorer.DefaultDedupeWindow, "the live scorers' --dedupe-window, so that the replay takes the same events for retries")
	return fs
}

func backfillCommand(ctx context.Context, args []string, opts Options) error {
	var c backfillCmd
	fs := c.flags()
	b := &c.b
	m, st, err := rescoreBase(fs, b, args, opts, false)
	if err != nil {
		return err
	}
	from, to, file, emitTo, decayAt, live := c.from, c.to, c.file, c.emitTo, c.decayAt, c.live
	batch, workers, every, window := c.batch, c.workers, c.every, c.window
	defer b.close()
	defer b.log.Sync() //nolint:errcheck // stderr sync fails on terminals
	if (from == "") == (file == "") {
		return fmt.Errorf("%w: scorer backfill needs exactly one of --from (the events topic) or --file", ErrUsage)
	}
	fromT, err := parseTime("from", from, true)
	if err != nil {
		return err
	}
	toT, err := parseTime("to", to, false)
	if err != nil {
		return err
	}
	var decayT time.Time // --decay-at now is the instant the decay pass begins
	if decayAt != "now" {
		if decayT, err = parseTime("decay-at", decayAt, false); err != nil {
			return err
		}
	}
	if live != "" {
		liveNS, err := store.Resolve(ctx, st.Client(), live)
		if err != nil {
			return err
		}
		if ns := st.Namespace(); ns == live || ns == liveNS {
			return fmt.Errorf("%w %s: give --namespace a new name, then promote it", rescore.ErrLive, ns)
		}
	}
	registry := live
	if registry == "" {
		registry = st.Namespace()
	}
	if err := store.RegisterModel(ctx, st.Client(), registry, m.Version, m.Source); err != nil {
		return err
	}
	bf := &rescore.Backfill{Log: b.log, Store: st, Engine: scoring.New(m), Kafka: b.kafka, Topic: b.common.EventsTopic,
		BatchSize: batch, Workers: workers, Progress: rescore.NewProgress(os.Stderr, b.log, every), DedupeWindow: window}
	if emitTo != "" {
		w := stream.NewWriter(b.kafka, b.log)
		b.closers = append(b.closers, w.Close)
		bf.Emit, bf.EmitTo = w, emitTo
	}
	b.log.Info("backfill starting", zap.String("namespace", st.Namespace()), zap.String("model_version", m.Version),
		zap.String("from", from), zap.String("file", file))
	var res *rescore.Result
	if file != "" {
		res, err = bf.FromFile(ctx, file)
	} else {
		res, err = bf.FromTopic(ctx, fromT, toT, false)
	}
	if err != nil {
		return err
	}
	fields := []zap.Field{zap.Int64("events", res.Events), zap.Int64("dead_letters", res.DeadLetters),
		zap.Int64("crossings", res.Crossings), zap.Duration("elapsed", res.Elapsed),
		zap.Float64("events_per_second", float64(res.Events)/max(res.Elapsed.Seconds(), 1e-9))}
	if decayAt != "" {
		at := decayT
		if decayAt == "now" {
			at = time.Now()
		}
		n, err := bf.Decay(ctx, at)
		if err != nil {
			return fmt.Errorf("decay pass: %w", err)
		}
		fields = append(fields, zap.Int("decayed", n))
	}
	b.log.Info("backfill done", fields...)
	return nil
}

// compareCommand: scorer compare NAME_A NAME_B [--json] [--limit N].
type compareCmd struct {
	b      base
	asJSON bool
	limit  int
}

func (c *compareCmd) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("scorer compare", flag.ContinueOnError)
	c.b.registerCommon(fs, "", "redis-addr")
	fs.BoolVar(&c.asJSON, "json", false, "print JSON instead of a table")
	fs.IntVar(&c.limit, "limit", 50, "most changed contacts listed in the table (0: all); JSON lists all")
	return fs
}

func compareCommand(ctx context.Context, args []string, opts Options) error {
	var cmd compareCmd
	fs := cmd.flags()
	b := &cmd.b
	_, st, err := rescoreBase(fs, b, args, opts, true)
	if err != nil {
		return err
	}
	asJSON, limit := cmd.asJSON, cmd.limit
	defer b.close()
	if len(b.args) != 2 {
		return fmt.Errorf("%w: scorer compare [flags] NAME_A NAME_B", ErrUsage)
	}
	a, c := store.New(st.Client(), b.args[0]), store.New(st.Client(), b.args[1])
	rep, err := rescore.Compare(ctx, a, c)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(opts.stdout())
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.WriteTable(opts.stdout(), limit)
}

// promoteCommand: scorer promote NAME [--group G] [--namespace LIVE].
type promoteCmd struct {
	b      base
	group  string
	window time.Duration
}

func (c *promoteCmd) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("scorer promote", flag.ContinueOnError)
	c.b.registerCommon(fs, "", "kafka-brokers", "redis-addr", "namespace", "events-topic", "model", "log-level")
	c.b.kafka.RegisterConnectionFlags(fs)
	fs.StringVar(&c.group, "group", "leads-scorer", "the live scorers' consumer group (must have no members)")
	fs.DurationVar(&c.window, "dedupe-window", scorer.DefaultDedupeWindow, "the live scorers' --dedupe-window, for the events the promotion catches up on")
	return fs
}

func promoteCommand(ctx context.Context, args []string, opts Options) error {
	var c promoteCmd
	fs := c.flags()
	b := &c.b
	m, st, err := rescoreBase(fs, b, args, opts, true)
	if err != nil {
		return err
	}
	group, window := c.group, c.window
	defer b.close()
	defer b.log.Sync() //nolint:errcheck // stderr sync fails on terminals
	if len(b.args) != 1 {
		return fmt.Errorf("%w: scorer promote [flags] NAME (--namespace is the live deployment's)", ErrUsage)
	}
	bf := &rescore.Backfill{Log: b.log, Store: store.New(st.Client(), b.args[0]).KeepLedgersAs(m), Engine: scoring.New(m), Kafka: b.kafka,
		Topic: b.common.EventsTopic, Progress: rescore.NewProgress(os.Stderr, b.log, 5*time.Second), DedupeWindow: window}
	p, err := rescore.Promote(ctx, bf, b.common.Namespace, group)
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.stdout(), "%s is live for --namespace %s (was %s); group %s continues from %v\n",
		p.Namespace, b.common.Namespace, p.Previous, group, p.Ends)
	return nil
}

const modelUsage = "scorer model validate FILE | scorer model diff OLD NEW [--json] | scorer model history [FILE...] [--json] | " +
	"scorer model suggest (--file F | --from T) --train-until T --out FILE"

// modelCmd is the command line of `scorer model validate|diff|history`.
type modelCmd struct {
	sub                  string
	asJSON               bool
	redisAddr, namespace string
	sec                  app.RedisSecurity
}

func (c *modelCmd) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("scorer model "+c.sub, flag.ContinueOnError)
	if c.sub == "validate" {
		return fs
	}
	fs.BoolVar(&c.asJSON, "json", false, "print JSON instead of text")
	if c.sub == "history" {
		fs.StringVar(&c.redisAddr, "redis-addr", "localhost:6379", "without files: Redis holding the model registry")
		fs.StringVar(&c.namespace, "namespace", "leads", "without files: the deployment's --namespace")
		c.sec.RegisterFlags(fs)
	}
	return fs
}

// modelCommand: validate a model file, diff two, or print the history of
// the versions given as files or, without files, of every version the
// deployment's scorers have registered in Redis.
func modelCommand(ctx context.Context, args []string, opts Options) error {
	switch {
	case len(args) == 0:
		return fmt.Errorf("%w: %s", ErrUsage, modelUsage)
	case isHelp(args[0]):
		fmt.Fprintln(os.Stderr, "Usage:", modelUsage)
		return flag.ErrHelp
	case args[0] == "suggest":
		return suggestCommand(ctx, args[1:], opts)
	case args[0] != "validate" && args[0] != "diff" && args[0] != "history":
		return fmt.Errorf("%w: unknown model subcommand %q: %s", ErrUsage, args[0], modelUsage)
	}
	c := modelCmd{sub: args[0]}
	fs := c.flags()
	asJSON := &c.asJSON
	flags, pos, err := interspersed(fs, args[1:])
	if err != nil {
		return err
	}
	// LEADS_ variables as for the other commands (the Redis password).
	if err := flagenv.Parse(fs, flags); err != nil {
		return usageError(err)
	}
	out := opts.stdout()
	switch {
	case args[0] == "validate" && len(pos) == 1:
		m, err := app.LoadModel(pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: valid, version %q, %d rules, %d title rules, %d account fit rules\n",
			pos[0], m.Version, len(m.File.Rules), len(m.File.ContactFit.Titles), len(m.File.AccountFit))
		return nil
	case args[0] == "diff" && len(pos) == 2:
		old, err := app.LoadModel(pos[0])
		if err != nil {
			return err
		}
		cur, err := app.LoadModel(pos[1])
		if err != nil {
			return err
		}
		diffs, err := model.Diff(&old.File, &cur.File)
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(out).Encode(map[string]any{"old": old.Version, "new": cur.Version, "differences": diffs})
		}
		fmt.Fprintf(out, "model %q → %q\n", old.Version, cur.Version)
		return model.WriteDiff(out, diffs)
	case args[0] == "history":
		if err := c.sec.Validate(); err != nil {
			return invalidFlags(err)
		}
		files, err := historyFiles(ctx, pos, c.redisAddr, c.sec, c.namespace)
		if err != nil {
			return err
		}
		h, err := model.NewHistory(files)
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(out).Encode(h)
		}
		return h.Write(out)
	}
	return fmt.Errorf("%w: %s", ErrUsage, modelUsage)
}

func historyFiles(ctx context.Context, paths []string, redisAddr string, sec app.RedisSecurity, namespace string) ([]*model.File, error) {
	var files []*model.File
	for _, p := range paths {
		m, err := app.LoadModel(p)
		if err != nil {
			return nil, err
		}
		files = append(files, &m.File)
	}
	if len(paths) > 0 {
		return files, nil
	}
	rdb, err := app.Redis(redisAddr, sec)
	if err != nil {
		return nil, err
	}
	defer rdb.Close()
	reg, err := store.Models(ctx, rdb, namespace)
	if err != nil {
		return nil, err
	}
	if len(reg) == 0 {
		return nil, fmt.Errorf("no model registered under %s: give model files, or check --redis-addr and --namespace", store.ModelsKey(namespace))
	}
	for v, src := range reg {
		m, err := model.Parse([]byte(src))
		if err != nil {
			return nil, fmt.Errorf("registered model %s: %w", v, err)
		}
		files = append(files, &m.File)
	}
	return files, nil
}

// reportCommand: scorer report [--namespace NAME] [--model V] [--since D]
// [--until D] [--json]: the effectiveness report of each model version (or
// of one) from the counters the scorer keeps.
type reportCmd struct {
	b                     base
	version, since, until string
	asJSON                bool
}

func (c *reportCmd) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("scorer report", flag.ContinueOnError)
	c.b.registerCommon(fs, "", "redis-addr", "namespace")
	fs.StringVar(&c.version, "model-version", "", "report on this model version only (default: every version with counters)")
	fs.StringVar(&c.since, "since", "", "first day of the window, YYYY-MM-DD (default: all time)")
	fs.StringVar(&c.until, "until", "", "last day of the window, YYYY-MM-DD")
	fs.BoolVar(&c.asJSON, "json", false, "print JSON instead of tables")
	return fs
}

func reportCommand(ctx context.Context, args []string, opts Options) error {
	var c reportCmd
	fs := c.flags()
	b := &c.b
	_, st, err := rescoreBase(fs, b, args, opts, false)
	if err != nil {
		return err
	}
	version, since, until, asJSON := c.version, c.since, c.until, c.asJSON
	defer b.close()
	var we *report.WindowError
	if err := report.CheckWindow(since, until); errors.As(err, &we) {
		return fmt.Errorf("%w: %s", ErrUsage, we.Flags())
	}
	ns, err := store.Resolve(ctx, st.Client(), st.Namespace())
	if err != nil {
		return err
	}
	st = store.New(st.Client(), ns)
	versions := []string{version}
	if version == "" {
		if versions, err = st.ReportVersions(ctx); err != nil {
			return err
		}
		if len(versions) == 0 {
			return fmt.Errorf("namespace %s has no report counters yet", ns)
		}
	}
	var reps []*report.Effectiveness
	for _, v := range versions {
		fields, err := st.Report(ctx, v)
		if err != nil {
			return err
		}
		rep, err := report.Compute(v, fields, since, until)
		if err != nil {
			return err
		}
		reps = append(reps, rep)
	}
	out := opts.stdout()
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(reps)
	}
	for i, rep := range reps {
		if i > 0 {
			fmt.Fprintln(out)
		}
		if err := rep.Write(out); err != nil {
			return err
		}
	}
	return nil
}
