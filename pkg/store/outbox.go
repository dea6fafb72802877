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
// entry, in a binary form (outboxFormat). A commit adds its crossings to
// it, and a post removes exactly the members it published, so a commit of
// another writer in between neither brings back what was cleared nor keeps
// what was published. Each entry names the writer that committed it, so
// that whoever loads a home can leave alone the crossings another live
// writer is publishing (see commit.Committer).
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

// outboxFormat leads a member in its binary form: the writer and the
// crossing's fields, strings length-prefixed and numbers as varints, in
// the order of outboxMember. It is about a third of the JSON form of
// before, "<crossing id> <JSON>" (whose members start with a hex digit,
// still read and cleared as stored), and needs no hash of the crossing:
// its id is computed where it is published. Earlier versions do not read
// it, as they do not read contact format 4.
const outboxFormat byte = 1

// outboxMember returns the entry as a member of the outbox set.
func outboxMember(e *OutboxEntry) string {
	if e.member != "" {
		return e.member
	}
	x := &e.Crossing
	w := enc{b: make([]byte, 0, 128)} // 104 bytes for an average demo crossing
	w.byte(outboxFormat)
	for _, s := range [...]string{e.Writer, x.Type, x.ContactID, x.AccountID, x.Cause} {
		w.str(s)
	}
	w.svar(x.Time)
	for _, n := range [...]int32{x.Score, x.Behavior, x.Fit, x.AccountScore} {
		w.svar(int64(n))
	}
	for _, s := range [...]string{x.Grade, x.Stage, x.From, x.ModelVersion, x.Nurture} {
		w.str(s)
	}
	e.member = string(w.b)
	return e.member
}

func decodeOutboxMember(m string) (OutboxEntry, error) {
	if len(m) > 0 && m[0] == outboxFormat {
		return decodeBinaryOutboxMember(m)
	}
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

func decodeBinaryOutboxMember(m string) (OutboxEntry, error) {
	d := dec{b: []byte(m[1:])}
	e := OutboxEntry{Writer: d.str(), member: m}
	x := &e.Crossing
	x.Type, x.ContactID, x.AccountID, x.Cause = d.str(), d.str(), d.str(), d.str()
	x.Time = d.svar()
	x.Score, x.Behavior, x.Fit, x.AccountScore = d.i32(), d.i32(), d.i32(), d.i32()
	x.Grade, x.Stage, x.From, x.ModelVersion, x.Nurture = d.str(), d.str(), d.str(), d.str(), d.str()
	if d.err != nil || len(d.b) > 0 {
		return OutboxEntry{}, fmt.Errorf("outbox entry %q: %w", m, errCorrupt)
	}
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
				members[i] = outboxMember(&c.Entries[i])
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
