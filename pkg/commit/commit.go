package commit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/leadscore/leads/pkg/failpoint"
	"github.com/leadscore/leads/pkg/report"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/stream"
	"github.com/leadscore/leads/pkg/transition"
)

// Sink publishes records and returns once they are durable.
type Sink interface {
	Publish(ctx context.Context, recs ...stream.Record) error
}

// Committer runs the write cycle of a batch (see Cycle): it loads the
// homes (Load), commits them to Redis with their new crossings in their
// outboxes (Commit), then publishes the crossings and clears the outboxes
// (Deliver). It alone decides which crossings a post publishes.
type Committer struct {
	Store  *store.Store
	Sink   Sink
	Topic  string
	Engine *scoring.Engine
	// Withhold keeps crossings out of the outbox: nothing is published. A
	// backfill into a namespace of its own uses it; what it would publish
	// is counted in Post.Withheld.
	Withhold bool
	// Writer names this committer in the outbox entries it writes (see
	// ScorerWriter and DecayerWriter); it decides which entries of a loaded
	// outbox it publishes (see publishes).
	Writer string
	// Track lists every home it writes an outbox to in the store's outbox
	// index, under Owner, until the outbox is published, for a writer that
	// gets no redelivery after a crash (the decayer): see PublishOrphans.
	Track bool
	Owner string
	// KeepEarlierDue leaves a contact's entry in the due index as it is
	// when the batch moved the contact's next due time later (most events
	// do): the entry, earlier than due, still brings the decayer to the
	// contact, which then finds nothing due and writes the later time
	// (see decay.Decayer.reindex). The scorer sets it; the decayer, whose
	// contacts are due when it commits them, does not.
	KeepEarlierDue bool
}

// Writers of outbox entries.
const (
	scorerWriter  = "scorer/"
	decayerWriter = "decayer/"
)

// ScorerWriter returns a new name for a scorer's outbox entries: one per
// scorer, so that a scorer tells its own entries, which it is publishing,
// from those of a scorer that died before publishing them.
func ScorerWriter() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return scorerWriter + hex.EncodeToString(b[:])
}

// DecayerWriter is the name of the outbox entries of the decayer with
// --owner owner: a decayer restarted under the same owner drains them.
func DecayerWriter(owner string) string { return decayerWriter + owner }

// publishes reports whether this committer publishes an entry writer left
// in a loaded outbox. Each crossing is published once on a run without
// faults, so entries are left to whoever is publishing them: its own, in
// flight in this process (a scorer that gives up a post takes a new name),
// and a decayer's, which the decayers publish when their writer died
// (PublishOrphans).
// What is left to a scorer are the entries of a scorer that died or lost
// the partition before publishing them: the redelivery of the events that
// caused them loads them again. Entries written before entries had writers
// are anybody's.
func (c *Committer) publishes(writer string) bool {
	switch {
	case writer == "":
		return true
	case writer == c.Writer:
		return false
	}
	return strings.HasPrefix(writer, scorerWriter) && strings.HasPrefix(c.Writer, scorerWriter)
}

// newWriter gives a scorer that gave up a post a new name: its entries
// stay unpublished in outboxes, and a scorer publishes only other writers'
// (see publishes), so under a new name its next loads publish them. A
// decayer keeps its name: its next pass publishes its own (PublishOrphans).
func (c *Committer) newWriter() {
	if strings.HasPrefix(c.Writer, scorerWriter) {
		c.Writer = ScorerWriter()
	}
}

// Post is what is left of a commit once Redis has it: the transitions to
// publish, then the outboxes to clear.
type Post struct {
	// recs are the crossings as records, encoded by the first Deliver.
	recs []stream.Record
	// Crossings are the crossings this post is to publish.
	Crossings []scoring.Crossing
	// Withheld counts the crossings a Withhold committer kept to itself.
	Withheld int
	clear    map[string]store.Clear
	reports  map[string][]store.ReportDelta
	tracked  map[string]string
	// handed is closed once a post handed on early (Batch.Committed) is
	// delivered or given up; nil for a post that was not handed on.
	handed  chan struct{}
	settled sync.Once
}

