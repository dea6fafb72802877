package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/leadscore/leads/pkg/scoring"
)

// scanChunk is how many homes one pipelined read loads while scanning.
const scanChunk = 500

// ScanHomes calls fn with every home of the namespace, all contacts loaded.
// It walks the keyspace with SCAN (on every master of a cluster), so it is
// for offline tools such as compare, not for the hot path; homes committed
// while it runs may be seen in either state.
func (s *Store) ScanHomes(ctx context.Context, fn func(*scoring.Home) error) error {
	// The states' texts are numbers in a dictionary of one epoch (see
	// Load): a copy of another is not used.
	pipe := s.rdb.Pipeline()
	checked := s.texts.checkEpoch(ctx, pipe, s.textsKey())
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("scan homes: %w", err)
	}
	checked()
	match := globEscape(s.ns) + ":{*}"
	prefix := s.ns + ":{"
	var mu sync.Mutex // masters are scanned concurrently; fn sees one home at a time
	scan := func(ctx context.Context, c redis.UniversalClient) error {
		var cursor uint64
		var ids []string
		flush := func() error {
			if len(ids) == 0 {
				return nil
			}
			pipe := c.Pipeline()
			cmds := make([]*redis.MapStringStringCmd, len(ids))
			for i, id := range ids {
				cmds[i] = pipe.HGetAll(ctx, s.HomeKey(id))
			}
			if _, err := pipe.Exec(ctx); err != nil {
				return fmt.Errorf("scan homes: %w", err)
			}
			for i, id := range ids {
				fields := cmds[i].Val()
				if len(fields) == 0 {
					continue // removed since scanned
				}
				var h *scoring.Home
				err := s.withTexts(ctx, func(texts *textReader) (err error) {
					h, _, err = decodeHome(id, fields, true, texts)
					return err
				})
				if err != nil {
					return err
				}
				mu.Lock()
				err = fn(h)
				mu.Unlock()
				if err != nil {
					return err
				}
			}
			ids = ids[:0]
			return nil
		}
		for {
			keys, next, err := c.ScanType(ctx, cursor, match, 1000, "hash").Result()
			if err != nil {
				return fmt.Errorf("scan homes: %w", err)
			}
			for _, k := range keys {
				// Ledger lists share the prefix but are not hashes; the
				// check keeps keys such as ns:{x}:other out as well.
				if !strings.HasPrefix(k, prefix) || !strings.HasSuffix(k, "}") {
					continue
				}
				id, err := homeOfTag(k[len(prefix) : len(k)-1])
				if err != nil {
					continue // not a key this store wrote
				}
				ids = append(ids, id)
				if len(ids) == scanChunk {
					if err := flush(); err != nil {
						return err
					}
				}
			}
			if cursor = next; cursor == 0 {
				return flush()
			}
		}
	}
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	}
	return scan(ctx, s.rdb)
}

// globEscape quotes the characters SCAN MATCH treats as patterns.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// LiveKey is the key naming the namespace that is live for a deployment
// whose programs are configured with name (see Resolve).
func LiveKey(name string) string { return name + ":live" }

// Resolve returns the namespace the programs configured with name use: the
// one promoted to live (LiveKey), or name itself when none was.
func Resolve(ctx context.Context, rdb redis.UniversalClient, name string) (string, error) {
	ns, err := rdb.Get(ctx, LiveKey(name)).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return name, nil
	case err != nil:
		return "", fmt.Errorf("resolve namespace %s: %w", name, err)
	}
	return ns, nil
}
