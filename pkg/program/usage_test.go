package program

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestArgumentsNoCommandTakesAreUsageErrors: every positional argument a
// program or subcommand does not take is refused before anything starts,
// as a usage error (status 2) naming the word; the flag package stops at
// the first such word, so the flags after it were silently ignored and
// `scorer bakfill --namespace v2` ran the live scorer. Redis and Kafka are
// a closed loopback port, given through LEADS_ variables as flags after
// the word would not be, so a program that wrongly starts reaches nothing
// (and fails this test when its context ends).
func TestArgumentsNoCommandTakesAreUsageErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := ln.Addr().String()
	require.NoError(t, ln.Close())
	t.Setenv("LEADS_REDIS_ADDR", dead)
	t.Setenv("LEADS_KAFKA_BROKERS", dead)
	t.Setenv("LEADS_HTTP_ADDR", "127.0.0.1:0")
	t.Setenv("LEADS_LOG_LEVEL", "error")
	subcommands := []string{"\n  backfill ", "\n  compare ", "\n  promote ", "\n  report ", "\n  model ", "\n  dlq "}
	for _, tt := range []struct {
		name string
		run  func(context.Context, []string, Options) error
		args []string
		want []string
	}{
		{"scorer typo", Scorer, []string{"bakfill", "--namespace", "v2", "--from", "earliest"},
			append([]string{`unknown scorer subcommand "bakfill"`}, subcommands...)},
		{"scorer subcommand after flags", Scorer, []string{"--namespace", "v2", "backfill", "--from", "earliest"},
			[]string{`"backfill"`, "first"}},
		{"scorer unknown flag", Scorer, []string{"--no-such-flag"}, []string{"no-such-flag"}},
		{"ingestor", Ingestor, []string{"serve"}, []string{`ingestor takes no arguments`, `"serve"`}},
		{"decayer", Decayer, []string{"--once", "now", "--now", "2026-01-01T00:00:00Z"}, []string{`decayer takes no arguments`, `"now"`}},
		{"backfill", Scorer, []string{"backfill", "v2", "--from", "earliest"}, []string{`scorer backfill takes no arguments`, `"v2"`}},
		{"report", Scorer, []string{"report", "v2"}, []string{`scorer report takes no arguments`, `"v2"`}},
		{"dlq replay", Scorer, []string{"dlq", "replay", "all", "--dry-run"}, []string{`scorer dlq replay takes no arguments`, `"all"`}},
		{"dlq typo", Scorer, []string{"dlq", "rerun"}, []string{`unknown dlq subcommand "rerun"`, "scorer dlq replay"}},
		{"model typo", Scorer, []string{"model", "check", "m.yaml"}, []string{`unknown model subcommand "check"`, "validate", "diff", "history"}},
		{"compare", Scorer, []string{"compare", "a"}, []string{"NAME_A NAME_B"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			err := tt.run(ctx, tt.args, Options{})
			require.ErrorIs(t, err, ErrUsage, "%v", tt.args)
			assert.Equal(t, 2, ExitCode(err), "exit status")
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// TestHelpExitsZeroAndTheScorerListsItsSubcommands: --help (and -h) is not
// a failure, for the programs and for every subcommand (`scorer model
// --help` and `scorer dlq --help` read a word before any flag), and the
// scorer's lists its subcommands after its flags, one line each.
func TestHelpExitsZeroAndTheScorerListsItsSubcommands(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		run  func(context.Context, []string, Options) error
		args []string
	}{
		{Scorer, []string{"--help"}}, {Scorer, []string{"-h"}}, {Ingestor, []string{"--help"}}, {Decayer, []string{"-h"}},
		{Scorer, []string{"backfill", "--help"}}, {Scorer, []string{"compare", "-h"}}, {Scorer, []string{"promote", "--help"}},
		{Scorer, []string{"report", "--help"}}, {Scorer, []string{"model", "--help"}}, {Scorer, []string{"model", "diff", "--help"}},
		{Scorer, []string{"dlq", "--help"}}, {Scorer, []string{"dlq", "replay", "-h"}},
	} {
		err := tt.run(context.Background(), tt.args, Options{})
		assert.ErrorIs(t, err, flag.ErrHelp, "%v", tt.args)
		assert.Equal(t, 0, ExitCode(err), "%v", tt.args)
	}
	var out bytes.Buffer
	writeSubcommands(&out)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 1+len(scorerCommands))
	for i, name := range []string{"backfill", "compare", "promote", "report", "model", "dlq"} {
		assert.Regexp(t, "^  "+name+" +[a-z]", lines[1+i], "a line with its description")
	}
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	assert.Equal(t, 0, ExitCode(nil))
	assert.Equal(t, 0, ExitCode(fmt.Errorf("scorer: %w", flag.ErrHelp)))
	assert.Equal(t, 2, ExitCode(fmt.Errorf("%w: scorer compare [flags] NAME_A NAME_B", ErrUsage)))
	assert.Equal(t, 2, ExitCode(&argsError{command: "decayer", args: []string{"x"}}))
	assert.Equal(t, 1, ExitCode(errors.New("Redis unreachable")))
}

// TestFlagValuesAProgramCannotUseAreUsageErrors: the flag package refuses
// a value it cannot parse with status 2, but a value it takes as text and
// the program then refused (a time, a regular expression, a date window),
// a flag that needs another, or a number out of range exited 1 like an
// outage, and some were only checked after connecting to Redis, a minute
// of retries later. Each is now a usage error (status 2) naming the flag,
// found before anything connects: Redis and Kafka are a closed port.
func TestFlagValuesAProgramCannotUseAreUsageErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := ln.Addr().String()
	require.NoError(t, ln.Close())
	t.Setenv("LEADS_REDIS_ADDR", dead)
	t.Setenv("LEADS_KAFKA_BROKERS", dead)
	t.Setenv("LEADS_HTTP_ADDR", "127.0.0.1:0")
	t.Setenv("LEADS_LOG_LEVEL", "error")
	for _, tt := range []struct {
		run  func(context.Context, []string, Options) error
		args []string
		want []string
	}{
		{Decayer, []string{"--once", "--now", "tomorrow"}, []string{"--now", `"tomorrow"`}},
		{Decayer, []string{"--now", "2026-01-01T00:00:00Z"}, []string{"--now needs --once"}},
		{Decayer, []string{"--interval", "10ms"}, []string{"--interval"}},
		{Decayer, []string{"--workers", "-1"}, []string{"--workers"}},
		{Scorer, []string{"--consumers", "0"}, []string{"--consumers"}},
		{Scorer, []string{"--batch-size", "0"}, []string{"--batch-size"}},
		{Scorer, []string{"--log-level", "loud"}, []string{"--log-level"}},
		{Ingestor, []string{"--max-events", "0"}, []string{"--max-events"}},
		{Ingestor, []string{"--kafka-compression", "brotli"}, []string{"compression", "brotli"}},
		{Ingestor, []string{"--kafka-tls-cert", "c.pem"}, []string{"--kafka-tls-cert"}},
		{Scorer, []string{"backfill", "--from", "yesterday"}, []string{"--from", `"yesterday"`}},
		{Scorer, []string{"backfill", "--from", "earliest", "--to", "soon"}, []string{"--to", `"soon"`}},
		{Scorer, []string{"backfill", "--from", "earliest", "--decay-at", "later"}, []string{"--decay-at", `"later"`}},
		{Scorer, []string{"report", "--since", "2026-12-01", "--until", "2026-11-01"}, []string{"--since", "--until", "later"}},
		{Scorer, []string{"report", "--since", "2026-11-31"}, []string{"--since", `"2026-11-31"`}},
		{Scorer, []string{"dlq", "replay", "--filter", "engine (panic"}, []string{"--filter"}},
		{Scorer, []string{"model", "suggest", "--file", "h.ndjson", "--train-until", "2026-05-01T00:00:00Z", "--out", "s.yaml", "--horizon", "soon"},
			[]string{"--horizon", `"soon"`}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err := tt.run(ctx, tt.args, Options{})
		cancel()
		if !assert.ErrorIs(t, err, ErrUsage, "%v", tt.args) {
			continue
		}
		assert.Equal(t, 2, ExitCode(err), "%v: exit status", tt.args)
		for _, w := range tt.want {
			assert.Contains(t, err.Error(), w, "%v", tt.args)
		}
	}
}

// TestACancelledStartIsACleanExit: a program retries Redis at start for
// up to a minute; SIGTERM (its context cancelled) then made it fail with
// "context canceled" and status 1, where docs/reliability.md promises 0
// for SIGTERM whatever is down. It now stops cleanly, returning nil.
func TestACancelledStartIsACleanExit(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := ln.Addr().String()
	require.NoError(t, ln.Close())
	for _, tt := range []struct {
		name  string
		run   func(context.Context, []string, Options) error
		extra []string
	}{
		{"ingestor", Ingestor, nil},
		{"scorer", Scorer, nil},
		{"decayer", Decayer, nil},
		{"decayer --once", Decayer, []string{"--once"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			core, logs := observer.New(zapcore.WarnLevel)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			args := append([]string{"--redis-addr=" + dead, "--kafka-brokers=" + dead, "--http-addr=127.0.0.1:0"}, tt.extra...)
			go func() { done <- tt.run(ctx, args, Options{Logger: zap.New(core)}) }()
			require.Eventually(t, func() bool { return logs.FilterMessage("Redis unreachable; retrying").Len() > 0 },
				10*time.Second, 10*time.Millisecond, "retrying Redis at start")
			cancel()
			select {
			case err := <-done:
				assert.NoError(t, err)
				assert.Equal(t, 0, ExitCode(err))
			case <-time.After(10 * time.Second):
				t.Fatal("still running 10 s after its context was cancelled")
			}
		})
	}
}
