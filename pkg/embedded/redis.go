package embedded

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"

	"github.com/leadscore/leads/pkg/retry"
)

// Kinds of Redis, as Kind reports them.
const (
	KindRedisServer = "redis-server"
	KindMiniredis   = "miniredis"
)

var errPortInUse = errors.New("port already in use")

// HashMaxListpackValue is the hash-max-listpack-value redis-server runs
// with here, as store.HashMaxListpackValue asks (this package cannot
// import store, whose tests start Redis through it).
const HashMaxListpackValue = 2048

// Bounds on waiting for redis-server.
const (
	redisReadyTimeout = 10 * time.Second
	redisStopTimeout  = 5 * time.Second
)

// RedisOptions configures the embedded Redis.
type RedisOptions struct {
	// Port to listen on (127.0.0.1); 0 picks a free one.
	Port int
	// AppendOnly makes redis-server keep its data across Stop and Start,
	// in an append-only file in a temporary directory. (miniredis always
	// keeps its data across a restart.)
	AppendOnly bool
	// ForceMiniredis uses miniredis even when redis-server exists.
	ForceMiniredis bool
}

// Redis is a redis-server child process or, when none is installed, an
// in-process miniredis.
type Redis struct {
	log  *zap.Logger
	opts RedisOptions
	addr string
	dir  string
	mini *miniredis.Miniredis

	mu          sync.Mutex
	proc        *process // nil while stopped
	miniStopped bool
}

// process is one run of redis-server.
type process struct {
	cmd    *exec.Cmd
	out    *capped
	exited chan struct{} // closed once Wait returns
	err    error         // Wait's error, set before exited closes
}

