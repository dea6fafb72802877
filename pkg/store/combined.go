package store

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/leadscore/leads/pkg/scoring"
)

var (
	//go:embed walk.lua
	walkLua    string
	walkScript = redis.NewScript(beforeLua + walkLua)
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

// source is what a filtered walk reads in score order: one board, whose
// entries are checked against the filters it does not imply, or the cells
// of the filters merged (see CellOf), which need no check. It is exact
// above its mark (nil: everywhere): a board's lost mark, or the highest
// of the cells'.
type source struct {
	boards []string
	check  []Filter
	mark   *Ranked
	// rank orders the sources exact at a place: a filter's own board
	// first (one key, no check), then the cells, then boards that need
	// checks, the thinnest first.
	rank int
}

// Filtered reads the contacts that pass every filter (at most one for
// each field), by score, from the top or after a place, up to limit of
// them and reading at most about scan board entries. It reads, in turn
// for each stretch between the lost marks of its sources, one source that
// is exact there: a single filter's board, else the cells that have every
// filter's value, else the contact leaderboard or a filter's board, each
// entry checked on the contact's own state. Where no source is exact any
// more the walk stops (IndexedTo); contacts are never scanned beyond the
// boards.
func (s *Store) Filtered(ctx context.Context, filters []Filter, limit int, after *Ranked, scan int) (*Matching, error) {
	srcs, err := s.sources(ctx, filters)
	if err != nil {
		return nil, err
	}
	out := &Matching{Items: []Ranked{}}
	p := place{top: true}
	if after != nil {
		p = place{at: *after}
	}
	for {
		// The sources exact just after p, and where the first of them
		// stops being exact.
		var exact []*source
		var end *Ranked
		for i := range srcs {
			m := srcs[i].mark
			if !p.exactAfter(m) {
				continue
			}
			exact = append(exact, &srcs[i])
			if m != nil && (end == nil || m.above(*end)) {
				end = m
			}
		}
		if len(exact) == 0 {
			at := p.at
			out.IndexedTo = &at
			return out, nil
		}
		src, err := s.pick(ctx, exact, p, end)
		if err != nil {
			return nil, err
		}
		chunk := 0
		for {
			// Without checks every entry is an item; with them, chunks
			// grow from twice what is missing, as items prove rare.
			n := limit - len(out.Items)
			if len(src.check) > 0 {
				chunk = min(walkChunk, max(chunk*2, 2*n, 32))
				n = chunk
			}
			n = min(n, scan-out.Scanned)
			got, read, err := s.read(ctx, src.boards, p, end, n)
			if err != nil {
				return nil, err
			}
			if len(got) == 0 {
				break
			}
			out.Scanned += read
			pass, err := s.passing(ctx, got, src.check)
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
			if len(got) < n {
				break // the source holds no more above end
			}
		}
		if end == nil {
			out.Complete = true
			return out, nil
		}
		// The next source goes on from the mark, which this one did not
		// hold for sure.
		p = place{at: *end, incl: true}
	}
}

// sources are the sources of a filtered read (see source), with their
// marks: two round trips, the set of cells then the marks.
func (s *Store) sources(ctx context.Context, filters []Filter) ([]source, error) {
	names, err := s.rdb.SMembers(ctx, s.cellsKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("read cells: %w", err)
	}
	// A cell has a filter when its name has the filter's part (see
	// cellOf).
	parts := make([]string, len(filters))
	for i, f := range filters {
		parts[i] = f.Field + "=" + url.QueryEscape(f.Value)
	}
	var cells []string
	for _, name := range names {
		has := func(part string) bool {
			for p := range strings.SplitSeq(name, "&") {
				if p == part {
					return true
				}
			}
			return false
		}
		if !slices.ContainsFunc(parts, func(p string) bool { return !has(p) }) {
			cells = append(cells, Filter{Field: filterCell, Value: name}.Board())
		}
	}
	srcs := []source{{boards: []string{"contact"}, check: filters, rank: 2}}
	for _, f := range filters {
		src := source{boards: []string{f.Board()}}
		for _, g := range filters {
			if g != f {
				src.check = append(src.check, g)
			}
		}
		if len(src.check) > 0 {
			src.rank = 2
		}
		srcs = append(srcs, src)
	}
	// No cell has them all: the cells say so, exactly.
	srcs = append(srcs, source{boards: cells, rank: 1})
	pipe := s.rdb.Pipeline()
	var marks []*redis.ZSliceCmd
	for _, src := range srcs {
		for _, b := range src.boards {
			marks = append(marks, pipe.ZRangeWithScores(ctx, s.lostKey(b), 0, 0))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("lost marks: %w", err)
	}
	for i := range srcs {
		for range srcs[i].boards {
			zs := marks[0].Val()
			marks = marks[1:]
			if len(zs) == 0 {
				continue
			}
			m := Ranked{ID: zs[0].Member.(string), Score: int64(zs[0].Score)}
			if srcs[i].mark == nil || m.above(*srcs[i].mark) {
				srcs[i].mark = &m
			}
		}
	}
	return srcs, nil
}

// pick is the exact source to read from p to end (see source.rank);
// among boards that need checks, the one that holds the fewest entries
// there (a guess by score: ties are not counted apart).
func (s *Store) pick(ctx context.Context, exact []*source, p place, end *Ranked) (*source, error) {
	best := slices.MinFunc(exact, func(a, b *source) int { return a.rank - b.rank })
	var thick []*source
	for _, src := range exact {
		if src.rank == best.rank {
			thick = append(thick, src)
		}
	}
	if best.rank < 2 || len(thick) == 1 {
		return best, nil
	}
	lo, hi := "-inf", "+inf"
	if end != nil {
		lo = strconv.FormatInt(end.Score, 10)
	}
	if !p.top {
		hi = strconv.FormatInt(p.at.Score, 10)
	}
	pipe := s.rdb.Pipeline()
	counts := make([]*redis.IntCmd, len(thick))
	for i, src := range thick {
		counts[i] = pipe.ZCount(ctx, s.LeaderboardKey(src.boards[0]), lo, hi)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("count board entries: %w", err)
	}
	i := 0
	for j := range thick {
		if counts[j].Val() < counts[i].Val() {
			i = j
		}
	}
	return thick[i], nil
}

// read reads up to n entries after p and above end, in order, of one
// board or of several merged, and says how many entries it read. Each
// board of a merge is read a chunk at a time, from a share of n that
// doubles as a board proves to hold the top entries, so that a merge of
// many boards reads about n entries, not n of each.
func (s *Store) read(ctx context.Context, boards []string, p place, end *Ranked, n int) ([]Ranked, int, error) {
	type cursor struct {
		board string
		at    place
		buf   []Ranked
		done  bool
		chunk int
	}
	curs := make([]*cursor, len(boards))
	for i, b := range boards {
		curs[i] = &cursor{board: b, at: p, chunk: min(n, max(8, 2*n/len(boards)))}
	}
	var out []Ranked
	read := 0
	for len(out) < n {
		var empty []*cursor
		for _, c := range curs {
			if len(c.buf) == 0 && !c.done {
				empty = append(empty, c)
			}
		}
		if len(empty) > 0 {
			cmds := make([]*redis.Cmd, len(empty))
			err := s.runScript(ctx, walkScript, "read leaderboards", func(pipe redis.Pipeliner) {
				for i, c := range empty {
					cmds[i] = s.queueWalk(ctx, pipe, c.board, c.at, end, c.chunk)
				}
			})
			if err != nil {
				return nil, 0, err
			}
			for i, c := range empty {
				got, err := walked(c.board, cmds[i])
				if err != nil {
					return nil, 0, err
				}
				read += len(got)
				c.buf, c.done = got, len(got) < c.chunk
				c.chunk = min(2*c.chunk, walkChunk)
				if len(got) > 0 {
					c.at = place{at: got[len(got)-1]}
				}
			}
		}
		// The highest head, while every board that may hold more has
		// entries in hand.
		for len(out) < n {
			var top *cursor
			for _, c := range curs {
				if len(c.buf) == 0 {
					if !c.done {
						top = nil
						break
					}
					continue
				}
				if top == nil || c.buf[0].above(top.buf[0]) {
					top = c
				}
			}
			if top == nil {
				break
			}
			out = append(out, top.buf[0])
			top.buf = top.buf[1:]
		}
		if !slices.ContainsFunc(curs, func(c *cursor) bool { return !c.done || len(c.buf) > 0 }) {
			break
		}
	}
	return out, read, nil
}

// queueWalk queues the read of up to n entries of a board after p and
// above end (see walk.lua).
func (s *Store) queueWalk(ctx context.Context, pipe redis.Pipeliner, by string, p place, end *Ranked, n int) *redis.Cmd {
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
	return walkScript.EvalSha(ctx, pipe, []string{s.LeaderboardKey(by)}, args...)
}

// walked is the answer of a queued walk.
func walked(by string, cmd *redis.Cmd) ([]Ranked, error) {
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
	checked := s.texts.checkEpoch(ctx, pipe, s.textsKey()) // see Load
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read contacts: %w", err)
	}
	checked()
	for i, id := range ids {
		if raw[i] == nil || raw[i].Err() != nil {
			continue
		}
		var c *scoring.Contact
		err := s.withTexts(ctx, func(texts *textReader) (err error) {
			c, err = decodeStored([]byte(raw[i].Val()), id, scoring.AccountOfHome(homes[id]), texts)
			return err
		})
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