// Handed reports whether the post was handed on as soon as its homes were
// committed (Batch.Committed): whoever it was handed to delivers it.
func (p *Post) Handed() bool { return p != nil && p.handed != nil }

// Settled says that a post handed on early is delivered, or given up
// (only when the context ends): a Cycle redoing its batch waits for it.
func (p *Post) Settled() {
	if p.Handed() {
		p.settled.Do(func() { close(p.handed) })
	}
}

func newPost() *Post {
	return &Post{clear: map[string]store.Clear{}, reports: map[string][]store.ReportDelta{}}
}

// add puts entries of home to publish (or, withheld, to count), and report
// deltas to apply, in the post; the entries, the deltas, and a legacy
// outbox left in the home's hash, are to be cleared at version.
func (c *Committer) add(p *Post, home string, version int64, entries []store.OutboxEntry, reports []store.ReportDelta, legacy bool) {
	if len(entries) == 0 && len(reports) == 0 {
		return
	}
	for i := range entries {
		if c.Withhold {
			p.Withheld++
			continue
		}
		p.Crossings = append(p.Crossings, entries[i].Crossing)
	}
	p.clear[home] = store.Clear{Version: version, Entries: entries, AtVersion: len(reports) > 0 || legacy}
	if len(reports) > 0 {
		p.reports[home] = reports
	}
}

// Commit commits every changed home of the batch to Redis, each with its
// new crossings in its outbox, and writes the derived keys. The Post says
// what to deliver: the homes' new crossings, and the entries of loaded
// outboxes this committer publishes (see publishes). Whenever homes were
// committed, their Post comes back, with any error: when some homes were
// not, errors wrapping store.ErrConflict or store.HomeError. A batch whose
// workspace lacked homes (Workspace.Missing) commits nothing: the error is
// a *MissingError.
func (c *Committer) Commit(ctx context.Context, b *Batch) (*Post, error) {
	if len(b.WS.Missing)+len(b.WS.Unlocated) > 0 {
		return nil, &MissingError{Homes: slices.Sorted(maps.Keys(b.WS.Missing)), Contacts: slices.Sorted(maps.Keys(b.WS.Unlocated))}
	}
	p := newPost()
	commits, again, err := c.commits(ctx, b, p)
	if err != nil {
		return nil, err
	}
	if c.Track {
		homes := make([]string, 0, len(commits))
		for _, cm := range commits {
			if len(cm.Outbox) > 0 || len(cm.Reports) > 0 {
				homes = append(homes, cm.Home.ID)
			}
		}
		if p.tracked, err = c.Store.TrackOutboxes(ctx, c.Owner, homes); err != nil {
			return nil, err
		}
	}
	versions, errs, err := c.commitInOrder(ctx, commits, slices.Concat(b.WS.Moves, b.WS.Merges))
	if err != nil {
		return nil, err
	}
	crossings := len(p.Crossings)
	for i := range commits {
		crossings += len(again[i]) + len(commits[i].Outbox)
	}
	p.Crossings = slices.Grow(p.Crossings, crossings-len(p.Crossings))
	// Homes that conflicted (store.ErrConflict) or that Redis refused
	// (store.HomeError) are not committed.
	var failures []error
	conflicted := map[string]bool{}
	for i, cm := range commits {
		if errs[i] != nil {
			failures = append(failures, errs[i])
			conflicted[cm.Home.ID] = true
			continue
		}
		c.add(p, cm.Home.ID, versions[i], append(again[i], cm.Outbox...), cm.Reports, false)
	}
	// Derived keys first, so scores are readable as soon as committed. A
	// crash after the commit leaves watermarks that make redelivered events
	// count as touched, so these are written again, and the outbox.
	where := c.indexEntries(b, conflicted)
	// The crossings may be published, and the other derived keys written
	// after the next batch is loaded, once the contacts of this one can be
	// found: the index entries of new and moved contacts are written
	// first, in batch order, so that a receiver that reads a new contact
	// by id at once finds it, and so does the next batch. They are then
	// left out of the derived keys.
	if (b.Committed != nil || b.Derived != nil) && len(where) > 0 {
		if err := c.Store.WriteDerived(ctx, store.Derived{Where: where}); err != nil {
			return p, err // committed: still to publish
		}
		where = nil
	}
	if b.Committed != nil {
		p.handed = make(chan struct{})
		b.Committed(p)
	}
	if b.Derived != nil {
		b.Derived(&Unwritten{keys: func() store.Derived { return c.derived(b, conflicted, nil) }})
		return p, errors.Join(failures...)
	}
	if d := c.derived(b, conflicted, where); !d.Empty() {
		if err := c.Store.WriteDerived(ctx, d); err != nil {
			return p, err // committed: still to publish
		}
	}
	return p, errors.Join(failures...)
}

