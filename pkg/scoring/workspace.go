package scoring

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/leadscore/leads/pkg/event"
)

// HomeID names where a contact's state lives: with its account ("a:<id>"),
// or on its own while it has none ("c:<id>"). Every key of a home shares one
// Redis hash slot, so one home is committed atomically.
func HomeID(accountID, contactID string) string {
	if accountID != "" {
		return "a:" + accountID
	}
	return "c:" + contactID
}

// AccountOfHome returns the account id of an account home, or "".
func AccountOfHome(home string) string {
	id, _ := strings.CutPrefix(home, "a:")
	if id == home {
		return ""
	}
	return id
}

// Home is the state of one home as loaded for a batch, plus what the batch
// did to it.
type Home struct {
	ID       string
	Account  *Account
	Contacts map[string]*Contact
	// AllMembers is true when every contact of the home is loaded.
	AllMembers bool
	// Removed lists contacts that moved out of this home in this batch.
	Removed []string
	// Ledger and Crossings are what this batch added.
	Ledger    []Entry
	Crossings []Crossing
	Changed   bool
}

// NewHome returns an empty home.
func NewHome(id string) *Home {
	return &Home{ID: id, Account: &Account{ID: AccountOfHome(id)}, Contacts: map[string]*Contact{}}
}

// Loader fetches a home with all its contacts from memory (Memory, or a
// test's empty homes); the workspace calls it when an account change must
// be refreshed on every member (rare), or for a home the caller did not
// preload. A workspace over Redis has none: see Missing.
type Loader interface {
	LoadHome(id string, allMembers bool) (*Home, error)
}

// Workspace applies a batch of events to the homes they touch, following
// contacts that move and refreshing every member of an account whose fit or
// competitor status changed. It is the one place that routing lives, shared
// by the scorer, the decayer and replay.
type Workspace struct {
	e     *Engine
	load  Loader
	Homes map[string]*Home
	// Where maps contact id to home id, for contacts known to this batch.
	Where map[string]string
	res   Result
	// Touched lists the contacts whose state this workspace changed.
	Touched map[string]bool
	// Moves are the contacts that changed home in this workspace, in order.
	// The new home must be committed before the old one, and carries the
	// ledger the contact had in the first home it left: see
	// commit.Committer.Commit.
	Moves []Move
	// Missing lists the homes a workspace without a Loader needed whole
	// and did not have: what it did is incomplete and must not be
	// committed; apply the batch again with these homes loaded whole.
	Missing map[string]bool
	// Merges are the contacts merged into a contact of another home, as
	// moves from the home of the contact retired to the home of the one
	// that absorbed it, which is committed first (see Engine.Merge).
	Merges []Move
	// Unlocated lists the contacts a workspace without a Loader needed and
	// was not told where they live (a merged contact's heir): apply the
	// batch again with them located and their homes loaded.
	Unlocated map[string]bool
	// asked are the contacts the index was asked about: one of them that
	// Where lacks is new.
	asked map[string]bool
}

// maxMergeHops bounds the chain of merges followed from a contact to the
// one that holds its score now.
const maxMergeHops = 16

// Move is a contact leaving one home for another.
type Move struct{ Contact, From, To string }

// NewWorkspace returns an empty workspace; preload it with Put and Locate.
// load may be nil: then the workspace never loads, and notes in Missing the
// homes it lacked.
func NewWorkspace(e *Engine, load Loader) *Workspace {
	return &Workspace{e: e, load: load, Homes: map[string]*Home{}, Where: map[string]string{}, Touched: map[string]bool{}}
}

// Put adds a loaded home.
func (w *Workspace) Put(h *Home) {
	w.Homes[h.ID] = h
	for id := range h.Contacts {
		w.Where[id] = h.ID
	}
}

// Locate records where a contact lives, from the contact index.
func (w *Workspace) Locate(contactID, home string) { w.Where[contactID] = home }

// Asked records that the contact index was read for these contacts, so
// that one it did not locate is new, not merely unlocated.
func (w *Workspace) Asked(contactIDs ...string) {
	if w.asked == nil {
		w.asked = make(map[string]bool, len(contactIDs))
	}
	for _, id := range contactIDs {
		w.asked[id] = true
	}
}

// heir returns the contact that holds id's score now: id, or the contact
// a merge retired it into, following chains. Without load it goes as far
// as the loaded homes tell; with load it loads the homes it needs, or,
// without a Loader, notes them (Missing, Unlocated) and fails with
// ErrNotLoaded.
func (w *Workspace) heir(id string, load bool) (string, error) {
	for range maxMergeHops {
		home, located := w.Where[id]
		var h *Home
		switch {
		case !load:
			if h = w.Homes[home]; h == nil {
				return id, nil
			}
		case !located:
			if w.load != nil || w.asked[id] {
				return id, nil // new
			}
			if w.Unlocated == nil {
				w.Unlocated = map[string]bool{}
			}
			w.Unlocated[id] = true
			return "", fmt.Errorf("%w: where contact %s lives", ErrNotLoaded, id)
		default:
			var err error
			if h, err = w.home(home, false); err != nil {
				return "", err
			}
		}
		c := h.Contacts[id]
		if c == nil || c.MergedInto == "" {
			return id, nil
		}
		id = c.MergedInto
	}
	return id, nil
}

