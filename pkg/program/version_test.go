package program

import (
	"bytes"
	"context"
	"net"
	"regexp"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/app"
)

// TestVersionPrintsTheBuildAndExitsZero: --version prints one line on
// stdout, the program's name, version, VCS revision and Go version, and
// is no failure (exit status 0), whatever else the command line holds;
// Redis and Kafka are a closed port, so a program that wrongly starts
// reaches nothing and fails when its context ends.
func TestVersionPrintsTheBuildAndExitsZero(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := ln.Addr().String()
	require.NoError(t, ln.Close())
	for _, tt := range []struct {
		name string
		run  func(context.Context, []string, Options) error
	}{{"ingestor", Ingestor}, {"scorer", Scorer}, {"decayer", Decayer}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var out bytes.Buffer
			err := tt.run(ctx, []string{"--redis-addr=" + dead, "--kafka-brokers=" + dead, "--http-addr=127.0.0.1:0", "--version"},
				Options{Stdout: &out})
			assert.Equal(t, 0, ExitCode(err), "exit status (%v)", err)
			assert.Equal(t, app.ReadBuild().Line(tt.name)+"\n", out.String())
			assert.Regexp(t, "^"+tt.name+` \S+, revision \S+, `+regexp.QuoteMeta(runtime.Version())+"\n$", out.String())
		})
	}
}
