package stream

import (
	"context"
	"crypto/tls"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/leadscore/leads/pkg/testutil"
)

// secureBroker starts an embedded broker that speaks only TLS and needs a
// SASL login: a SCRAM-SHA-256, a SCRAM-SHA-512 and a PLAIN user.
func secureBroker(t *testing.T, tlsFiles testutil.TLSFiles, topic string) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(tlsFiles.Server), kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-256", "scram256", "s3cret-256"),
		kfake.Superuser("SCRAM-SHA-512", "scram512", "s3cret-512"),
		kfake.Superuser("PLAIN", "plainuser", "s3cret-plain"),
		kfake.GroupMinSessionTimeout(100*time.Millisecond), kfake.SeedTopics(1, topic))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// TestTLSAndSASLAgainstABroker publishes and consumes through a broker that
// requires TLS and SASL, with each mechanism; wrong passwords, a CA that did
// not sign the broker and plaintext all fail.
func TestTLSAndSASLAgainstABroker(t *testing.T) {
	t.Parallel()
	files := testutil.TLS(t)
	topic := testutil.Prefix(t)
	brokers := secureBroker(t, files, topic)
	secure := func(mech, user, pass string) Config {
		return Config{Brokers: brokers, TLS: TLSConfig{Enabled: true, CAFile: files.CA},
			SASL: SASLConfig{Mechanism: mech, Username: user, Password: pass}, SessionTimeout: time.Second}
	}
	for i, cfg := range []Config{
		secure("scram-sha-256", "scram256", "s3cret-256"),
		secure("SCRAM-SHA-512", "scram512", "s3cret-512"),
		secure("plain", "plainuser", "s3cret-plain"),
	} {
		t.Run(cfg.SASL.Mechanism, func(t *testing.T) {
			require.NoError(t, cfg.Validate())
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			require.NoError(t, PingConfig(ctx, cfg))
			w := NewWriter(cfg, zaptest.NewLogger(t))
			defer w.Close()
			value := []byte("v" + strings.Repeat("x", i))
			require.NoError(t, w.Publish(ctx, Record{Topic: topic, Key: []byte("k"), Value: value}))
			c := NewConsumer(cfg, topic+"-g"+string(rune('a'+i)), topic, zap.NewNop())
			defer c.Close()
			recs, err := c.FetchBatch(ctx, 10, 50*time.Millisecond)
			require.NoError(t, err)
			require.NotEmpty(t, recs)
			assert.Equal(t, []byte("v"), recs[0].Value, "the first record of the topic")
		})
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tt := range []struct {
		name string
		cfg  Config
		why  string // in the ping's error
	}{
		{"wrong password", secure("scram-sha-256", "scram256", "wrong"), "SASL Authentication failed"},
		{"unknown user", secure("plain", "nobody", "s3cret-plain"), "SASL Authentication failed"},
		{"no SASL", secure("", "", ""), "EOF"},
		{"plaintext", Config{Brokers: brokers, SASL: SASLConfig{Mechanism: "plain", Username: "plainuser", Password: "s3cret-plain"}}, "SASL handshake"},
		{"system roots do not know the test CA", Config{Brokers: brokers, TLS: TLSConfig{Enabled: true},
			SASL: SASLConfig{Mechanism: "plain", Username: "plainuser", Password: "s3cret-plain"}}, "unknown authority"},
	} {
		pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
		err := PingConfig(pctx, tt.cfg)
		pcancel()
		assert.ErrorContains(t, err, tt.why, tt.name)
		w := NewWriter(tt.cfg, zap.NewNop())
		pctx, pcancel = context.WithTimeout(ctx, 3*time.Second)
		err = w.Publish(pctx, Record{Topic: topic, Value: []byte("must not land")})
		pcancel()
		assert.Error(t, err, tt.name)
		_ = w.Close()
	}
}

// TestAdminAndReplayUseTheSecuritySettings: topic creation and what
// backfill, promote and DLQ replay use (offset lookups, partition readers,
// group offsets) connect with TLS and SASL like the consumer and the writer.
func TestAdminAndReplayUseTheSecuritySettings(t *testing.T) {
	t.Parallel()
	files := testutil.TLS(t)
	topic := testutil.Prefix(t)
	brokers := secureBroker(t, files, topic)
	cfg := Config{Brokers: brokers, TLS: TLSConfig{Enabled: true, CAFile: files.CA},
		SASL: SASLConfig{Mechanism: "scram-sha-512", Username: "scram512", Password: "s3cret-512"}, SessionTimeout: time.Second}
	require.NoError(t, cfg.Validate())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, EnsureTopics(ctx, cfg, TopicSpec{Name: topic, Partitions: 1}, TopicSpec{Name: topic + ".new", Partitions: 2}),
		"topic creation")
	w := NewWriter(cfg, zap.NewNop())
	defer w.Close()
	require.NoError(t, w.Publish(ctx, Record{Topic: topic, Key: []byte("k"), Value: []byte("a")},
		Record{Topic: topic, Key: []byte("k"), Value: []byte("b")}))

	spans, err := Spans(ctx, cfg, topic, time.Time{})
	require.NoError(t, err, "offset lookups")
	require.Equal(t, []Span{{Partition: 0, Start: 0, End: 2}}, spans)
	var read []string
	require.NoError(t, ReadSpans(ctx, cfg, topic, spans, time.Time{}, 10, zap.NewNop(), func(recs []Record) error {
		for _, r := range recs {
			read = append(read, string(r.Value))
		}
		return nil
	}), "backfill's partition readers")
	assert.Equal(t, []string{"a", "b"}, read)
	read = nil
	require.NoError(t, Scan(ctx, cfg, topic, 0, func(r Record) error {
		read = append(read, string(r.Value))
		return nil
	}), "DLQ replay's scan")
	assert.Equal(t, []string{"a", "b"}, read)

	group := topic + "-promoted"
	require.NoError(t, GroupIdle(ctx, cfg, group), "promote's group check")
	require.NoError(t, CommitGroupOffsets(ctx, cfg, group, topic, map[int]int64{0: 2}), "promote's offsets")
	done, err := GroupCaughtUp(ctx, cfg, group, topic)
	require.NoError(t, err)
	assert.True(t, done, "the group starts at the end")
}