func (w *Workspace) home(id string, all bool) (*Home, error) {
	h, ok := w.Homes[id]
	if ok && (!all || h.AllMembers) {
		return h, nil
	}
	if w.load == nil {
		if w.Missing == nil {
			w.Missing = map[string]bool{}
		}
		w.Missing[id] = true
		return nil, fmt.Errorf("%w: %s", ErrNotLoaded, id)
	}
	loaded, err := w.load.LoadHome(id, all)
	if err != nil {
		return nil, fmt.Errorf("load home %s: %w", id, err)
	}
	if ok {
		// Keep the states this batch already changed; add the rest.
		for cid, c := range loaded.Contacts {
			if _, have := h.Contacts[cid]; !have && !containsStr(h.Removed, cid) {
				h.Contacts[cid] = c
			}
		}
		h.AllMembers = all || h.AllMembers
		return h, nil
	}
	w.Put(loaded)
	return loaded, nil
}

// ErrNotLoaded is returned by a workspace without a Loader for an event
// or a decay that needs a home it was not given (see Workspace.Missing).
var ErrNotLoaded = errors.New("home not loaded")

func containsStr(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// Target returns the home an event is applied in: an account event's
// account; a known contact's current home, unless a contact.updated names
// another account (a move) or the contact had none yet; a new contact's
// account, or its own home. A merged contact's event is applied to the
// contact it merged into (as far as the loaded homes tell: see heir).
func (w *Workspace) Target(ev *event.Event) (from, to string) {
	if ev.IsAccountEvent() {
		h := HomeID(ev.AccountID, "")
		return h, h
	}
	id := ev.ContactID
	if ev.Type != event.ContactMerged {
		id, _ = w.heir(id, false) // without load, never fails
	}
	cur, known := w.Where[id]
	if !known || cur == "" {
		h := HomeID(ev.AccountID, id)
		return h, h
	}
	if ev.AccountID != "" && (ev.Type == "contact.updated" || strings.HasPrefix(cur, "c:")) {
		return cur, HomeID(ev.AccountID, id)
	}
	return cur, cur
}

// Apply applies one event.
func (w *Workspace) Apply(ev *event.Event) error {
	w.res.Reset()
	if ev.IsAccountEvent() {
		h, err := w.home(HomeID(ev.AccountID, ""), false)
		if err != nil {
			return err
		}
		if err := w.e.ApplyAccount(h.Account, ev, &w.res); err != nil {
			return err
		}
		return w.finish(ev.ID, ev.Time)
	}
	if ev.Type == event.ContactMerged {
		return w.merge(ev)
	}
	heir, err := w.heir(ev.ContactID, true)
	if err != nil {
		return err
	}
	if heir != ev.ContactID {
		// A merged contact's event counts for the contact it merged into.
		redirected := *ev
		redirected.ContactID = heir
		ev = &redirected
	}
	fromID, toID := w.Target(ev)
	to, err := w.home(toID, false)
	if err != nil {
		return err
	}
	c := to.Contacts[ev.ContactID]
	if fromID != toID {
		from, err := w.home(fromID, false)
		if err != nil {
			return err
		}
		if moving, ok := from.Contacts[ev.ContactID]; ok {
			w.e.Leave(from.Account, moving, ev.ID, ev.Time, &w.res)
			delete(from.Contacts, ev.ContactID)
			from.Removed = append(from.Removed, ev.ContactID)
			from.Changed = true
			c = moving
			// Its lines of this batch so far go where it goes; its older
			// ones are carried by the commit (see Moves).
			from.Ledger, to.Ledger = takeLedger(from.Ledger, to.Ledger, ev.ContactID)
		}
	}
	if c == nil {
		c = &Contact{ID: ev.ContactID}
	}
	if fromID != toID {
		// Kept until a later batch finds the old home rid of the contact:
		// if the old home's commit is lost, that batch finishes the move.
		c.MovedFrom = fromID
		w.Moves = append(w.Moves, Move{Contact: ev.ContactID, From: fromID, To: toID})
	} else if c.MovedFrom != "" && !w.movedHere(ev.ContactID) {
		if err := w.finishMove(c, ev); err != nil {
			return err
		}
	}
	to.Contacts[ev.ContactID] = c
	to.Removed = removeStr(to.Removed, ev.ContactID)
	w.Where[ev.ContactID] = toID
	w.Touched[ev.ContactID] = true
	if err := w.e.Apply(to.Account, c, ev, &w.res); err != nil {
		return err
	}
	return w.finish(ev.ID, ev.Time)
}

// takeLedger moves the entries of contact from one ledger to another.
func takeLedger(from, to []Entry, contact string) ([]Entry, []Entry) {
	kept := from[:0]
	for _, e := range from {
		if e.ContactID == contact {
			to = append(to, e)
		} else {
			kept = append(kept, e)
		}
	}
	return kept, to
}

func (w *Workspace) movedHere(contactID string) bool {
	for _, m := range w.Moves {
		if m.Contact == contactID {
			return true
		}
	}
	return false
}

// finishMove removes a stale copy of c from the home it moved out of, when
// that home's commit was lost (a conflict or a crash after the new home was
// committed), so the old account stops counting it.
func (w *Workspace) finishMove(c *Contact, ev *event.Event) error {
	from, err := w.home(c.MovedFrom, true)
	if err != nil {
		return err
	}
	if stale, ok := from.Contacts[c.ID]; ok {
		w.e.Leave(from.Account, stale, ev.ID, ev.Time, &w.res)
		delete(from.Contacts, c.ID)
		from.Removed = append(from.Removed, c.ID)
		from.Changed = true
	}
	c.MovedFrom = ""
	return nil
}

func removeStr(xs []string, s string) []string {
	for i, x := range xs {
		if x == s {
			return append(xs[:i], xs[i+1:]...)
		}
	}
	return xs
}

// Decay decays one contact to now, in the home it lives in, and reports
// whether anything changed.
func (w *Workspace) Decay(contactID string, now time.Time) (bool, error) {
	w.res.Reset()
	home, ok := w.Where[contactID]
	if !ok {
		return false, nil
	}
	h, err := w.home(home, false)
	if err != nil {
		return false, err
	}
	c, ok := h.Contacts[contactID]
	if !ok {
		return false, nil
	}
	w.e.Decay(h.Account, c, now, &w.res)
	w.Touched[contactID] = true
	if len(w.res.Ledger) == 0 && len(w.res.Crossings) == 0 && len(w.res.Refresh) == 0 {
		return false, nil
	}
	cause := ""
	if len(w.res.Ledger) > 0 {
		cause = w.res.Ledger[len(w.res.Ledger)-1].Cause
	}
	// An account crosses when the decay of its members brings it across;
	// which member tips it depends on the order they are decayed in, so the
	// crossing is attributed to the account's decay at now instead: its id
	// is the same whatever that order (a rerun, another replica). So is the
	// refresh of every member when the pass is the first to see a model
	// that changes the account's fit: any member may be the first decayed.
	for i := range w.res.Crossings {
		if x := &w.res.Crossings[i]; strings.HasPrefix(x.Type, "account.") {
			x.Cause = AccountDecayCause(x.AccountID, now)
		}
	}
	if len(w.res.Refresh) > 0 {
		cause = AccountDecayCause(h.Account.ID, now)
	}
	h.Changed = true
	return true, w.finish(cause, now)
}

// AccountDecayCause is the cause of an account crossing that a decay pass
// at now brought about.
func AccountDecayCause(account string, now time.Time) string {
	return "decay:" + account + ":" + strconv.FormatInt(now.Unix(), 10)
}

// Contact returns a contact of the workspace, or nil.
func (w *Workspace) Contact(id string) *Contact {
	if h, ok := w.Homes[w.Where[id]]; ok {
		return h.Contacts[id]
	}
	return nil
}

// finish files the last engine result under the homes it concerns and
// refreshes members of accounts that need it.
func (w *Workspace) finish(cause string, at time.Time) error {
	for _, l := range w.res.Ledger {
		h := w.Homes[w.Where[l.ContactID]]
		if h.Ledger == nil {
			// A batch gives a home a few lines (demo traffic: 3 on
			// average): room for them at once, not 1, 2, then 4.
			h.Ledger = make([]Entry, 0, 4)
		}
		h.Ledger = append(h.Ledger, l)
		h.Changed = true
	}
	for _, x := range w.res.Crossings {
		id := w.Where[x.ContactID]
		if x.ContactID == "" || x.Type == BecameMQA || x.Type == LeftMQA {
			id = HomeID(x.AccountID, "")
		}
		h := w.Homes[id]
		h.Crossings = append(h.Crossings, x)
		h.Changed = true
	}
	for _, id := range w.res.Refresh {
		if h := w.Homes[HomeID(id, "")]; h != nil {
			h.Changed = true
		}
	}
	refresh := append([]string(nil), w.res.Refresh...)
	for _, accountID := range refresh {
		h, err := w.home(HomeID(accountID, ""), true)
		if err != nil {
			return err
		}
		w.res.Reset()
		for _, id := range sortedContactIDs(h.Contacts) {
			w.e.Refresh(h.Account, h.Contacts[id], cause, at, &w.res)
			w.Touched[id] = true
		}
		h.Ledger = append(h.Ledger, w.res.Ledger...)
		h.Crossings = append(h.Crossings, w.res.Crossings...)
		h.Changed = true
	}
	return nil
}
