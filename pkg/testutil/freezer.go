package testutil

import (
	"net"
	"sync"
	"testing"
)

// Freezer is a TCP proxy on loopback in front of a dependency, which a
// test can freeze: from Freeze on it passes no byte either way and accepts
// new connections without ever answering them, as a hung server (a
// SIGSTOPped one, a full disk, a partition that drops packets) would.
// Nothing is refused or closed, so clients wait for their own timeouts.
type Freezer struct {
	ln     net.Listener
	target string
	frozen chan struct{}
	closed chan struct{}

	mu    sync.Mutex
	conns []net.Conn
	once  sync.Once
	shut  sync.Once
}

// Freeze returns a running proxy to target, closed at cleanup.
func Freeze(t testing.TB, target string) *Freezer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("freezer: %v", err)
	}
	f := &Freezer{ln: ln, target: target, frozen: make(chan struct{}), closed: make(chan struct{})}
	go f.accept()
	t.Cleanup(f.Close)
	return f
}

// Addr is the proxy's address, to give clients instead of the target's.
func (f *Freezer) Addr() string { return f.ln.Addr().String() }

// Freeze stops every byte from now on.
func (f *Freezer) Freeze() { f.once.Do(func() { close(f.frozen) }) }

// Close closes the proxy and every connection through it: frozen clients
// see their connections end.
func (f *Freezer) Close() {
	f.shut.Do(func() {
		close(f.closed)
		f.ln.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, c := range f.conns {
			c.Close()
		}
	})
}

func (f *Freezer) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.closed:
		c.Close()
		return false
	default:
	}
	f.conns = append(f.conns, c)
	return true
}

func (f *Freezer) accept() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		if !f.track(c) {
			return
		}
		select {
		case <-f.frozen:
			continue // held open, never answered
		default:
		}
		go func() {
			up, err := net.Dial("tcp", f.target)
			if err != nil {
				c.Close()
				return
			}
			if !f.track(up) {
				return
			}
			go f.pipe(up, c)
			go f.pipe(c, up)
		}()
	}
}

// pipe copies src to dst until either ends, holding whatever it reads
// once the proxy is frozen.
func (f *Freezer) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-f.frozen:
			<-f.closed
			return
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				src.Close()
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}
