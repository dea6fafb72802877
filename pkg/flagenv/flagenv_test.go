package flagenv

import (
	"bytes"
	"flag"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEnvName(t *testing.T) {
	t.Parallel()
	for flagName, want := range map[string]string{
		"kafka-brokers":   "LEADS_KAFKA_BROKERS",
		"redis-addr":      "LEADS_REDIS_ADDR",
		"once":            "LEADS_ONCE",
		"log.level":       "LEADS_LOG_LEVEL",
		"session-timeout": "LEADS_SESSION_TIMEOUT",
	} {
		assert.Equal(t, want, EnvName(flagName), flagName)
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		args    []string
		env     map[string]string
		brokers string
		timeout time.Duration
		once    bool
		rest    []string
		wantErr []string
	}{
		{name: "defaults", brokers: "localhost:9092", timeout: time.Second},
		{name: "env fills unset flags", env: map[string]string{"LEADS_KAFKA_BROKERS": "k1:9092,k2:9092", "LEADS_SESSION_TIMEOUT": "3s", "LEADS_ONCE": "true"},
			brokers: "k1:9092,k2:9092", timeout: 3 * time.Second, once: true},
		{name: "command line wins", args: []string{"--kafka-brokers=cli:1", "--once=false"}, env: map[string]string{"LEADS_KAFKA_BROKERS": "env:1", "LEADS_ONCE": "true"},
			brokers: "cli:1", timeout: time.Second},
		{name: "flag set to its default still wins", args: []string{"--session-timeout", "1s"}, env: map[string]string{"LEADS_SESSION_TIMEOUT": "9s"},
			brokers: "localhost:9092", timeout: time.Second},
		{name: "empty env value is a value", env: map[string]string{"LEADS_KAFKA_BROKERS": ""}, timeout: time.Second},
		{name: "unrelated env ignored", env: map[string]string{"KAFKA_BROKERS": "x:1", "LEADS_UNKNOWN": "y"}, brokers: "localhost:9092", timeout: time.Second},
		{name: "positional args kept", args: []string{"--once", "a", "b"}, brokers: "localhost:9092", timeout: time.Second, once: true, rest: []string{"a", "b"}},
		{name: "bad env value names the variable", env: map[string]string{"LEADS_SESSION_TIMEOUT": "soon"}, wantErr: []string{"LEADS_SESSION_TIMEOUT", `"soon"`}},
		{name: "every bad value reported", env: map[string]string{"LEADS_SESSION_TIMEOUT": "soon", "LEADS_ONCE": "maybe"}, wantErr: []string{"LEADS_SESSION_TIMEOUT", "LEADS_ONCE"}},
		{name: "bad flag", args: []string{"--nope"}, wantErr: []string{"nope"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			fs.SetOutput(new(bytes.Buffer))
			brokers := fs.String("kafka-brokers", "localhost:9092", "brokers")
			timeout := fs.Duration("session-timeout", time.Second, "timeout")
			once := fs.Bool("once", false, "run once")
			err := parse(fs, tt.args, func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if len(tt.wantErr) > 0 {
				require.Error(t, err)
				for _, s := range tt.wantErr {
					assert.ErrorContains(t, err, s)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.brokers, *brokers)
			assert.Equal(t, tt.timeout, *timeout)
			assert.Equal(t, tt.once, *once)
			assert.Equal(t, tt.rest, nilIfEmpty(fs.Args()))
		})
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func TestUsageNamesTheVariables(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("scorer", flag.ContinueOnError)
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	fs.String("redis-addr", "localhost:6379", "where Redis is")
	fs.Duration("linger", 0, "how long to wait for a `batch`")
	fs.Bool("once", false, "run once")
	err := parse(fs, []string{"--help"}, func(string) (string, bool) { return "", false })
	require.ErrorIs(t, err, flag.ErrHelp)
	for _, want := range []string{
		"  --redis-addr string  [$LEADS_REDIS_ADDR] (default \"localhost:6379\")\n      where Redis is\n",
		"  --linger batch  [$LEADS_LINGER]\n      how long to wait for a batch\n",
		"  --once  [$LEADS_ONCE]\n      run once\n",
	} {
		assert.Contains(t, buf.String(), want)
	}
}

// TestVersionIsOnlyACommandLineFlag: --version asks a question; a
// LEADS_VERSION left in a deployment's environment must not make every
// program print its version and exit, so no variable sets it and --help
// names none.
func TestVersionIsOnlyACommandLineFlag(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("scorer", flag.ContinueOnError)
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	version := fs.Bool("version", false, "print the version and exit")
	env := func(k string) (string, bool) { return "true", k == "LEADS_VERSION" }
	require.NoError(t, parse(fs, nil, env))
	assert.False(t, *version, "LEADS_VERSION=true is ignored")
	require.NoError(t, parse(fs, []string{"--version"}, env))
	assert.True(t, *version)
	require.ErrorIs(t, parse(fs, []string{"--help"}, env), flag.ErrHelp)
	assert.Contains(t, buf.String(), "  --version\n      print the version and exit\n")
}
