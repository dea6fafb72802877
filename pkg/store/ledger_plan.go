package store

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/redis/go-redis/v9"

	"github.com/leadscore/leads/pkg/parallel"
	"github.com/leadscore/leads/pkg/scoring"
)

// errLedgerAstray: a ledger's size is not what its contact's tail says, so
// lines appended to it would not read right. Only a writer that does not
// keep tails (code from before packed ledgers) leaves one so.
var errLedgerAstray = errors.New("ledger does not end where its contact's state says")

// Ledger writes.
const (
	opAppend  = iota // append data if the ledger is expect bytes long
	opReplace        // the ledger is data
	opDelete
)

// longLedger is the size in bytes from which commit.lua appends to a
// ledger without reading it (op 'A'). Reading a ledger into the script
// costs about 4 ns of redis-server a byte; APPEND and a COPY cost about a
// microsecond more than reading a short one (`-bench CommitAll`: ledgers
// of up to 500 bytes read, 5.0–5.7 µs a contact either way; of 582 bytes,
// 6.6–6.9 appended against 8.0–8.3 read; of 5,323 bytes, 7.8–8.5 against
// 27.4–29.3).
const longLedger = 256

type ledgerWrite struct {
	contact string
	op      int
	expect  int
	data    []byte
}

// ledgerPlan is what one commit writes to its contacts' ledgers, and the
// tails their states then keep.
type ledgerPlan struct {
	writes []ledgerWrite
	tails  map[string]ledgerTail
}

// done records the committed tails in the home's metadata, so a caller that
// commits again without loading (a benchmark) appends where it should.
func (p *ledgerPlan) done(m *Meta) {
	if m.tails == nil {
		m.tails = make(map[string]ledgerTail, len(p.tails))
	}
	for c, t := range p.tails {
		m.tails[c] = t
	}
	for _, w := range p.writes {
		if _, ok := p.tails[w.contact]; !ok {
			delete(m.tails, w.contact)
		}
	}
}

