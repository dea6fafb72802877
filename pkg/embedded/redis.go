package embedded

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/cenkalti/backoff/v4"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// RedisOptions configures the embedded Redis.
type RedisOptions struct {
	// Port to listen on (127.0.0.1); 0 picks a free one.
	Port int
	// AppendOnly keeps data across Stop/Start in a temporary directory.
	AppendOnly bool
	// ForceMiniredis uses miniredis even when redis-server exists.
	ForceMiniredis bool
}

// Redis is a redis-server child process or an in-process miniredis.
type Redis struct {
	log  *zap.Logger
	opts RedisOptions
	addr string
	dir  string
	mini *miniredis.Miniredis

	mu  sync.Mutex
	cmd *exec.Cmd
}

// StartRedis starts a real redis-server when one is on PATH, else miniredis.
func StartRedis(ctx context.Context, log *zap.Logger, opts RedisOptions) (*Redis, error) {
	r := &Redis{log: log, opts: opts}
	if _, err := exec.LookPath("redis-server"); err != nil || opts.ForceMiniredis {
		m := miniredis.NewMiniRedis()
		addr := "127.0.0.1:" + strconv.Itoa(opts.Port)
		if err := m.StartAddr(addr); err != nil {
			return nil, fmt.Errorf("start miniredis: %w", err)
		}
		r.mini, r.addr = m, m.Addr()
		log.Info("redis-server is not on PATH: using the embedded miniredis", zap.String("addr", r.addr))
		return r, nil
	}
	port := opts.Port
	if port == 0 {
		p, err := FreePort()
		if err != nil {
			return nil, err
		}
		port = p
	}
	dir, err := os.MkdirTemp("", "leads-redis-")
	if err != nil {
		return nil, err
	}
	r.dir, r.addr = dir, net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := r.Start(ctx); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	log.Info("redis-server started", zap.String("addr", r.addr))
	return r, nil
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Addr is host:port.
func (r *Redis) Addr() string { return r.addr }

// Kind is "redis-server" or "miniredis".
func (r *Redis) Kind() string {
	if r.mini != nil {
		return "miniredis"
	}
	return "redis-server"
}

// Start (re)starts the redis-server child on the same port and waits until
// it answers PING.
func (r *Redis) Start(ctx context.Context) error {
	if r.mini != nil {
		return errors.New("miniredis cannot be restarted")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		return nil
	}
	_, port, _ := net.SplitHostPort(r.addr)
	aof := "no"
	if r.opts.AppendOnly {
		aof = "yes"
	}
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", aof,
		"--dir", r.dir, "--protected-mode", "no", "--daemonize", "no", "--loglevel", "warning")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	r.cmd = cmd
	client := redis.NewClient(&redis.Options{Addr: r.addr, MaxRetries: -1})
	defer client.Close()
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = 5*time.Millisecond, 100*time.Millisecond, 10*time.Second
	return backoff.Retry(func() error { return client.Ping(ctx).Err() }, backoff.WithContext(b, ctx))
}

// Stop stops the redis-server child (an outage), keeping its data directory.
func (r *Redis) Stop() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mini != nil || r.cmd == nil {
		return nil
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = r.cmd.Process.Kill()
		<-done
	}
	r.cmd = nil
	return nil
}

// Close stops Redis and removes its data.
func (r *Redis) Close() error {
	if r.mini != nil {
		r.mini.Close()
		return nil
	}
	err := r.Stop()
	os.RemoveAll(r.dir)
	return err
}
