package store

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/leadscore/leads/pkg/scoring"
)

var (
	//go:embed walk.lua
	walkLua    string
	walkScript = redis.NewScript(walkLua)
)

// Matching is a page of the contacts that pass every filter of a Filtered
// read, by score.
type Matching struct {
	Items []Ranked
	// Complete says Items are every contact that passes, from the start
	// (the top, or after the place asked for) down to the last item: the
	// first of them, as many as asked for, or all of them. When it is
	// false Items are every contact that passes down to Next or to
	// IndexedTo, and more may follow.
	Complete bool
	// Scanned counts the board entries read.
	Scanned int
	// Next is where the following page starts (after it): the last item
	// of a full page, or the last entry read when the scan limit cut the
	// walk short. Nil when nothing can follow.
	Next *Ranked
	// IndexedTo, when set, is where every board that could answer stops
	// being exact (its lost mark): contacts that pass may be further down,
	// and no board says which. Items are complete above it.
	IndexedTo *Ranked
}

// place is a position on a leaderboard: walks go on after it, or from it
// when incl.
type place struct {
	at   Ranked
	top  bool
	incl bool
}

// exactAfter reports whether a board with the lost mark m (nil: none)
// holds everything that belongs on it from where a walk from p goes on.
func (p place) exactAfter(m *Ranked) bool {
	return m == nil || p.top || p.at.above(*m)
}

// walkChunk is how many entries a walk reads at once at most.
const walkChunk = 512

// Filtered reads the contacts that pass every filter (at most one for
// each field), by score, from the top or after a place, up to limit of
// them and reading at most scan board entries. The contact leaderboard
// and the filtered boards of the filters are each exact above their lost
// marks: the walk reads, in turn for each stretch between marks, whichever
// of the boards exact there holds the fewest entries, and checks each
// entry against the filters the board does not imply, on the contact's
// own state. Where every board has lost something, the walk stops
// (IndexedTo); contacts are never scanned beyond the boards.
func (s *Store) Filtered(ctx context.Context, filters []Filter, limit int, after *Ranked, scan int) (*Matching, error) {
	boards := []string{"contact"}
	for _, f := range filters {
		boards = append(boards, f.Board())
	}
	marks := make([]*Ranked, len(boards))
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.ZSliceCmd, len(boards))
	for i, b := range boards {
		cmds[i] = pipe.ZRangeWithScores(ctx, s.lostKey(b), 0, 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("lost marks: %w", err)
	}
	for i, c := range cmds {
		if zs := c.Val(); len(zs) == 1 {
			marks[i] = &Ranked{ID: zs[0].Member.(string), Score: int64(zs[0].Score)}
		}
	}
	out := &Matching{Items: []Ranked{}}
	p := place{top: true}
	if after != nil {
		p = place{at: *after}
	}
	for {
		// The boards exact just after p, and where the first of them
		// stops being exact.
		var exact []int
		var end *Ranked
		for i, m := range marks {
			if !p.exactAfter(m) {
				continue
			}
			exact = append(exact, i)
			if m != nil && (end == nil || m.above(*end)) {
				end = m
			}
		}
		if len(exact) == 0 {
			at := p.at
			out.IndexedTo = &at
			return out, nil
		}
		b, err := s.thinnest(ctx, boards, exact, p, end)
		if err != nil {
			return nil, err
		}
		// Filters other than the board's own are checked on the state.
		var check []Filter
		for _, f := range filters {
			if b == 0 || f.Board() != boards[b] {
				check = append(check, f)
			}
		}
		chunk := 0
		for {
			// Without checks every entry is an item; with them, chunks
			// grow from twice what is missing, as items prove rare.
			n := limit - len(out.Items)
			if len(check) > 0 {
				chunk = min(walkChunk, max(chunk*2, 2*n, 32))
				n = chunk
			}
			n = min(n, scan-out.Scanned)
			got, err := s.walk(ctx, boards[b], p, end, n)
			if err != nil {
				return nil, err
			}
			if len(got) == 0 {
				break
			}
			out.Scanned += len(got)
			pass, err := s.passing(ctx, got, check)
			if err != nil {
				return nil, err
			}
			for i, r := range got {
				if !pass[i] {
					continue
				}
				out.Items = append(out.Items, r)
				if len(out.Items) == limit {
					out.Complete, out.Next = true, &r
					return out, nil
				}
			}
			last := got[len(got)-1]
			p = place{at: last}
			if out.Scanned >= scan {
				out.Next = &last
				return out, nil
			}
		}
		if end == nil {
			out.Complete = true
			return out, nil
		}
		// The next board goes on from the mark, which this one did not
		// hold for sure.
		p = place{at: *end, incl: true}
	}
}

