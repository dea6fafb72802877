package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/redis/go-redis/v9"
)

// DueShards is how many sorted sets the due index is spread over; each is
// its own Redis Cluster slot, and decayer replicas lease shards.
const DueShards = 64

// DueShard is the shard of a contact.
func DueShard(contact string) int { return int(xxhash.Sum64String(contact) % DueShards) }

// DueKey is the sorted set of one shard: contact ids scored by the Unix
// time of their next decay step or dormancy.
func (s *Store) DueKey(shard int) string { return s.ns + ":due:{" + strconv.Itoa(shard) + "}" }

func (s *Store) leaseKey(shard int) string { return s.ns + ":due:{" + strconv.Itoa(shard) + "}:lease" }

// Due returns up to limit contacts of a shard due at or before now.
func (s *Store) Due(ctx context.Context, shard int, now time.Time, limit int) ([]string, error) {
	ids, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: s.DueKey(shard), Start: "-inf", Stop: strconv.FormatInt(now.Unix(), 10),
		ByScore: true, Count: int64(limit)}).Result()
	if err != nil {
		return nil, fmt.Errorf("due contacts of shard %d: %w", shard, err)
	}
	return ids, nil
}

// Backlog counts the contacts due at or before now, over all shards.
func (s *Store) Backlog(ctx context.Context, now time.Time) (int64, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, DueShards)
	for i := range DueShards {
		cmds[i] = pipe.ZCount(ctx, s.DueKey(i), "-inf", strconv.FormatInt(now.Unix(), 10))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, fmt.Errorf("due backlog: %w", err)
	}
	var n int64
	for _, c := range cmds {
		n += c.Val()
	}
	return n, nil
}

var renewLease = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0`)

// Lease takes or renews the lease of a shard for owner; it reports whether
// owner holds it. Leases only spread work: the versioned commit keeps two
// owners of one shard correct.
func (s *Store) Lease(ctx context.Context, shard int, owner string, ttl time.Duration) (bool, error) {
	n, err := renewLease.Run(ctx, s.rdb, []string{s.leaseKey(shard)}, owner, ttl.Milliseconds()).Int()
	if err != nil && !errors.Is(err, redis.Nil) {
		return false, fmt.Errorf("lease shard %d: %w", shard, err)
	}
	return n == 1, nil
}