// planLedgers packs each commit's new lines and decides how each ledger is
// written: appended to where its tail says it ends, or, when that is not
// known (a ledger stored as a list, or by a caller that did not load the
// contact), when a moving contact brings one, or when it has outgrown
// retention, read, rewritten whole and kept within retention. The ledgers
// to read are read in one pipeline for all commits.
func (s *Store) planLedgers(ctx context.Context, commits []Commit) ([]*ledgerPlan, error) {
	plans := make([]*ledgerPlan, len(commits))
	// Number every label first, in one call.
	texts := map[string]uint32{}
	preps := make([][]prepared, len(commits))
	for i := range commits {
		ledger := commits[i].Home.Ledger
		preps[i] = make([]prepared, len(ledger))
		for j := range ledger {
			preps[i][j] = prepare(&ledger[j], ledger[j].ContactID)
			preps[i][j].note(texts)
		}
	}
	if err := s.intern(ctx, texts); err != nil {
		return nil, err
	}
	type pending struct {
		plan    int
		contact string
		fresh   []rawLine
		base    []rawLine // the carried ledger
	}
	// Each commit's plan on its own (in parallel: packing lines is most
	// of a commit's CPU), with the ledgers it has to read and rewrite.
	rewrites := make([][]pending, len(commits))
	reads := make([][]ledgerRef, len(commits))
	err := parallel.Each(len(commits), func(i int) error {
		cm := &commits[i]
		h := cm.Home
		p := &ledgerPlan{tails: map[string]ledgerTail{}}
		plans[i] = p
		removed := map[string]bool{}
		for _, id := range h.Removed {
			removed[id] = true
		}
		// Each contact's lines, as indexes in the home's ledger.
		byContact := map[string][]int{}
		var order []string
		for j, l := range h.Ledger {
			if removed[l.ContactID] {
				continue
			}
			if _, ok := byContact[l.ContactID]; !ok {
				order = append(order, l.ContactID)
			}
			byContact[l.ContactID] = append(byContact[l.ContactID], j)
		}
		for id := range cm.Carry {
			if _, ok := byContact[id]; !ok && !removed[id] {
				order = append(order, id)
				byContact[id] = nil
			}
		}
		var tails map[string]ledgerTail
		if cm.Meta != nil {
			tails = cm.Meta.tails
		}
		for id := range h.Contacts {
			if t, ok := tails[id]; ok {
				p.tails[id] = t
			}
		}
		for _, id := range order {
			fresh := packSome(h.Ledger, preps[i], byContact[id], texts)
			t, known := tails[id]
			switch carried := cm.Carry[id]; {
			case len(carried) > 0:
				var base []rawLine
				for _, b := range carried {
					ls, _, err := decodeLines([]byte(b))
					if err != nil {
						return &HomeError{Home: h.ID, Err: fmt.Errorf("ledger carried by %s: %w", id, err)}
					}
					base = append(base, ls...)
				}
				rewrites[i] = append(rewrites[i], pending{plan: i, contact: id, fresh: fresh, base: base})
			case known && !overdue(t, len(fresh), fresh[len(fresh)-1].time, s.LedgerMax, s.LedgerMaxAge):
				data, nt := appendLines(nil, t, fresh)
				p.writes = append(p.writes, ledgerWrite{contact: id, op: opAppend, expect: t.size, data: data})
				p.tails[id] = nt
			case known && t.lines == 0:
				rewrites[i] = append(rewrites[i], pending{plan: i, contact: id, fresh: fresh})
			default:
				reads[i] = append(reads[i], ledgerRef{key: s.ledgerKey(h.ID, id), contact: id})
				rewrites[i] = append(rewrites[i], pending{plan: i, contact: id, fresh: fresh})
			}
		}
		for _, id := range h.Removed {
			p.writes = append(p.writes, ledgerWrite{contact: id, op: opDelete})
			delete(p.tails, id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	rewrite := slices.Concat(rewrites...)
	toRead := map[string]ledgerRef{}
	for i, refs := range reads {
		for _, r := range refs {
			toRead[r.contact+"\x00"+commits[i].Home.ID] = r
		}
	}
	stored, err := s.readLedgers(ctx, toRead)
	if err != nil {
		return nil, fmt.Errorf("read ledgers to rewrite: %w", err)
	}
	for _, r := range rewrite {
		home := commits[r.plan].Home.ID
		lines := append(append(r.base, stored[r.contact+"\x00"+home]...), r.fresh...)
		lines = retain(lines, s.LedgerMax, s.LedgerMaxAge)
		p := plans[r.plan]
		if len(lines) == 0 {
			p.writes = append(p.writes, ledgerWrite{contact: r.contact, op: opDelete})
			p.tails[r.contact] = ledgerTail{}
			continue
		}
		data, t := appendLines(nil, ledgerTail{}, lines)
		p.writes = append(p.writes, ledgerWrite{contact: r.contact, op: opReplace, data: data})
		p.tails[r.contact] = t
	}
	return plans, nil
}

// ledgerRef names a contact's ledger.
type ledgerRef struct{ key, contact string }

// stored is a ledger as read: packed lines, or the entries of a list
// written before lines were packed, both oldest first.
type stored struct {
	lines  []rawLine
	legacy []scoring.Entry
}

// readStored reads ledgers in one pipeline; a missing ledger is empty.
func (s *Store) readStored(ctx context.Context, keys map[string]ledgerRef) (map[string]stored, error) {
	out := make(map[string]stored, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	pipe := s.rdb.Pipeline()
	type read struct {
		packed *redis.StringCmd
		list   *redis.StringSliceCmd
	}
	reads := make(map[string]read, len(keys))
	for name, k := range keys {
		reads[name] = read{pipe.Get(ctx, k.key), pipe.LRange(ctx, k.key, 0, -1)}
	}
	_, _ = pipe.Exec(ctx) // one of each pair meets a key of the other type
	for name, r := range reads {
		packed, perr := r.packed.Bytes()
		list, lerr := r.list.Result()
		var st stored
		switch {
		case perr == nil:
			var err error
			if st.lines, _, err = decodeLines(packed); err != nil {
				return nil, fmt.Errorf("%s: %w", keys[name].key, err)
			}
		case lerr == nil && len(list) > 0:
			st.legacy = make([]scoring.Entry, len(list))
			for i, raw := range list {
				e := &st.legacy[len(list)-1-i]
				if err := decodeEntry([]byte(raw), e); err != nil {
					return nil, fmt.Errorf("%s: %w", keys[name].key, err)
				}
				e.ContactID = keys[name].contact
			}
		case errors.Is(perr, redis.Nil) && lerr == nil:
		case lerr != nil && !refuses(lerr):
			return nil, lerr
		default:
			return nil, perr
		}
		out[name] = st
	}
	return out, nil
}

// readLedgers reads ledgers as lines, packing those stored as lists.
func (s *Store) readLedgers(ctx context.Context, keys map[string]ledgerRef) (map[string][]rawLine, error) {
	got, err := s.readStored(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]rawLine, len(got))
	for name, st := range got {
		if st.legacy != nil {
			if st.lines, err = s.packEntries(ctx, keys[name].contact, st.legacy); err != nil {
				return nil, err
			}
		}
		out[name] = st.lines
	}
	return out, nil
}
