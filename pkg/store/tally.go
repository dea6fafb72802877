package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// What the hourly tallies count.
const (
	TallyIntake      = "intake"      // events the ingestor accepted
	TallyTransitions = "transitions" // crossings published
)

// tallyKeep is how long an hour's count is kept.
const tallyKeep = 8 * 24 * time.Hour

// tallyEvery is how often a tally adds what it counted to Redis.
const tallyEvery = time.Second

// Tally counts things per hour (events accepted, crossings published) for
// the console's charts. It counts in memory and adds to Redis within a
// second, off the caller's path, so a crash loses at most the last
// second's counts, and what is delivered twice (a retried post) counts
// twice: a dashboard's figure, not the exact one of the report counters.
type Tally struct {
	st      *Store
	what    string
	mu      sync.Mutex
	counts  map[int64]int64 // hour (Unix seconds) → count
	pending bool
}

// Tally returns the store's tally of what (one per store and name).
func (s *Store) Tally(what string) *Tally {
	s.tallies.Lock()
	defer s.tallies.Unlock()
	if s.tallies.m == nil {
		s.tallies.m = map[string]*Tally{}
	}
	t, ok := s.tallies.m[what]
	if !ok {
		t = &Tally{st: s, what: what, counts: map[int64]int64{}}
		s.tallies.m[what] = t
	}
	return t
}

func (s *Store) tallyKey(what string, hour int64) string {
	return s.ns + ":stats:" + what + ":" + strconv.FormatInt(hour, 10)
}

// Add counts n at the time at.
func (t *Tally) Add(at time.Time, n int) {
	if n <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.counts[at.Truncate(time.Hour).Unix()] += int64(n)
	if !t.pending {
		t.pending = true
		time.AfterFunc(tallyEvery, t.flush)
	}
}

// flush adds the counts to Redis; counts it could not add wait for the
// next flush.
func (t *Tally) flush() {
	t.mu.Lock()
	counts := t.counts
	t.counts, t.pending = map[int64]int64{}, false
	t.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	pipe := t.st.rdb.Pipeline()
	for hour, n := range counts {
		key := t.st.tallyKey(t.what, hour)
		pipe.IncrBy(ctx, key, n)
		pipe.Expire(ctx, key, tallyKeep)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.ErrClosed) {
		// Kept for the next flush (a closed client: the store is gone).
		t.mu.Lock()
		defer t.mu.Unlock()
		for hour, n := range counts {
			t.counts[hour] += n
		}
		if !t.pending {
			t.pending = true
			time.AfterFunc(tallyEvery, t.flush)
		}
	}
}

// Hourly returns the counts of what for the hours hours up to and
// including the one of until, oldest first.
func (s *Store) Hourly(ctx context.Context, what string, until time.Time, hours int) ([]int64, error) {
	last := until.Truncate(time.Hour).Unix()
	keys := make([]string, hours)
	for i := range keys {
		keys[i] = s.tallyKey(what, last-int64(hours-1-i)*3600)
	}
	out := make([]int64, hours)
	pipe := s.rdb.Pipeline()
	cmds := make([]interface{ Val() string }, hours)
	for i, k := range keys {
		cmds[i] = pipe.Get(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read the %s tally: %w", what, err)
	}
	for i, c := range cmds {
		out[i], _ = strconv.ParseInt(c.Val(), 10, 64)
	}
	return out, nil
}
