package commit

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
)

// MaxRedos is how often in a row a batch is loaded and applied again at
// once after a conflict (store.ErrConflict) or a home it lacked
// (MissingError). A conflict is another writer's commit between a load and
// the commit, and reloading cures it; when it keeps coming back (writers
// contending for the same homes, a zombie after a rebalance), Cycle fails
// instead, and the callers' retry loops back off, warn and turn readiness
// off, rather than reloading from Redis without pause or notice.
const MaxRedos = 20

// Batch is the homes a batch works on, as loaded, and what it did to them.
type Batch struct {
	WS *scoring.Workspace
	// Where is the contact index as loaded, so only new or moved contacts
	// are re-indexed.
	Where map[string]string
	// Metas are the loaded homes' versions, watermarks and outboxes.
	Metas map[string]*store.Meta
	// Before holds every loaded contact as it was in Redis, by home, for
	// the report counters (report.Diff).
	Before map[string]map[string]*scoring.Contact
	// Applied are the highest offsets applied per home and partition.
	Applied map[string]map[int32]int64
	// Emails are the addresses the batch's events gave contacts, as
	// store.EmailHash → contact, for the email lookup.
	Emails map[string]string
	// Redone are contacts of events the batch found applied before (by
	// their home's watermark): the run that applied them may have died
	// before writing their derived keys, so all of those are written,
	// their due index entries included (see Committer.KeepEarlierDue).
	Redone map[string]bool
	// Committed, when set, is given the post as soon as Commit has
	// committed the homes, before it writes the derived keys, so that the
	// transitions are published while those are written. Whoever it is
	// given to delivers it and then calls Post.Settled; Cycle does not
	// deliver it, and waits for it before redoing the batch.
	Committed func(*Post)
	// Derived, when set, is given the derived keys of the homes Commit
	// committed instead of Commit writing them, so that the next batch
	// can be loaded while they are written. Whoever it is given to writes
	// them (Store.WriteDerived) in batch order, before the batch's offsets
	// are committed. Their index entries are not among them: Commit
	// writes those first, so the next batch reads them from Redis.
	Derived func(*Unwritten)
}

// Plan says which homes a batch needs, given a workspace that knows where
// the batch's contacts live: each home with the contacts and watermarks to
// read.
type Plan func(ws *scoring.Workspace) map[string]*store.Request

// Needs are what the tries of a batch found they lacked (a MissingError):
// homes to load whole, and contacts to locate and load.
type Needs struct {
	Whole  map[string]bool
	Locate map[string]bool
}

// Load starts a batch: it reads where contacts live from the contact index,
// then the homes plan asks for, whole every home need says (those a
// previous try lacked), and the homes of the contacts need locates. The
// workspace has no Loader: a home it lacks is noted in Workspace.Missing,
// a contact it cannot place in Workspace.Unlocated, and Commit refuses it.
func (c *Committer) Load(ctx context.Context, contacts []string, plan Plan, need *Needs) (*Batch, error) {
	if need == nil {
		need = &Needs{}
	}
	contacts = slices.AppendSeq(slices.Clone(contacts), maps.Keys(need.Locate))
	slices.Sort(contacts)
	contacts = slices.Compact(contacts)
	where, err := c.Store.IndexedHomes(ctx, contacts)
	if err != nil {
		return nil, err
	}
	ws := scoring.NewWorkspace(c.Engine, nil)
	// Sized for the batch: they grow to about as many contacts.
	ws.Where, ws.Touched = make(map[string]string, len(contacts)), make(map[string]bool, len(contacts))
	ws.Asked(contacts...)
	for contact, home := range where {
		ws.Locate(contact, home)
	}
	reqs := map[string]*store.Request{}
	if plan != nil {
		reqs = plan(ws)
	}
	for contact := range need.Locate {
		if home, ok := where[contact]; ok {
			if reqs[home] == nil {
				reqs[home] = &store.Request{}
			}
			reqs[home].Contacts = append(reqs[home].Contacts, contact)
		}
	}
	for home := range need.Whole {
		reqs[home] = &store.Request{All: true}
	}
	for _, r := range reqs {
		r.Contacts = slices.Compact(slices.Sorted(slices.Values(r.Contacts)))
		r.Partitions = slices.Compact(slices.Sorted(slices.Values(r.Partitions)))
	}
	homes, metas, err := c.Store.Load(ctx, reqs)
	if err != nil {
		return nil, err
	}
	b := &Batch{WS: ws, Where: where, Metas: metas, Before: make(map[string]map[string]*scoring.Contact, len(homes)),
		Applied: map[string]map[int32]int64{}}
	if len(ws.Homes) == 0 {
		ws.Homes = make(map[string]*scoring.Home, len(homes))
	}
	for id, h := range homes {
		before := make(map[string]*scoring.Contact, len(h.Contacts))
		for cid, ct := range h.Contacts {
			before[cid] = ct.Clone()
		}
		b.Before[id] = before
		ws.Put(h)
	}
	return b, nil
}

// MissingError says which homes a batch needed whole and did not load (an
// account change refreshed on every member, a move finished), and which
// contacts it needed and could not place (a merged contact's heir):
// nothing was committed, and the next try loads them.
type MissingError struct{ Homes, Contacts []string }

func (e *MissingError) Error() string {
	var parts []string
	if len(e.Homes) > 0 {
		parts = append(parts, "homes needed whole and not loaded: "+strings.Join(e.Homes, ", "))
	}
	if len(e.Contacts) > 0 {
		parts = append(parts, "contacts needed and not located: "+strings.Join(e.Contacts, ", "))
	}
	return strings.Join(parts, "; ")
}

// Cycle runs a batch's write cycle: try loads the homes (Load, with need),
// applies the batch and commits it (Commit). A try that committed part of
// the batch before failing has its post delivered at once, since the
// homes it committed hold this committer's entries, which it leaves to
// that post. After a conflict the batch is loaded and applied again (its
// committed part is skipped by the watermarks), and after a MissingError
// with those homes whole and those contacts located, up to MaxRedos times. The post of the try that
// committed everything is returned, not delivered: the caller delivers it
// (Deliver) when it likes.
func (c *Committer) Cycle(ctx context.Context, try func(need *Needs) (*Post, error),
	deliver func(context.Context, *Post) error) (*Post, error) {
	need := &Needs{Whole: map[string]bool{}, Locate: map[string]bool{}}
	for redo := 0; ; redo++ {
		p, err := try(need)
		if err == nil {
			return p, nil
		}
		switch {
		case p.Handed():
			select {
			case <-p.handed:
			case <-ctx.Done():
				return nil, errors.Join(err, ctx.Err())
			}
		case p != nil:
			if derr := deliver(ctx, p); derr != nil {
				c.newWriter()
				return nil, errors.Join(err, derr)
			}
		}
		var missing *MissingError
		switch {
		case errors.As(err, &missing):
			for _, h := range missing.Homes {
				need.Whole[h] = true
			}
			for _, id := range missing.Contacts {
				need.Locate[id] = true
			}
		case !errors.Is(err, store.ErrConflict):
			return nil, err
		}
		if redo >= MaxRedos {
			return nil, fmt.Errorf("batch redone %d times: %w", redo, err)
		}
	}
}