// StartRedis starts a real redis-server when one is on PATH, else
// miniredis, and returns once it answers PING.
func StartRedis(ctx context.Context, log *zap.Logger, opts RedisOptions) (*Redis, error) {
	r := &Redis{log: log, opts: opts}
	if _, err := exec.LookPath("redis-server"); err != nil || opts.ForceMiniredis {
		if err := r.startMini(err); err != nil {
			return nil, err
		}
		return r, nil
	}
	dir, err := os.MkdirTemp("", "leads-redis-")
	if err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	r.dir = dir
	// A port picked free can be taken before redis-server binds it: pick
	// another then.
	for attempt := 1; ; attempt++ {
		port := opts.Port
		if port == 0 {
			if port, err = FreePort(); err != nil {
				break
			}
		}
		r.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		err = r.Start(ctx)
		if err == nil || opts.Port != 0 || attempt == 3 || !errors.Is(err, errPortInUse) {
			break
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	log.Info("redis-server started", zap.String("addr", r.addr), zap.Bool("appendonly", opts.AppendOnly))
	return r, nil
}

func (r *Redis) startMini(lookErr error) error {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr(net.JoinHostPort("127.0.0.1", strconv.Itoa(r.opts.Port))); err != nil {
		return fmt.Errorf("start miniredis: %w", err)
	}
	r.mini, r.addr = m, m.Addr()
	if lookErr != nil {
		r.log.Info("redis-server is not on PATH: using the embedded miniredis", zap.String("addr", r.addr))
	} else {
		r.log.Info("using the embedded miniredis", zap.String("addr", r.addr))
	}
	return nil
}

// FreePort returns a loopback TCP port that was free a moment ago, for a
// server that binds it later (a child process). It is picked at random
// below the kernel's range of ephemeral ports when it can be, not by
// binding port 0: a port from that range can be taken, before the server
// binds it, as the local port of any outgoing connection of any program
// on the machine, while one below it only by another program that picks
// the same port at random.
func FreePort() (int, error) {
	if low := ephemeralLow(); low > freePortsFrom+1000 {
		for range 50 {
			port := freePortsFrom + rand.IntN(low-freePortsFrom)
			if ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
				ln.Close()
				return port, nil
			}
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// freePortsFrom is the lowest port FreePort picks.
const freePortsFrom = 10000

// ephemeralLow is the first port of the kernel's ephemeral range, or 0
// when it cannot be read (not Linux).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	low, err := strconv.Atoi(strings.Fields(string(b) + " 0")[0])
	if err != nil {
		return 0
	}
	return low
}

// Addr is host:port.
func (r *Redis) Addr() string { return r.addr }

// Kind is KindRedisServer or KindMiniredis.
func (r *Redis) Kind() string {
	if r.mini != nil {
		return KindMiniredis
	}
	return KindRedisServer
}

// Start starts a stopped Redis again on the same port and waits until it
// answers PING; it does nothing if Redis runs.
func (r *Redis) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mini != nil {
		if r.miniStopped {
			// The port was released at Stop; another process may hold it
			// for a moment (a test picking a free port): retry briefly.
			var err error
			for range 50 {
				if err = r.mini.Restart(); err == nil || ctx.Err() != nil {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err != nil {
				return fmt.Errorf("restart miniredis: %w", err)
			}
			r.miniStopped = false
		}
		return nil
	}
	if r.proc != nil {
		return nil
	}
	_, port, _ := net.SplitHostPort(r.addr)
	aof := "no"
	if r.opts.AppendOnly {
		aof = "yes"
	}
	p := &process{out: &capped{max: 4096}, exited: make(chan struct{})}
	p.cmd = exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", aof,
		"--dir", r.dir, "--protected-mode", "no", "--daemonize", "no", "--loglevel", "warning",
		// redis-server acts on SIGTERM at its next cron tick: 10 ms apart
		// rather than 100 ms, so stopping it is quick.
		"--hz", "100",
		// Homes stay listpacks (the setting production runs with; the
		// scorer warns when it is lower: see store.HashMaxListpackValue).
		"--hash-max-listpack-value", strconv.Itoa(HashMaxListpackValue))
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	// The child dies with us even if we are killed before Close.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	if err := waitReady(ctx, r.addr, p); err != nil {
		stop(p)
		return fmt.Errorf("start redis-server on %s: %w", r.addr, err)
	}
	r.proc = p
	return nil
}

// waitReady asks the server its process ID until it answers, the process
// exits, or the wait is over. It speaks RESP itself: go-redis retries each
// failed dial five times, 100 ms apart, which would slow every start.
func waitReady(ctx context.Context, addr string, p *process) error {
	ctx, cancel := context.WithTimeout(ctx, redisReadyTimeout)
	defer cancel()
	go func() {
		select {
		case <-p.exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	b := retry.Backoff(2*time.Millisecond, 100*time.Millisecond)
	err := backoff.Retry(func() error {
		pid, err := serverPID(ctx, addr)
		if err != nil {
			return err
		}
		// Another test's server may have taken the port we picked: ours
		// then fails to bind, and must not be mistaken for it.
		if pid != p.cmd.Process.Pid {
			return backoff.Permanent(fmt.Errorf("%w by another redis-server (pid %d)", errPortInUse, pid))
		}
		return nil
	}, backoff.WithContext(b, ctx))
	select {
	case <-p.exited:
		out := bytes.TrimSpace(p.out.Bytes())
		if bytes.Contains(out, []byte("Address already in use")) {
			return fmt.Errorf("%w: redis-server exited: %s", errPortInUse, out)
		}
		return fmt.Errorf("redis-server exited (%v): %s", p.err, out)
	default:
		return err
	}
}

// serverPID sends INFO server persistence and returns its process_id. A
// server still loading its append-only file is not ready: Redis 7 answers
// INFO while loading (then "loading:1") but refuses data commands.
func serverPID(ctx context.Context, addr string) (int, error) {
	conn, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("*3\r\n$4\r\nINFO\r\n$6\r\nserver\r\n$11\r\npersistence\r\n")); err != nil {
		return 0, err
	}
	rd := bufio.NewReader(conn)
	head, err := rd.ReadString('\n')
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(head, "$")))
	if !strings.HasPrefix(head, "$") || err != nil || n < 0 {
		return 0, fmt.Errorf("INFO answered %q", strings.TrimSpace(head))
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(rd, body); err != nil {
		return 0, err
	}
	pid := 0
	for line := range strings.SplitSeq(string(body), "\r\n") {
		if v, ok := strings.CutPrefix(line, "process_id:"); ok {
			if pid, err = strconv.Atoi(v); err != nil {
				return 0, err
			}
		}
		if line == "loading:1" {
			return 0, errors.New("still loading its data")
		}
	}
	if pid == 0 {
		return 0, errors.New("INFO server has no process_id")
	}
	return pid, nil
}

// Stop stops Redis, as an outage would; Start brings it back on the same
// port. redis-server keeps its data only with AppendOnly.
func (r *Redis) Stop() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mini != nil {
		r.mini.Close()
		r.miniStopped = true
		return nil
	}
	if r.proc == nil {
		return nil
	}
	err := stop(r.proc)
	r.proc = nil
	return err
}

// Restart stops Redis and starts it again on the same port.
func (r *Redis) Restart(ctx context.Context) error {
	if err := r.Stop(); err != nil {
		return err
	}
	return r.Start(ctx)
}

// stop sends SIGTERM, which lets redis-server flush its append-only file,
// and kills it if it has not exited in time.
func stop(p *process) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(redisStopTimeout)
	defer t.Stop()
	select {
	case <-p.exited:
		return nil
	case <-t.C:
		_ = p.cmd.Process.Kill()
		<-p.exited
		return errors.New("redis-server did not stop on SIGTERM: killed")
	}
}

// Close stops Redis and removes its data.
func (r *Redis) Close() error {
	if r.mini != nil {
		r.mini.Close()
		return nil
	}
	err := r.Stop()
	if rerr := os.RemoveAll(r.dir); rerr != nil && err == nil {
		err = fmt.Errorf("remove redis-server data: %w", rerr)
	}
	return err
}

// capped keeps the first max bytes of a child's output for error messages.
type capped struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (t *capped) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if room := t.max - t.buf.Len(); room > 0 {
		t.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (t *capped) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return bytes.Clone(t.buf.Bytes())
}
