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

// The due index is spread over many small sorted sets: Redis stores a
// sorted set of up to 128 entries as a listpack, about 20 bytes an entry
// against some 100 in a skiplist, as long as shards stay small (up to about
// two million contacts). Shards are leased in groups, so a pass costs a few
// dozen leases and one pipelined read per group.
const (
	DueShards      = 16384
	DueGroups      = 64
	shardsPerGroup = DueShards / DueGroups
)

// DueShard is the shard of a contact.
func DueShard(contact string) int { return int(xxhash.Sum64String(contact) % DueShards) }

// DueKey is the sorted set of one shard: contact ids scored by the Unix
// time of their next decay step or dormancy.
func (s *Store) DueKey(shard int) string { return s.ns + ":due:{" + strconv.Itoa(shard) + "}" }

func (s *Store) leaseKey(group int) string { return s.ns + ":due:lease:{" + strconv.Itoa(group) + "}" }

// Due returns up to limit contacts of a group of shards due at or before
// now, read with one pipeline.
func (s *Store) Due(ctx context.Context, group int, now time.Time, limit int) ([]string, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringSliceCmd, 0, shardsPerGroup)
	for shard := group * shardsPerGroup; shard < (group+1)*shardsPerGroup; shard++ {
		cmds = append(cmds, pipe.ZRangeArgs(ctx, redis.ZRangeArgs{Key: s.DueKey(shard), Start: "-inf",
			Stop: strconv.FormatInt(now.Unix(), 10), ByScore: true, Count: int64(limit)}))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("due contacts of group %d: %w", group, err)
	}
	var ids []string
	for _, c := range cmds {
		ids = append(ids, c.Val()...)
		if len(ids) >= limit {
			return ids[:limit], nil
		}
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

// Lease takes or renews the lease of a group of shards for owner; it
// reports whether owner holds it. Leases only spread work: the versioned
// commit keeps two owners of one group correct.
func (s *Store) Lease(ctx context.Context, group int, owner string, ttl time.Duration) (bool, error) {
	n, err := renewLease.Run(ctx, s.rdb, []string{s.leaseKey(group)}, owner, ttl.Milliseconds()).Int()
	if err != nil && !errors.Is(err, redis.Nil) {
		return false, fmt.Errorf("lease group %d: %w", group, err)
	}
	return n == 1, nil
}

var releaseLease = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)

// ReleaseLeases gives up every lease owner holds, with one pipeline of
// script calls (a lease another owner took since stays), and returns how
// many it released. A decayer that stops cleanly calls it, so the next
// one, or the next `decayer --once`, takes the shards at once instead of
// after the lease TTL.
func (s *Store) ReleaseLeases(ctx context.Context, owner string) (int, error) {
	cmds := make([]*redis.Cmd, DueGroups)
	err := s.runScript(ctx, releaseLease, "release shard leases", func(pipe redis.Pipeliner) {
		for g := range DueGroups {
			cmds[g] = releaseLease.EvalSha(ctx, pipe, []string{s.leaseKey(g)}, owner)
		}
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range cmds {
		v, _ := c.Int()
		n += v
	}
	return n, nil
}

// Leases returns the owner of each group of shards leased now.
func (s *Store) Leases(ctx context.Context) (map[int]string, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, DueGroups)
	for g := range DueGroups {
		cmds[g] = pipe.Get(ctx, s.leaseKey(g))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("shard leases: %w", err)
	}
	leases := map[int]string{}
	for g, c := range cmds {
		if v, err := c.Result(); err == nil {
			leases[g] = v
		}
	}
	return leases, nil
}

// LeaseOwners returns the owners holding a lease of some group of shards
// now: the decayers alive, as far as the leases tell.
func (s *Store) LeaseOwners(ctx context.Context) (map[string]bool, error) {
	leases, err := s.Leases(ctx)
	if err != nil {
		return nil, err
	}
	owners := map[string]bool{}
	for _, o := range leases {
		owners[o] = true
	}
	return owners, nil
}