// Unwritten are the derived keys of a commit, left to the caller to write
// (Batch.Derived).
type Unwritten struct {
	keys func() store.Derived
	once sync.Once
	d    store.Derived
}

// Keys computes the derived keys (once), from the batch as committed.
func (u *Unwritten) Keys() store.Derived {
	u.once.Do(func() { u.d = u.keys() })
	return u.d
}

// commits builds the commit of every home the batch changed, each with
// the loaded outbox entries this committer publishes (again); a home with
// nothing to commit goes straight into p, to be cleared at the version
// loaded.
func (c *Committer) commits(ctx context.Context, b *Batch, p *Post) (commits []store.Commit, again [][]store.OutboxEntry, err error) {
	carry, err := c.carried(ctx, b.WS)
	if err != nil {
		return nil, nil, err
	}
	for id, h := range b.WS.Homes {
		m := b.Metas[id]
		if m == nil {
			m = &store.Meta{}
		}
		var loaded []store.OutboxEntry
		for _, e := range m.Outbox {
			if c.publishes(e.Writer) {
				loaded = append(loaded, e)
			}
		}
		if !h.Changed && len(b.Applied[id]) == 0 && !m.LegacyOutbox {
			c.add(p, id, m.Version, loaded, m.Reports, false)
			continue
		}
		var fresh []store.OutboxEntry
		if c.Withhold {
			p.Withheld += len(h.Crossings)
		} else if len(h.Crossings) > 0 {
			fresh = make([]store.OutboxEntry, 0, len(h.Crossings))
			for _, x := range h.Crossings {
				fresh = append(fresh, store.OutboxEntry{Writer: c.Writer, Crossing: x})
			}
		}
		reports := slices.Clip(m.Reports)
		if counts := report.Diff(b.Before[id], h, c.Engine.Model()); len(counts) > 0 {
			reports = append(reports, store.ReportDelta{Version: m.Version + 1, Counts: counts})
		}
		commits = append(commits, store.Commit{Home: h, Meta: m, Offsets: b.Applied[id], Outbox: fresh, Reports: reports,
			Carry: carry[id]})
		again = append(again, loaded)
	}
	return commits, again, nil
}

// carried reads the ledgers contacts that moved in the workspace had in
// the first home they left (unless they came back to it), by the home they
// are carried to.
func (c *Committer) carried(ctx context.Context, ws *scoring.Workspace) (map[string]map[string][]string, error) {
	if len(ws.Moves) == 0 {
		return nil, nil
	}
	origin := map[string]string{}
	for _, m := range ws.Moves {
		if _, ok := origin[m.Contact]; !ok && ws.Where[m.Contact] != m.From {
			origin[m.Contact] = m.From
		}
	}
	ledgers, err := c.Store.Ledgers(ctx, origin)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string][]string{}
	for contact, entries := range ledgers {
		if len(entries) == 0 {
			continue
		}
		to := ws.Where[contact]
		if out[to] == nil {
			out[to] = map[string][]string{}
		}
		out[to][contact] = entries
	}
	return out, nil
}

