package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"flag"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/testutil"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// tlsRedis starts a redis-server that listens only with TLS, requires a
// client certificate when clientCerts, and knows one ACL user ("scorer")
// while its default user is off. It skips when redis-server is missing or
// built without TLS.
func tlsRedis(t *testing.T, files testutil.TLSFiles, clientCerts bool) string {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed")
	}
	port := freePort(t)
	auth := "no"
	if clientCerts {
		auth = "yes"
	}
	var out lockedBuffer
	cmd := exec.Command("redis-server", "--port", "0", "--tls-port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--tls-cert-file", files.Cert, "--tls-key-file", files.Key, "--tls-ca-cert-file", files.CA, "--tls-auth-clients", auth,
		"--save", "", "--appendonly", "no", "--dir", t.TempDir(),
		"--user", "default", "off",
		"--user", "scorer", "on", ">scorer-s3cret", "~*", "&*", "+@all")
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		select {
		case <-exited:
			if strings.Contains(out.String(), "tls") && !strings.Contains(out.String(), "Ready to accept") {
				t.Skipf("redis-server without TLS support: %s", out.String())
			}
			t.Fatalf("redis-server exited: %s", out.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			return addr
		}
		require.True(t, time.Now().Before(deadline), "redis-server did not listen: %s", out.String())
		time.Sleep(10 * time.Millisecond) // polling a port, bounded by the deadline
	}
}

// lockedBuffer collects a child process's output, which the test may read
// while the process still writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func ping(t *testing.T, addr string, sec RedisSecurity) error {
	t.Helper()
	rdb, err := Redis(addr, sec)
	require.NoError(t, err)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		return err
	}
	v, err := rdb.Get(ctx, "k").Result()
	if err == nil && v != "v" {
		t.Fatalf("read %q", v)
	}
	return err
}

// TestRedisTLSAndACLUser talks to a real redis-server over TLS as an ACL
// user, and checks that the wrong CA, the wrong password, plaintext and the
// default user are all refused.
func TestRedisTLSAndACLUser(t *testing.T) {
	t.Parallel()
	files := testutil.TLS(t)
	addr := tlsRedis(t, files, false)
	good := RedisSecurity{TLS: true, CAFile: files.CA, Username: "scorer", Password: "scorer-s3cret"}
	require.NoError(t, good.Validate())
	require.NoError(t, ping(t, addr, good))
	require.NoError(t, ping(t, "rediss://scorer:scorer-s3cret@"+addr, RedisSecurity{TLS: true, CAFile: files.CA}), "URL credentials")
	require.NoError(t, ping(t, "rediss://"+addr, RedisSecurity{TLS: true, CAFile: files.CA, Username: "scorer", Password: "scorer-s3cret"}),
		"rediss:// with the CA and user from flags")

	for _, tt := range []struct {
		name string
		sec  RedisSecurity
		why  string
	}{
		{"wrong password", RedisSecurity{TLS: true, CAFile: files.CA, Username: "scorer", Password: "wrong"}, "WRONGPASS"},
		{"default user is off", RedisSecurity{TLS: true, CAFile: files.CA}, "NOAUTH"},
		{"system roots do not know the test CA", RedisSecurity{TLS: true, Username: "scorer", Password: "scorer-s3cret"}, "unknown authority"},
		{"server name mismatch", RedisSecurity{TLS: true, CAFile: files.CA, ServerName: "redis.example", Username: "scorer", Password: "scorer-s3cret"},
			"redis.example"},
		{"plaintext", RedisSecurity{Username: "scorer", Password: "scorer-s3cret"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := ping(t, addr, tt.sec)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.why)
		})
	}
}

func TestRedisMutualTLS(t *testing.T) {
	t.Parallel()
	files := testutil.TLS(t)
	addr := tlsRedis(t, files, true)
	with := RedisSecurity{TLS: true, CAFile: files.CA, CertFile: files.Cert, KeyFile: files.Key, Username: "scorer", Password: "scorer-s3cret"}
	require.NoError(t, ping(t, addr, with))
	with.CertFile, with.KeyFile = "", ""
	assert.Error(t, ping(t, addr, with), "a client certificate is required")
}

func TestRedisSecurityFlags(t *testing.T) {
	t.Parallel()
	files := testutil.TLS(t)
	for _, tt := range []struct {
		name string
		args []string
		errs []error
	}{
		{"off by default", nil, nil},
		{"ACL user", []string{"--redis-username=scorer", "--redis-password=p"}, nil},
		{"password only (requirepass)", []string{"--redis-password=p"}, nil},
		{"TLS", []string{"--redis-tls", "--redis-tls-ca=" + files.CA, "--redis-tls-cert=" + files.Cert, "--redis-tls-key=" + files.Key}, nil},
		{"user without password", []string{"--redis-username=scorer"}, []error{ErrRedisUser}},
		{"files without TLS", []string{"--redis-tls-ca=" + files.CA}, []error{ErrRedisTLSFiles}},
		{"key without cert", []string{"--redis-tls", "--redis-tls-key=" + files.Key}, []error{ErrRedisTLSKeyPair}},
		{"unreadable CA", []string{"--redis-tls", "--redis-tls-ca=/nonexistent"}, []error{ErrRedisTLSLoad}},
		{"CA not PEM", []string{"--redis-tls", "--redis-tls-ca=" + files.Key}, []error{ErrRedisTLSLoad}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			var c Common
			c.RegisterFlags(fs, ":0")
			require.NoError(t, fs.Parse(tt.args))
			err := c.Validate()
			for _, e := range tt.errs {
				assert.ErrorIs(t, err, e)
			}
			if tt.errs != nil {
				return
			}
			require.NoError(t, err)
			for _, addr := range []string{"127.0.0.1:1", "redis://127.0.0.1:1", "127.0.0.1:1,127.0.0.1:2"} {
				rdb, err := Redis(addr, c.RedisSecurity)
				require.NoError(t, err)
				var opts struct {
					user, pass string
					tls        *tls.Config
				}
				switch r := rdb.(type) {
				case *redis.Client:
					o := r.Options()
					opts.user, opts.pass, opts.tls = o.Username, o.Password, o.TLSConfig
				case *redis.ClusterClient:
					o := r.Options()
					opts.user, opts.pass, opts.tls = o.Username, o.Password, o.TLSConfig
				}
				assert.Equal(t, c.RedisSecurity.Username, opts.user, addr)
				assert.Equal(t, c.RedisSecurity.Password, opts.pass, addr)
				assert.Equal(t, c.RedisSecurity.TLS, opts.tls != nil, addr)
				_ = rdb.Close()
			}
		})
	}
}
