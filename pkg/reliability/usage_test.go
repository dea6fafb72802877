package reliability

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMistypedCommandLinesExitWithStatus2 runs the real binaries with
// command lines they do not understand. `scorer bakfill --namespace v2`
// ran the live scorer, the flags after the typo ignored; now every such
// line is refused at once with status 2 (the flag package's status for
// usage errors) and a message naming the word, and the scorer's --help
// lists the subcommands and exits 0. Redis and Kafka are set to a closed
// loopback port through LEADS_ variables (which flags after a stray word
// never reached), so a program that wrongly starts cannot reach anything.
func TestMistypedCommandLinesExitWithStatus2(t *testing.T) {
	t.Parallel()
	dead := freeAddr(t)
	env := append(os.Environ(), "LEADS_REDIS_ADDR="+dead, "LEADS_KAFKA_BROKERS="+dead, "LEADS_HTTP_ADDR=127.0.0.1:0",
		"LEADS_NAMESPACE="+t.Name())
	// The scorer's list: each subcommand at the start of an indented line.
	var subcommands []string
	for _, c := range []string{"backfill", "compare", "promote", "report", "model", "dlq"} {
		subcommands = append(subcommands, "\n  "+c+" ")
	}
	for _, tt := range []struct {
		name    string
		program string
		args    []string
		status  int
		want    []string
	}{
		{"scorer typo", "scorer", []string{"bakfill", "--namespace", "v2", "--from", "earliest"}, 2,
			append([]string{`unknown scorer subcommand "bakfill"`}, subcommands...)},
		{"scorer unknown flag", "scorer", []string{"--no-such-flag"}, 2, []string{"no-such-flag"}},
		{"scorer help", "scorer", []string{"--help"}, 0, append([]string{"--group"}, subcommands...)},
		{"scorer -h", "scorer", []string{"-h"}, 0, subcommands},
		{"ingestor", "ingestor", []string{"serve", "--max-events", "5"}, 2, []string{`"serve"`}},
		{"ingestor help", "ingestor", []string{"--help"}, 0, []string{"--tokens-file"}},
		{"decayer", "decayer", []string{"--once", "now"}, 2, []string{`"now"`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, filepath.Join(bin, tt.program), tt.args...)
			cmd.Env = env
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			require.NoError(t, ctx.Err(), "%s %v still running after 10 s; stderr:\n%s", tt.program, tt.args, tail(stderr.Bytes(), 2000))
			status := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				status = exit.ExitCode()
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.status, status, "%s %v exit status", tt.program, tt.args)
			for _, w := range tt.want {
				assert.True(t, strings.Contains(stderr.String(), w), "stderr lacks %q", w)
			}
			if t.Failed() {
				t.Logf("%s %v stderr:\n%s", tt.program, tt.args, tail(stderr.Bytes(), 3000))
			}
		})
	}
}

// TestVersionOfEveryBinary: each binary given --version prints one line
// on stdout naming itself, its version, VCS revision and Go version, and
// exits 0 without starting (Redis and Kafka are a closed port).
func TestVersionOfEveryBinary(t *testing.T) {
	t.Parallel()
	dead := freeAddr(t)
	for _, program := range []string{"ingestor", "scorer", "decayer"} {
		t.Run(program, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, filepath.Join(bin, program), "--version", "--redis-addr", dead, "--kafka-brokers", dead)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			require.NoError(t, cmd.Run(), "%s --version; stderr:\n%s", program, tail(stderr.Bytes(), 2000))
			assert.Regexp(t, "^"+program+` \S+, revision \S+, go1\.\S+\n$`, stdout.String())
			assert.Empty(t, stderr.String())
		})
	}
}