// thinnest is the one of the exact boards that holds the fewest entries
// between p and end (a guess by score: ties are not counted apart).
func (s *Store) thinnest(ctx context.Context, boards []string, exact []int, p place, end *Ranked) (int, error) {
	if len(exact) == 1 {
		return exact[0], nil
	}
	lo, hi := "-inf", "+inf"
	if end != nil {
		lo = strconv.FormatInt(end.Score, 10)
	}
	if !p.top {
		hi = strconv.FormatInt(p.at.Score, 10)
	}
	pipe := s.rdb.Pipeline()
	counts := make([]*redis.IntCmd, len(exact))
	for i, b := range exact {
		counts[i] = pipe.ZCount(ctx, s.LeaderboardKey(boards[b]), lo, hi)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, fmt.Errorf("count board entries: %w", err)
	}
	best := 0
	for i := range exact {
		if counts[i].Val() < counts[best].Val() {
			best = i
		}
	}
	return exact[best], nil
}

// walk reads up to n entries of a board after p and above end (see
// walk.lua).
func (s *Store) walk(ctx context.Context, by string, p place, end *Ranked, n int) ([]Ranked, error) {
	args := []any{"", "", "0", "", "", n}
	if !p.top {
		args[0], args[1] = p.at.Score, p.at.ID
		if p.incl {
			args[2] = "1"
		}
	}
	if end != nil {
		args[3], args[4] = end.Score, end.ID
	}
	var cmd *redis.Cmd
	err := s.runScript(ctx, walkScript, "read leaderboard "+by, func(pipe redis.Pipeliner) {
		cmd = walkScript.EvalSha(ctx, pipe, []string{s.LeaderboardKey(by)}, args...)
	})
	if err != nil {
		return nil, err
	}
	flat, err := cmd.StringSlice()
	if err != nil {
		return nil, fmt.Errorf("read leaderboard %s: %w", by, err)
	}
	out := make([]Ranked, 0, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		score, err := strconv.ParseFloat(flat[i+1], 64)
		if err != nil {
			return nil, fmt.Errorf("read leaderboard %s: score %q: %w", by, flat[i+1], err)
		}
		out = append(out, Ranked{ID: flat[i], Score: int64(score)})
	}
	return out, nil
}

// passing reports, for each entry, whether its contact passes every
// filter, as its state now says: two pipelined reads (the contact index,
// then the homes). A contact gone since the board was written passes
// nothing.
func (s *Store) passing(ctx context.Context, got []Ranked, filters []Filter) ([]bool, error) {
	pass := make([]bool, len(got))
	if len(filters) == 0 {
		for i := range pass {
			pass[i] = true
		}
		return pass, nil
	}
	ids := make([]string, len(got))
	for i, r := range got {
		ids[i] = r.ID
	}
	homes, err := s.IndexedHomes(ctx, ids)
	if err != nil {
		return nil, err
	}
	pipe := s.rdb.Pipeline()
	raw := make([]*redis.StringCmd, len(ids))
	for i, id := range ids {
		if h, ok := homes[id]; ok {
			raw[i] = pipe.HGet(ctx, s.HomeKey(h), prefixContact+id)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read contacts: %w", err)
	}
	for i, id := range ids {
		if raw[i] == nil || raw[i].Err() != nil {
			continue
		}
		c, err := DecodeContact([]byte(raw[i].Val()), id, scoring.AccountOfHome(homes[id]))
		if err != nil {
			return nil, err
		}
		pass[i] = passes(c, filters)
	}
	return pass, nil
}

// passes reports whether c has every filter's value.
func passes(c *scoring.Contact, filters []Filter) bool {
	has := ContactFilters(c)
	for _, f := range filters {
		if !slices.Contains(has, f) {
			return false
		}
	}
	return true
}
