package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The outbox index names the homes whose outbox a writer without
// redelivery (the decayer) committed and has not yet seen published: a
// writer that dies between its commit and its publish leaves the home here,
// and a later pass publishes its entries of the outbox. An entry is one
// commit's: the home under its owner and a random tag
// ("<owner>\x00<tag>\x00<home>"), so that no commit replaces another's
// entry. Another decayer that commits and publishes the same home
// meanwhile leaves a dead owner's crossings tracked, and so does another
// worker of the same decayer (its workers decay groups of shards at once,
// and contacts of one account fall in several): the process may die with
// one worker's crossings committed and not published after the other
// published and untracked its own. It holds the token of the writer that
// added it, "<owner>/<tag>", so a reader can leave alone the entries of an
// owner still at work. It is one small hash: homes stay in it only between
// a commit and its publish.
// tagBytes is the size of an entry's random tag.
const tagBytes = 12

func (s *Store) outboxIndexKey() string { return s.ns + ":outboxes" }

var untrackOutbox = redis.NewScript(`
local n = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    n = n + redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return n`)

// TrackOutboxes adds homes to the outbox index for owner, before the
// commit that writes their outboxes, and returns the token of each entry
// (entry → token; TrackedHome reads the home of an entry).
func (s *Store) TrackOutboxes(ctx context.Context, owner string, homes []string) (map[string]string, error) {
	if len(homes) == 0 {
		return nil, nil
	}
	tokens := make(map[string]string, len(homes))
	args := make([]any, 0, 2*len(homes))
	var b [tagBytes]byte
	for _, h := range homes {
		_, _ = rand.Read(b[:])
		tag := hex.EncodeToString(b[:])
		entry := owner + "\x00" + tag + "\x00" + h
		tokens[entry] = owner + "/" + tag
		args = append(args, entry, tokens[entry])
	}
	if err := s.rdb.HSet(ctx, s.outboxIndexKey(), args...).Err(); err != nil {
		return nil, fmt.Errorf("track outboxes: %w", err)
	}
	return tokens, nil
}

// UntrackOutboxes removes the entries of the outbox index that still hold
// the given tokens (entry → token), once those outboxes are published.
func (s *Store) UntrackOutboxes(ctx context.Context, tokens map[string]string) error {
	if len(tokens) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(tokens))
	for h, tok := range tokens {
		args = append(args, h, tok)
	}
	err := untrackOutbox.Run(ctx, s.rdb, []string{s.outboxIndexKey()}, args...).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("untrack outboxes: %w", err)
	}
	return nil
}

// TrackedOutboxes returns up to about limit entries of the outbox index
// (entry → token; TrackedHome reads the home of an entry).
func (s *Store) TrackedOutboxes(ctx context.Context, limit int) (map[string]string, error) {
	out := map[string]string{}
	var cursor uint64
	for {
		kv, next, err := s.rdb.HScan(ctx, s.outboxIndexKey(), cursor, "*", int64(limit)).Result()
		if err != nil {
			return nil, fmt.Errorf("tracked outboxes: %w", err)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		cursor = next
		if cursor == 0 || len(out) >= limit {
			return out, nil
		}
	}
}

// TrackedHome is the home of an outbox index entry. Entries written
// before entries were a commit's are "<owner>\x00<home>", and before they
// named their owner the home alone.
func TrackedHome(entry string) string {
	_, rest, ok := strings.Cut(entry, "\x00")
	if !ok {
		return entry
	}
	if tag, home, ok := strings.Cut(rest, "\x00"); ok && len(tag) == 2*tagBytes {
		return home
	}
	return rest
}

// TokenOwner is the owner named in an outbox index token.
func TokenOwner(token string) string {
	if i := strings.LastIndexByte(token, '/'); i >= 0 {
		return token[:i]
	}
	return ""
}
