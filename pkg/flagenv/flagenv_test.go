package flagenv

import (
	"bytes"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEnvFillsUnsetFlags(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		args    []string
		env     map[string]string
		brokers string
		wait    time.Duration
		wantErr string
	}{
		{"defaults", nil, nil, "localhost:9092", time.Second, ""},
		{"env", nil, map[string]string{"LEADS_KAFKA_BROKERS": "k1:9092,k2:9092", "LEADS_SESSION_TIMEOUT": "3s"}, "k1:9092,k2:9092", 3 * time.Second, ""},
		{"flag wins", []string{"--kafka-brokers=cli:1"}, map[string]string{"LEADS_KAFKA_BROKERS": "env:1"}, "cli:1", time.Second, ""},
		{"bad env value", nil, map[string]string{"LEADS_SESSION_TIMEOUT": "soon"}, "", 0, "LEADS_SESSION_TIMEOUT"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			brokers := fs.String("kafka-brokers", "localhost:9092", "brokers")
			wait := fs.Duration("session-timeout", time.Second, "timeout")
			err := parse(fs, tt.args, func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.brokers, *brokers)
			assert.Equal(t, tt.wait, *wait)
		})
	}
}

func TestUsageNamesTheVariables(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("scorer", flag.ContinueOnError)
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	fs.String("redis-addr", "localhost:6379", "where Redis is")
	err := parse(fs, []string{"--help"}, func(string) (string, bool) { return "", false })
	require.ErrorIs(t, err, flag.ErrHelp)
	assert.True(t, strings.Contains(buf.String(), "--redis-addr  [$LEADS_REDIS_ADDR] (default \"localhost:6379\")"), buf.String())
}
