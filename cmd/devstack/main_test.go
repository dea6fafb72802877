package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runMain is set in the environment of the test binary run as the command.
const runMain = "DEVSTACK_TEST_RUN_MAIN"

// TestMain runs main instead of the tests when runMain is set, so that a
// test runs the real command, exit status included, without building it.
func TestMain(m *testing.M) {
	if os.Getenv(runMain) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestCommandLinesItDoesNotUnderstandExitWithStatus2: a stray word is
// refused at once with status 2 and a message naming it (it used to start
// the stack, every flag after the word ignored), as an unknown flag is;
// --help lists the flags and exits 0, as the other programs do. The flags
// before the stray word keep a wrongly started stack on free loopback
// ports and the embedded Redis.
func TestCommandLinesItDoesNotUnderstandExitWithStatus2(t *testing.T) {
	t.Parallel()
	safe := []string{"--kafka-port=0", "--ingestor-addr=127.0.0.1:0", "--scorer-addr=127.0.0.1:0",
		"--decayer-addr=127.0.0.1:0", "--demo-rate=0", "--miniredis"}
	for _, tt := range []struct {
		name   string
		args   []string
		status int
		want   string
	}{
		{"stray word", append(safe, "run", "--demo-rate=500"), 2, `"run"`},
		{"unknown flag", append(safe, "--no-such-flag"), 2, "no-such-flag"},
		{"help", []string{"--help"}, 0, "--kafka-port"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], tt.args...)
			cmd.Env = append(os.Environ(), runMain+"=1")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			require.NoError(t, ctx.Err(), "devstack %v still running after 10 s", tt.args)
			status := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				status = exit.ExitCode()
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.status, status, "devstack %v exit status; stderr:\n%s", tt.args, stderr.String())
			assert.True(t, strings.Contains(stderr.String(), tt.want), "stderr lacks %q:\n%s", tt.want, stderr.String())
		})
	}
}

// TestVersionExitsZero: --version prints the dev stack's version, VCS
// revision and Go version on stdout and exits 0 without starting anything.
func TestVersionExitsZero(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "--version", "--kafka-port=0", "--ingestor-addr=127.0.0.1:0", "--scorer-addr=127.0.0.1:0",
		"--decayer-addr=127.0.0.1:0", "--demo-rate=0", "--miniredis")
	cmd.Env = append(os.Environ(), runMain+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "devstack --version; stderr:\n%s", stderr.String())
	assert.Regexp(t, `^devstack \S+, revision \S+, go1\.\S+\n$`, stdout.String())
}