// commitInOrder commits the homes that contacts moved into before the
// homes they left, and leaves a left home uncommitted when the home its
// contact moved to could not be committed: otherwise the contact would be
// in neither. The reverse partial (new home written, old one not) is
// repaired by the next batch that loads the contact (MovedFrom).
func (c *Committer) commitInOrder(ctx context.Context, commits []store.Commit, moves []scoring.Move) ([]int64, []error, error) {
	versions, errs := make([]int64, len(commits)), make([]error, len(commits))
	if len(commits) == 0 {
		return versions, errs, nil
	}
	into := map[string]bool{}
	for _, m := range moves {
		into[m.To] = true
	}
	run := func(pick func(id string) bool) error {
		var idx []int
		var batch []store.Commit
		for i := range commits {
			if pick(commits[i].Home.ID) {
				idx = append(idx, i)
				batch = append(batch, commits[i])
			}
		}
		if len(batch) == 0 {
			return nil
		}
		vs, es, err := c.Store.CommitAll(ctx, batch)
		if err != nil {
			return err
		}
		for j, i := range idx {
			versions[i], errs[i] = vs[j], es[j]
		}
		return nil
	}
	if len(moves) == 0 {
		return versions, errs, run(func(string) bool { return true })
	}
	if err := run(func(id string) bool { return into[id] }); err != nil {
		return nil, nil, err
	}
	failpoint.Hit(failpoint.CommitBetweenHomes)
	blocked := map[string]error{}
	for i := range commits {
		if errs[i] == nil {
			continue
		}
		for _, m := range moves {
			if m.To == commits[i].Home.ID {
				blocked[m.From] = fmt.Errorf("%w: %s waits for %s, where %s moved", store.ErrConflict, m.From, m.To, m.Contact)
			}
		}
	}
	for i := range commits {
		if err, ok := blocked[commits[i].Home.ID]; ok && !into[commits[i].Home.ID] {
			errs[i] = err
		}
	}
	return versions, errs, run(func(id string) bool { return !into[id] && blocked[id] == nil })
}

// Deliver publishes a post's transitions and adds its report deltas to the
// report counters; then it clears the outbox entries and deltas it covers
// in Redis (each only if its home has not been committed again since).
func (c *Committer) Deliver(ctx context.Context, p *Post) error {
	if p == nil {
		return nil
	}
	// Encoded here rather than when committed, off the batch's path.
	if len(p.recs) < len(p.Crossings) {
		p.recs = make([]stream.Record, len(p.Crossings))
		for i := range p.Crossings {
			rec, err := transition.Record(c.Topic, &p.Crossings[i])
			if err != nil {
				return fmt.Errorf("encode transition: %w", err)
			}
			p.recs[i] = rec
		}
	}
	// Kafka and Redis are written at once: the report counters do not
	// delay the transitions.
	var g errgroup.Group
	if len(p.recs) > 0 {
		failpoint.Hit(failpoint.BeforePublish)
		g.Go(func() error {
			if err := c.Sink.Publish(ctx, p.recs...); err != nil {
				return fmt.Errorf("publish transitions: %w", err)
			}
			return nil
		})
	}
	g.Go(func() error { return c.Store.ApplyReports(ctx, p.reports) })
	if err := g.Wait(); err != nil {
		return err
	}
	c.Store.Tally(store.TallyTransitions).Add(time.Now(), len(p.Crossings))
	if err := c.Store.ClearOutboxes(ctx, p.clear); err != nil {
		return err
	}
	// A home that conflicted keeps the outbox of whoever committed it
	// last, who tracks it if it needs to.
	return c.Store.UntrackOutboxes(ctx, p.tracked)
}

// indexEntries are the contact index entries of the homes not in
// conflict, for the contacts found somewhere else than the index says
// (new, moved, or never indexed because a crash came first).
func (c *Committer) indexEntries(b *Batch, conflicted map[string]bool) map[string]string {
	where := map[string]string{}
	for id, h := range b.WS.Homes {
		if conflicted[id] {
			continue
		}
		for cid := range h.Contacts {
			if b.Where[cid] != id {
				where[cid] = id
			}
		}
	}
	return where
}