func TestMutualTLSClientCertificate(t *testing.T) {
	t.Parallel()
	files := testutil.TLS(t)
	files.Server.ClientAuth = tls.RequireAndVerifyClientCert
	topic := testutil.Prefix(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(files.Server), kfake.SeedTopics(1, topic))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	with := Config{Brokers: c.ListenAddrs(), TLS: TLSConfig{Enabled: true, CAFile: files.CA, CertFile: files.Cert, KeyFile: files.Key}}
	require.NoError(t, with.Validate())
	require.NoError(t, PingConfig(ctx, with))
	without := Config{Brokers: c.ListenAddrs(), TLS: TLSConfig{Enabled: true, CAFile: files.CA}}
	assert.Error(t, PingConfig(ctx, without), "the broker requires a client certificate")
}

func TestSecurityConfig(t *testing.T) {
	t.Parallel()
	files := testutil.TLS(t)
	for _, tt := range []struct {
		name string
		args []string
		errs []error
	}{
		{"off by default", nil, nil},
		{"TLS with the system roots", []string{"--kafka-tls"}, nil},
		{"TLS with a CA and a client certificate", []string{"--kafka-tls", "--kafka-tls-ca=" + files.CA, "--kafka-tls-cert=" + files.Cert,
			"--kafka-tls-key=" + files.Key, "--kafka-tls-server-name=kafka.internal"}, nil},
		{"files without TLS", []string{"--kafka-tls-ca=" + files.CA}, []error{ErrTLSFiles}},
		{"cert without key", []string{"--kafka-tls", "--kafka-tls-cert=" + files.Cert}, []error{ErrTLSKeyPair}},
		{"missing CA file", []string{"--kafka-tls", "--kafka-tls-ca=/nonexistent/ca.pem"}, []error{ErrTLSLoad}},
		{"CA file without a certificate", []string{"--kafka-tls", "--kafka-tls-ca=" + files.Key}, []error{ErrTLSLoad}},
		{"key does not match", []string{"--kafka-tls", "--kafka-tls-cert=" + files.CA, "--kafka-tls-key=" + files.Key}, []error{ErrTLSLoad}},
		{"SCRAM", []string{"--kafka-sasl-mechanism=scram-sha-512", "--kafka-sasl-username=u", "--kafka-sasl-password=hunter2"}, nil},
		{"unknown mechanism", []string{"--kafka-sasl-mechanism=gssapi", "--kafka-sasl-username=u", "--kafka-sasl-password=hunter2"}, []error{ErrSASLMechanism}},
		{"mechanism without a password", []string{"--kafka-sasl-mechanism=plain", "--kafka-sasl-username=u"}, []error{ErrSASLUser}},
		{"user without a mechanism", []string{"--kafka-sasl-username=u", "--kafka-sasl-password=hunter2"}, []error{ErrSASLNoMech}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			var cfg Config
			cfg.RegisterFlags(fs)
			require.NoError(t, fs.Parse(tt.args))
			err := cfg.Validate()
			if len(tt.errs) == 0 {
				require.NoError(t, err)
				d := cfg.dialer(time.Second)
				assert.Equal(t, cfg.TLS.Enabled, d.TLS != nil)
				assert.Equal(t, cfg.SASL.Mechanism != "", d.SASLMechanism != nil)
				if cfg.SASL.Mechanism != "" {
					assert.Equal(t, strings.ToUpper(cfg.SASL.Mechanism), d.SASLMechanism.Name())
				}
				if cfg.TLS.CertFile != "" {
					assert.Len(t, d.TLS.Certificates, 1)
					assert.NotNil(t, d.TLS.RootCAs)
					assert.Equal(t, "kafka.internal", d.TLS.ServerName)
				}
				return
			}
			for _, e := range tt.errs {
				assert.ErrorIs(t, err, e)
			}
			assert.NotContains(t, err.Error(), "hunter2", "no password in errors")
		})
	}
}

// TestBrokenSecurityNeverFallsBackToPlaintext: an unvalidated config whose
// TLS files cannot be loaded fails every dial with the reason.
func TestBrokenSecurityNeverFallsBackToPlaintext(t *testing.T) {
	t.Parallel()
	brokers := testutil.Kafka(t, 1, "t")
	cfg := Config{Brokers: brokers, TLS: TLSConfig{Enabled: true, CAFile: "/nonexistent/ca.pem"}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, PingConfig(ctx, Config{Brokers: brokers}), "the broker is up (plaintext)")
	err := PingConfig(ctx, cfg)
	assert.ErrorContains(t, err, "kafka security")
	w := NewWriter(cfg, zap.NewNop())
	defer w.Close()
	assert.ErrorContains(t, w.Publish(ctx, Record{Topic: "t", Value: []byte("x")}), "kafka security")
}
