package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/leadscore/leads/pkg/scoring"
)

// Contact reads one contact's state and the home it lives in.
func (s *Store) Contact(ctx context.Context, id string) (*scoring.Contact, string, error) {
	home, err := s.rdb.HGet(ctx, s.indexKey(id), id).Result()
	if errors.Is(err, redis.Nil) {
		return nil, "", fmt.Errorf("contact %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, "", fmt.Errorf("contact %q: %w", id, err)
	}
	// With the state, the epochs of the dictionaries its texts and its
	// ledger's lines (History) are numbers in (see Load).
	pipe := s.rdb.Pipeline()
	state := pipe.HGet(ctx, s.HomeKey(home), prefixContact+id)
	textsChecked := s.texts.checkEpoch(ctx, pipe, s.textsKey())
	labelsChecked := s.labels.checkEpoch(ctx, pipe, s.labelsKey())
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, "", fmt.Errorf("contact %q: %w", id, err)
	}
	textsChecked()
	labelsChecked()
	raw, err := state.Result()
	if errors.Is(err, redis.Nil) {
		return nil, "", fmt.Errorf("contact %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, "", fmt.Errorf("contact %q: %w", id, err)
	}
	var c *scoring.Contact
	err = s.withTexts(ctx, func(texts *textReader) (err error) {
		c, err = decodeStored([]byte(raw), id, scoring.AccountOfHome(home), texts)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return c, home, nil
}

// Account reads one account's state.
func (s *Store) Account(ctx context.Context, id string) (*scoring.Account, error) {
	raw, err := s.rdb.HGet(ctx, s.HomeKey(scoring.HomeID(id, "")), fieldAccount).Result()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("account %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("account %q: %w", id, err)
	}
	return DecodeAccount([]byte(raw), id)
}

// MergedError says a contact was merged into another, whose history
// holds its own.
type MergedError struct{ Contact, Into string }

func (e *MergedError) Error() string {
	return fmt.Sprintf("contact %q was merged into %q", e.Contact, e.Into)
}

// History reads a contact's ledger, newest first: at most limit lines of
// those retention keeps (see retain). The ledgers of the contacts merged
// into it (scoring.Contact.Merged) are part of it: their lines, with
// their own ContactID, go in by time.
func (s *Store) History(ctx context.Context, contactID string, limit int) ([]scoring.Entry, error) {
	c, home, err := s.Contact(ctx, contactID)
	if err != nil {
		return nil, fmt.Errorf("history of %q: %w", contactID, err)
	}
	if c.MergedInto != "" {
		return nil, &MergedError{Contact: contactID, Into: c.MergedInto}
	}
	refs := map[string]ledgerRef{contactID: {key: s.ledgerKey(home, contactID), contact: contactID}}
	if len(c.Merged) > 0 {
		homes, err := s.IndexedHomes(ctx, c.Merged)
		if err != nil {
			return nil, fmt.Errorf("history of %q: %w", contactID, err)
		}
		for id, h := range homes {
			refs[id] = ledgerRef{key: s.ledgerKey(h, id), contact: id}
		}
	}
	got, err := s.readStored(ctx, refs)
	if err != nil {
		return nil, fmt.Errorf("history of %q: %w", contactID, err)
	}
	out, err := s.newest(ctx, contactID, got[contactID], limit)
	if err != nil {
		return nil, fmt.Errorf("history of %q: %w", contactID, err)
	}
	for _, id := range c.Merged {
		st, ok := got[id]
		if !ok {
			continue
		}
		theirs, err := s.newest(ctx, id, st, limit)
		if err != nil {
			return nil, fmt.Errorf("history of %q: %w", contactID, err)
		}
		out = newestFirst(out, theirs, limit)
	}
	return out, nil
}

// newest unpacks the newest limit lines of one stored ledger that
// retention keeps, newest first.
func (s *Store) newest(ctx context.Context, contactID string, st stored, limit int) ([]scoring.Entry, error) {
	if st.legacy != nil {
		// Stored as a list, before lines were packed: retention by count
		// and age as for packed lines.
		times := make([]rawLine, len(st.legacy))
		for i := range st.legacy {
			times[i].time = st.legacy[i].Time
		}
		kept := st.legacy[len(st.legacy)-len(retain(times, s.LedgerMax, s.LedgerMaxAge)):]
		out := make([]scoring.Entry, 0, min(limit, len(kept)))
		for i := len(kept) - 1; i >= 0 && len(out) < limit; i-- {
			out = append(out, kept[i])
		}
		return out, nil
	}
	lines := retain(st.lines, s.LedgerMax, s.LedgerMaxAge)
	if len(lines) > limit {
		lines = lines[len(lines)-limit:]
	}
	return s.unpackLines(ctx, contactID, lines)
}

// newestFirst merges two histories, each newest first, into the newest
// limit lines; on equal times, a's lines come first (newer).
func newestFirst(a, b []scoring.Entry, limit int) []scoring.Entry {
	out := make([]scoring.Entry, 0, min(limit, len(a)+len(b)))
	for len(out) < limit && (len(a) > 0 || len(b) > 0) {
		if len(b) == 0 || len(a) > 0 && a[0].Time >= b[0].Time {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return out
}

// Ranked is one leaderboard row.
type Ranked struct {
	ID    string `json:"id"`
	Score int64  `json:"score"`
}

// Leaderboard returns the top contacts or accounts ("contact" or "account").
func (s *Store) Leaderboard(ctx context.Context, by string, limit int) ([]Ranked, error) {
	zs, err := s.rdb.ZRevRangeWithScores(ctx, s.LeaderboardKey(by), 0, int64(limit)-1).Result()
	if err != nil {
		return nil, fmt.Errorf("leaderboard %s: %w", by, err)
	}
	out := make([]Ranked, 0, len(zs))
	for _, z := range zs {
		out = append(out, Ranked{ID: z.Member.(string), Score: int64(z.Score)})
	}
	return out, nil
}

// A leaderboard holds the top of what belongs on it, trimmed, and a
// contact that is left out (trimmed, or not written because it was below
// the board's lowest score) keeps its place outside it; a member whose
// score falls can then sink below contacts that are not on the board, and
// a board that a member left has room that nothing fills until those
// contacts are written again. So no board says by its size or its lowest
// score where it stops being exact: each keeps a lost mark (see rank.lua),
// the highest place, in the board's order, of anything that belongs on it
// and may not be on it. Above its mark a board holds everything that
// belongs on it, at the scores last written; a board without a mark has
// lost nothing.

// Lost is a leaderboard's lost mark, and whether it has one (see above).
func (s *Store) Lost(ctx context.Context, by string) (Ranked, bool, error) {
	zs, err := s.rdb.ZRangeWithScores(ctx, s.lostKey(by), 0, 0).Result()
	if err != nil {
		return Ranked{}, false, fmt.Errorf("lost mark of %s: %w", by, err)
	}
	if len(zs) == 0 {
		return Ranked{}, false, nil
	}
	return Ranked{ID: zs[0].Member.(string), Score: int64(zs[0].Score)}, true, nil
}

// above reports whether r comes before o on a leaderboard: a higher score,
// or the same score and a greater id (Redis orders equal scores by id, and
// a board is read from its top).
func (r Ranked) above(o Ranked) bool {
	return r.Score > o.Score || r.Score == o.Score && r.ID > o.ID
}

// Ping reports whether Redis answers.
func (s *Store) Ping(ctx context.Context) error { return s.rdb.Ping(ctx).Err() }
