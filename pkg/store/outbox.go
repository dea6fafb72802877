package store

import (
	"context"
	_ "embed"
	"fmt"
	"strings"

	json "github.com/goccy/go-json"
	"github.com/redis/go-redis/v9"

	"github.com/leadscore/leads/pkg/scoring"
)

// A home's outbox holds the crossings committed with it and not yet known
// published: a set beside the home's hash, in its slot, of one member per
// entry, "<crossing id> <JSON>". A commit adds its crossings to it, and a
// post removes exactly the members it published, so a commit of another
// writer in between neither brings back what was cleared nor keeps what
// was published. Each entry names the writer that committed it, so that
// whoever loads a home can leave alone the crossings another live writer
// is publishing (see commit.Committer).
//
// An outbox written before entries had writers is a JSON array in the
// home's hash: it is read as entries of writer "", moved into the set by
// the next commit of the home, and otherwise cleared by version.

// OutboxEntry is one crossing in an outbox.
type OutboxEntry struct {
	// Writer is who committed it: "scorer/<instance>", "decayer/<owner>",
	// or "" when it was written before entries had writers.
	Writer string `json:"w,omitempty"`
	scoring.Crossing
	// member is the entry as stored, once stored or loaded.
	member string
}

// outboxKey is the set of a home's outbox.
func (s *Store) outboxKey(home string) string { return s.ns + ":{" + homeTag(home) + "}:x" }

// outboxMember returns the entry as a member of the outbox set.
func outboxMember(e *OutboxEntry) (string, error) {
	if e.member != "" {
		return e.member, nil
	}
	v, err := json.Marshal(e)
	if err != nil {
		return "", fmt.Errorf("encode outbox entry: %w", err)
	}
	e.member = e.ID() + " " + string(v)
	return e.member, nil
}

func decodeOutboxMember(m string) (OutboxEntry, error) {
	_, v, ok := strings.Cut(m, " ")
	if !ok {
		return OutboxEntry{}, fmt.Errorf("outbox entry %q: %w", m, errCorrupt)
	}
	var e OutboxEntry
	if err := json.Unmarshal([]byte(v), &e); err != nil {
		return OutboxEntry{}, fmt.Errorf("outbox entry: %w", err)
	}
	e.member = m
	return e, nil
}

// decodeLegacyOutbox reads an outbox in the JSON array form of before.
func decodeLegacyOutbox(raw string) ([]OutboxEntry, error) {
	var xs []scoring.Crossing
	if err := json.Unmarshal([]byte(raw), &xs); err != nil {
		return nil, err
	}
	entries := make([]OutboxEntry, len(xs))
	for i, x := range xs {
		entries[i] = OutboxEntry{Crossing: x}
	}
	return entries, nil
}

var (
	//go:embed clear_outbox.lua
	clearOutboxLua    string
	clearOutboxScript = redis.NewScript(clearOutboxLua)
)

// Clear says what to clear of one home once a post is done: the outbox
// entries it published, and whether to clear the report deltas it applied
// (and a legacy outbox it published), which are cleared only if the home
// is still at Version: a later commit carried them forward, and its writer
// applies and clears them.
type Clear struct {
	Version int64
	Entries []OutboxEntry
	// AtVersion asks for the report deltas and a legacy outbox to be
	// cleared at Version.
	AtVersion bool
}

// ClearOutboxes clears what posts published and applied, by home.
func (s *Store) ClearOutboxes(ctx context.Context, clears map[string]Clear) error {
	if len(clears) == 0 {
		return nil
	}
	var keys []string
	var versions []any
	pipe := s.rdb.Pipeline()
	for home, c := range clears {
		if len(c.Entries) > 0 {
			members := make([]any, len(c.Entries))
			for i := range c.Entries {
				m, err := outboxMember(&c.Entries[i])
				if err != nil {
					return err
				}
				members[i] = m
			}
			pipe.SRem(ctx, s.outboxKey(home), members...)
		}
		if c.AtVersion {
			keys, versions = append(keys, s.HomeKey(home), s.reportsKey(home)), append(versions, c.Version)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("clear outboxes: %w", err)
	}
	if len(keys) == 0 {
		return nil
	}
	calls := s.scriptCalls(len(versions), func(int) int { return 1 })
	return s.runScript(ctx, clearOutboxScript, "clear report deltas", func(pipe redis.Pipeliner) {
		for _, c := range calls {
			clearOutboxScript.EvalSha(ctx, pipe, keys[2*c[0]:2*c[1]], versions[c[0]:c[1]]...)
		}
	})
}
