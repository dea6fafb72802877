package program

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	json "github.com/goccy/go-json"

	"github.com/leadscore/leads/pkg/app"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/suggest"
)

// suggestCmd is the command line of `scorer model suggest`.
type suggestCmd struct {
	b                               base
	from, to, file, trainUntil, out string
	version, horizon, protected     string
	mqlPerWeek                      float64
	asJSON                          bool
	// announce records the suggestion in the deployment's model registry,
	// for GET /v1/model and the console.
	announce             bool
	redisAddr, namespace string
	sec                  app.RedisSecurity
}

func (c *suggestCmd) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("scorer model suggest", flag.ContinueOnError)
	c.b.registerCommon(fs, "", "kafka-brokers", "events-topic", "model", "log-level")
	c.b.kafka.RegisterConnectionFlags(fs)
	fs.StringVar(&c.from, "from", "", "first event time to read from the events topic: RFC 3339, or earliest")
	fs.StringVar(&c.to, "to", "", "last event time to read (RFC 3339; default: the topic's end when it starts)")
	fs.StringVar(&c.file, "file", "", "read an NDJSON archive instead of the events topic")
	fs.StringVar(&c.trainUntil, "train-until", "", "learn from events before this time (RFC 3339); backtest on contacts first seen from then on")
	fs.StringVar(&c.out, "out", "", "write the suggested model file here (refused if it exists)")
	fs.StringVar(&c.version, "suggest-version", "", "version of the suggestion (default: the current one plus one)")
	fs.Float64Var(&c.mqlPerWeek, "mql-per-week", 0, "keep this many MQLs a week over the training period (default: the threshold with the best F1)")
	fs.StringVar(&c.horizon, "horizon", "", "learn only from contacts first seen this long before --train-until (30d, 2w, 72h; default: the age by which 99% of opportunities have come, estimated from the history)")
	fs.StringVar(&c.protected, "protected", "", "more attributes to flag rules on, comma-separated (account-fit fields, event properties), besides the defaults and the model file's protected list")
	fs.BoolVar(&c.asJSON, "json", false, "print the evidence and backtest as JSON instead of text")
	fs.BoolVar(&c.announce, "announce", false, "record the suggestion in the deployment's model registry, so that GET /v1/model and the console show it waiting")
	fs.StringVar(&c.redisAddr, "redis-addr", "localhost:6379", "with --announce: Redis holding the model registry")
	fs.StringVar(&c.namespace, "namespace", "leads", "with --announce: the deployment's --namespace")
	c.sec.RegisterFlags(fs)
	return fs
}

// suggestCommand: scorer model suggest (--file F | --from T) --train-until T --out FILE.
func suggestCommand(ctx context.Context, args []string, opts Options) error {
	var c suggestCmd
	fs := c.flags()
	b := &c.b
	if err := b.parse(fs, args, opts); err != nil {
		return err
	}
	defer b.close()
	defer b.log.Sync() //nolint:errcheck // stderr sync fails on terminals
	if (c.from == "") == (c.file == "") {
		return fmt.Errorf("%w: scorer model suggest needs exactly one of --from (the events topic) or --file", ErrUsage)
	}
	if c.trainUntil == "" || c.out == "" {
		return fmt.Errorf("%w: scorer model suggest needs --train-until and --out", ErrUsage)
	}
	from, err := parseTime("from", c.from, true)
	if err != nil {
		return err
	}
	to, err := parseTime("to", c.to, false)
	if err != nil {
		return err
	}
	until, err := parseTime("train-until", c.trainUntil, false)
	if err != nil {
		return err
	}
	var horizon time.Duration
	if c.horizon != "" {
		if horizon, err = model.ParseDuration(c.horizon); err != nil || horizon <= 0 {
			return fmt.Errorf("%w: --horizon %q: give a positive duration such as 60d", ErrUsage, c.horizon)
		}
	}
	if c.mqlPerWeek < 0 {
		return fmt.Errorf("%w: --mql-per-week must not be negative", ErrUsage)
	}
	if _, err := os.Stat(c.out); !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("--out %s: exists (or cannot be checked); give a new file", c.out)
	}
	m, err := app.LoadModel(b.common.ModelPath)
	if err != nil {
		return err
	}
	src := suggest.FileSource(c.file, nil)
	if c.file == "" {
		if src, err = suggest.TopicSource(ctx, b.kafka, b.common.EventsTopic, from, to, b.log); err != nil {
			return err
		}
	}
	s, err := suggest.Suggest(ctx, suggest.Config{Model: m, TrainUntil: until, MQLPerWeek: c.mqlPerWeek, Version: c.version,
		Horizon: horizon, Protected: app.SplitList(c.protected)}, src)
	if err != nil {
		return err
	}
	if err := os.WriteFile(c.out, s.File, 0o644); err != nil {
		return err
	}
	if c.announce {
		if err := c.announceSuggestion(ctx, m, s); err != nil {
			return fmt.Errorf("wrote %s, but %w", c.out, err)
		}
	}
	out := opts.stdout()
	if c.asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	if err := s.Write(out); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nwrote %s (version %s, not reviewed): scorer model validate %s, then backfill, compare, promote\n",
		c.out, s.Version, c.out)
	return nil
}

// announceSuggestion records s in the deployment's model registry as the
// suggestion waiting to follow m.
func (c *suggestCmd) announceSuggestion(ctx context.Context, m *model.Model, s *suggest.Suggestion) error {
	rdb, err := app.Redis(c.redisAddr, c.sec)
	if err != nil {
		return err
	}
	defer rdb.Close()
	g := s.Test.Gain
	summary := fmt.Sprintf("held-out MQL precision at the same volume %.1f%% → %.1f%% (gain %+.1f points, 95%% interval %+.1f to %+.1f)",
		100*s.Test.Current.Precision.Value, 100*s.Test.SameVolume.Precision.Value, 100*g.Value, 100*g.Lo, 100*g.Hi)
	return store.SaveSuggestion(ctx, rdb, c.namespace, store.Suggestion{Version: s.Version, BasedOn: m.Version, Created: time.Now(),
		Summary: summary, File: string(s.File)})
}
