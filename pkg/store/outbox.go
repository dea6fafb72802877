package store

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"

	json "github.com/goccy/go-json"
	"github.com/redis/go-redis/v9"

	"github.com/leadscore/leads/pkg/scoring"
)

// A home's outbox holds the crossings committed with it and not yet known
// published. Commits only add to it and a writer removes, by id, only what
// it published, so a commit of another writer in between neither brings
// back what was cleared nor keeps what was published. Each entry names the
// writer that committed it, so that whoever loads a home can leave alone
// the crossings another live writer is publishing (see commit.Committer).
//
// Stored as one line per entry, "<crossing id> <JSON>\n", which the scripts
// append to and filter without decoding JSON. An outbox written before
// entries had writers is a JSON array; it is read as entries of writer "",
// replaced by the next commit and cleared by version.

// OutboxEntry is one crossing in an outbox.
type OutboxEntry struct {
	// Writer is who committed it: "scorer/<instance>", "decayer/<owner>",
	// or "" when it was written before entries had writers.
	Writer string `json:"w,omitempty"`
	scoring.Crossing
}

func encodeOutbox(b []byte, entries []OutboxEntry) ([]byte, error) {
	for i := range entries {
		v, err := json.Marshal(&entries[i])
		if err != nil {
			return nil, fmt.Errorf("encode outbox: %w", err)
		}
		b = append(b, entries[i].ID()...)
		b = append(b, ' ')
		b = append(append(b, v...), '\n')
	}
	return b, nil
}

// decodeOutbox reads an outbox; legacy says it is the JSON array of before.
func decodeOutbox(raw []byte) (entries []OutboxEntry, legacy bool, err error) {
	if len(raw) > 0 && raw[0] == '[' {
		var xs []scoring.Crossing
		if err := json.Unmarshal(raw, &xs); err != nil {
			return nil, false, err
		}
		for _, x := range xs {
			entries = append(entries, OutboxEntry{Crossing: x})
		}
		return entries, true, nil
	}
	for len(raw) > 0 {
		line, rest, _ := bytes.Cut(raw, []byte{'\n'})
		raw = rest
		_, v, ok := bytes.Cut(line, []byte{' '})
		if !ok {
			return nil, false, fmt.Errorf("outbox line %q: %w", line, errCorrupt)
		}
		var e OutboxEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return nil, false, err
		}
		entries = append(entries, e)
	}
	return entries, false, nil
}

var (
	//go:embed clear_outbox.lua
	clearOutboxLua    string
	clearOutboxScript = redis.NewScript(clearOutboxLua)
)

// Clear says what to clear of one home once a post is done: the outbox
// entries it published, by crossing id, and the report deltas it applied,
// which are cleared only if the home is still at Version (a later commit
// carried them forward, and its writer applies and clears them).
type Clear struct {
	Version int64
	IDs     []string
}

// ClearOutboxes clears what posts published and applied, by home.
func (s *Store) ClearOutboxes(ctx context.Context, clears map[string]Clear) error {
	if len(clears) == 0 {
		return nil
	}
	keys := make([]string, 0, len(clears))
	args := make([][]any, 0, len(clears))
	for id, c := range clears {
		a := make([]any, 0, 2+len(c.IDs))
		a = append(a, c.Version, len(c.IDs))
		for _, x := range c.IDs {
			a = append(a, x)
		}
		keys, args = append(keys, s.HomeKey(id)), append(args, a)
	}
	calls := s.scriptCalls(len(keys), func(i int) int { return len(args[i]) })
	return s.runScript(ctx, clearOutboxScript, "clear outboxes", func(pipe redis.Pipeliner) {
		for _, c := range calls {
			var a []any
			for i := c[0]; i < c[1]; i++ {
				a = append(a, args[i]...)
			}
			clearOutboxScript.EvalSha(ctx, pipe, keys[c[0]:c[1]], a...)
		}
	})
}
