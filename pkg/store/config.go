package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/redis/go-redis/v9"
)

// HashMaxListpackValue is the hash-max-listpack-value the store is sized
// for. Redis keeps a hash as a listpack, its entries packed one after the
// other, while every value is at most that many bytes (and it has at most
// hash-max-listpack-entries fields); else as a hash table, with an entry,
// a bucket and an allocation per field, for good. A home's values are its
// contacts' states with their ledger tails (about 100 bytes, some 150) and
// its account's state (about 250 bytes for 20 members, 10 more a member):
// over Redis's default of 64, so on defaults every home is a hash table,
// about 60 bytes more a contact. 2048 keeps homes of up to the 128 fields a
// listpack holds as listpacks.
const HashMaxListpackValue = 2048

// ErrConfigUnreadable is returned by ListpackValue when Redis does not
// tell its configuration: CONFIG is disabled or renamed (as on most
// managed Redis services), or the server does not know it (miniredis).
var ErrConfigUnreadable = errors.New("Redis's configuration cannot be read")

// ListpackValue returns Redis's hash-max-listpack-value (on Redis before 7,
// hash-max-ziplist-value): on Redis Cluster the lowest of its masters'.
func (s *Store) ListpackValue(ctx context.Context) (int, error) {
	cc, ok := s.rdb.(*redis.ClusterClient)
	if !ok {
		return listpackValue(ctx, s.rdb)
	}
	var mu sync.Mutex
	lowest := -1
	err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		v, err := listpackValue(ctx, c)
		mu.Lock()
		defer mu.Unlock()
		if err == nil && (lowest < 0 || v < lowest) {
			lowest = v
		}
		return err
	})
	return lowest, err
}

func listpackValue(ctx context.Context, c redis.UniversalClient) (int, error) {
	for _, name := range []string{"hash-max-listpack-value", "hash-max-ziplist-value"} {
		m, err := c.ConfigGet(ctx, name).Result()
		if err != nil {
			return 0, fmt.Errorf("%w: CONFIG GET %s: %w", ErrConfigUnreadable, name, err)
		}
		if v, ok := m[name]; ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				return 0, fmt.Errorf("%w: %s is %q", ErrConfigUnreadable, name, v)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("%w: no hash-max-listpack-value", ErrConfigUnreadable)
}
