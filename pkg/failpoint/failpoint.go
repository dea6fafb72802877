// Package failpoint kills the process at named points of its work, for
// crash tests that run the real programs. It is off unless the environment
// variable LEADS_FAILPOINT names points, as a comma list of name:n: the
// process SIGKILLs itself the n-th time it reaches that point, e.g.
//
//	LEADS_FAILPOINT=scorer.before-offset-commit:3
//
// name:n:stop stops the process (SIGSTOP) there instead, so a test can
// make it a zombie that wakes up (SIGCONT) after others took its work.
//
// Off, Hit costs one atomic load.
package failpoint

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// EnvVar is the environment variable read at start.
const EnvVar = "LEADS_FAILPOINT"

// The points the programs pass through.
const (
	// ScorerBeforeCommit: a batch applied in memory, before its Redis commit.
	ScorerBeforeCommit = "scorer.before-commit"
	// BeforePublish: a commit with crossings is in Redis, its transitions
	// not yet published (scorer and decayer).
	BeforePublish = "commit.before-publish"
	// ScorerBeforeOffsetCommit: a batch committed and its transitions
	// published, before its Kafka offsets are committed.
	ScorerBeforeOffsetCommit = "scorer.before-offset-commit"
	// DecayBetweenBatches: a decay pass has committed a batch and goes on
	// to the next.
	DecayBetweenBatches = "decay.between-batches"
	// IngestAfterPublish: Kafka acknowledged a request's events, before the
	// 202 is written.
	IngestAfterPublish = "ingest.after-publish"
	// CommitBetweenHomes: the homes contacts moved or merged into are
	// committed, the homes they left not yet.
	CommitBetweenHomes = "commit.between-homes"
)

var (
	enabled atomic.Bool
	mu      sync.Mutex
	points  map[string]*point
	kill    = func() {
		p, err := os.FindProcess(os.Getpid())
		if err == nil {
			_ = p.Kill() // SIGKILL on Unix: no deferred function or exit hook runs
		}
		select {} // the signal is on its way
	}
)

type point struct {
	at, seen int
	stop     bool
}

func init() {
	if err := Set(os.Getenv(EnvVar)); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", EnvVar, err)
		os.Exit(2)
	}
}

// Set replaces the armed points with spec ("name:n,name:n"; empty disarms).
func Set(spec string) error {
	ps := map[string]*point{}
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, n, ok := strings.Cut(item, ":")
		n, action, _ := strings.Cut(n, ":")
		at, err := strconv.Atoi(n)
		if !ok || name == "" || err != nil || at < 1 || action != "" && action != "stop" {
			return fmt.Errorf("%q: want name:n or name:n:stop with n >= 1", item)
		}
		ps[name] = &point{at: at, stop: action == "stop"}
	}
	mu.Lock()
	points = ps
	mu.Unlock()
	enabled.Store(len(ps) > 0)
	return nil
}

// Hit marks that the process reached the named point, and kills it when
// this is the armed time.
func Hit(name string) {
	if !enabled.Load() {
		return
	}
	mu.Lock()
	p := points[name]
	fire, stop := false, false
	if p != nil {
		p.seen++
		fire, stop = p.seen == p.at, p.stop
	}
	mu.Unlock()
	switch {
	case fire && stop:
		fmt.Fprintf(os.Stderr, "failpoint %s: stopping the process\n", name)
		pause()
	case fire:
		fmt.Fprintf(os.Stderr, "failpoint %s: killing the process\n", name)
		kill()
	}
}