// derived lists the derived keys of every home not in conflict: the
// index entries (where, see indexEntries), the leaderboard scores and next
// decay time of touched contacts and their accounts, and the email lookup
// of the addresses the batch gave its contacts.
func (c *Committer) derived(b *Batch, conflicted map[string]bool, where map[string]string) store.Derived {
	n := len(b.WS.Touched)
	d := store.Derived{Where: where, Contacts: make(map[string]int32, n), Accounts: map[string]int32{},
		Due: make(map[string]int64, n)}
	// Each contact as the batch loaded it, from whichever home it was in.
	loaded := 0
	for _, home := range b.Before {
		loaded += len(home)
	}
	before := make(map[string]*scoring.Contact, loaded)
	for _, home := range b.Before {
		for id, c := range home {
			before[id] = c
		}
	}
	for id, h := range b.WS.Homes {
		if conflicted[id] {
			continue
		}
		touched := h.Changed
		for cid, ct := range h.Contacts {
			if b.WS.Touched[cid] {
				touched = true
				if ct.MergedInto != "" {
					d.Retired = append(d.Retired, cid)
				} else {
					d.Contacts[cid] = ct.Score()
				}
				if due := c.Engine.NextDue(ct); !c.KeepEarlierDue || b.Redone[cid] || !c.dueLater(before[cid], due) {
					d.Due[cid] = due
				}
				if d.Boards == nil {
					d.Boards = make(map[string]store.Boards, n)
				}
				d.Boards[cid] = store.ContactBoards(before[cid], ct)
			}
		}
		if touched && h.Account.IsAccount() {
			d.Accounts[h.Account.ID] = h.Account.Score()
			if d.MQA == nil {
				d.MQA = map[string]bool{}
			}
			d.MQA[h.Account.ID] = h.Account.MQA
		}
	}
	for hash, contact := range b.Emails {
		if home, ok := b.WS.Where[contact]; ok && !conflicted[home] {
			if d.Emails == nil {
				d.Emails = map[string]string{}
			}
			d.Emails[hash] = contact
		}
	}
	return d
}

// dueLater reports whether due is at or after the next due time of a
// contact as loaded (nil: new), which the due index then holds or precedes:
// written when that contact was committed, by a batch that moved it
// earlier, or a batch before it. A contact last scored by another model
// may have had another due time (the model's decay or dormancy changed):
// its entry is written.
func (c *Committer) dueLater(before *scoring.Contact, due int64) bool {
	if before == nil || before.Model != c.Engine.Model().Version {
		return false
	}
	prev := c.Engine.NextDue(before)
	return prev != 0 && due >= prev
}

// PublishOrphans publishes the crossings of the homes in the outbox index
// (up to about limit of them) that a decayer committed and maybe never
// published because it died first: the entries of this committer's owner (a decayer
// restarted under the same --owner) and of owners that busy (asked after
// the index is read) says are no longer at work, and entries written
// before entries had writers. Homes are not committed again: the entries
// are published under their own ids and cleared. more says the index may
// hold further orphans.
func (c *Committer) PublishOrphans(ctx context.Context, limit int, busy func(owner string) bool) (published []scoring.Crossing, more bool, err error) {
	tracked, err := c.Store.TrackedOutboxes(ctx, limit)
	if err != nil || len(tracked) == 0 {
		return nil, false, err
	}
	read := len(tracked)
	left := func(owner string) bool { return owner != c.Owner && busy(owner) }
	for entry, token := range tracked {
		if left(store.TokenOwner(token)) {
			delete(tracked, entry)
		}
	}
	// Entries left to their owners would be read again: stop at them.
	more = read >= limit && len(tracked) == read
	if len(tracked) == 0 {
		return nil, false, nil
	}
	reqs := make(map[string]*store.Request, len(tracked))
	for entry := range tracked {
		reqs[store.TrackedHome(entry)] = &store.Request{}
	}
	_, metas, err := c.Store.Load(ctx, reqs)
	if err != nil {
		return nil, false, err
	}
	p := newPost()
	for home, m := range metas {
		var orphans []store.OutboxEntry
		for _, e := range m.Outbox {
			owner, ok := strings.CutPrefix(e.Writer, decayerWriter)
			if e.Writer == "" || ok && !left(owner) {
				orphans = append(orphans, e)
			}
		}
		c.add(p, home, m.Version, orphans, m.Reports, m.LegacyOutbox)
	}
	if err := c.Deliver(ctx, p); err != nil {
		return nil, false, err
	}
	return p.Crossings, more, c.Store.UntrackOutboxes(ctx, tracked)
}
