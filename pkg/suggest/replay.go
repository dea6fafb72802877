package suggest

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
)

// Source yields a history, one event at a time, in the order it is to be
// applied (each contact's and account's events in the order they were
// ingested). A suggestion reads it twice, so it must yield the same events
// each time. fn may keep nothing of the event after it returns.
type Source func(ctx context.Context, fn func(*event.Event) error) error

// FileSource reads an NDJSON archive, as `scorer backfill --file` does:
// lines that are not valid events are skipped (a backfill sends them to
// its dead letters) and counted in *skipped when it is not nil.
func FileSource(path string, skipped *int64) Source {
	return func(ctx context.Context, fn func(*event.Event) error) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		var bad int64
		for line := 0; sc.Scan(); line++ {
			if line%4096 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			text := sc.Bytes()
			if len(strings.TrimSpace(string(text))) == 0 {
				continue
			}
			var ev event.Event
			if Decode(text, &ev) != nil {
				bad++
				continue
			}
			if err := fn(&ev); err != nil {
				return err
			}
		}
		if skipped != nil {
			*skipped = bad
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		return nil
	}
}

// Decode parses and validates one event as the scorer does with a record
// of the events topic (no check of future times: history was accepted once).
func Decode(value []byte, ev *event.Event) error {
	if err := event.Unmarshal(value, ev); err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	if errs := ev.Validate(time.Time{}); len(errs) > 0 {
		return fmt.Errorf("invalid event: %w", errs[0])
	}
	return nil
}

// columns are the fitted features of a model: one per behavior rule that
// gives fixed or stepped points (its firings), one per title rule and one
// per account-fit rule (whether it applies to the contact).
type columns struct {
	m *model.Model
	// rule maps a behavior rule id to its column, or -1.
	rule map[string]int
	// stepMax is, per column of a points_by rule, the points of its top
	// step: the column counts firings weighted by the points they gave,
	// over that (a full watch is 1).
	stepMax  []float64
	title    int // first title column; title rule i is title+i
	account  int // first account-fit column
	n        int
	names    []string
	sections []string
	index    []int // the rule's index in its section of the file
}

func newColumns(m *model.Model) *columns {
	c := &columns{m: m, rule: map[string]int{}}
	add := func(section, id string, i int) int {
		c.names, c.sections, c.index = append(c.names, id), append(c.sections, section), append(c.index, i)
		c.stepMax = append(c.stepMax, 0)
		c.n++
		return c.n - 1
	}
	for i, r := range m.Rules {
		if r.PointsFrom != "" {
			c.rule[r.ID] = -1
			continue
		}
		j := add("rules", r.ID, i)
		c.rule[r.ID] = j
		if r.PointsBy != nil {
			top := 0
			for _, s := range r.PointsBy.Steps {
				top = max(top, abs(s.Points))
			}
			c.stepMax[j] = float64(max(top, 1))
		}
	}
	c.title = c.n
	for i, t := range m.Titles {
		add("titles", t.ID, i)
	}
	c.account = c.n
	for i, r := range m.AccountFit {
		add("account_fit", r.ID, i)
	}
	return c
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// contactStats is what a replay learns of one contact.
type contactStats struct {
	first, opp int64
	// peaks: before the first opportunity (or ever, without one), ever,
	// and at events before the training cutoff.
	before, ever, train float64
	// feat holds the behavior columns' values from events before the
	// first opportunity and before the training cutoff; fit holds the
	// title rule (+1, 0 for none) and the account-fit rules matched at
	// the last of those events.
	feat    []float32
	title   int16
	account uint64
	// aql is when the contact first became an AQL (0: never).
	aql int64
}

// replayer replays a history through the engine under one model, with
// every home in memory (scoring.Memory loads an empty one the first time).
type replayer struct {
	m     *model.Model
	cols  *columns // nil: peaks only
	until int64    // training cutoff (Unix seconds)
	stats map[string]*contactStats
	// Events applied, duplicates skipped, events refused by the engine.
	events, duplicates, refused int64
	first, last                 int64
	// w holds every state at the end of the replay.
	w *scoring.Workspace
}

func newReplayer(m *model.Model, cols *columns, until time.Time) *replayer {
	return &replayer{m: m, cols: cols, until: until.Unix(), stats: map[string]*contactStats{}, first: math.MaxInt64}
}

const overCap = "(over cap: 0)"

// run applies the whole history. Event ids seen before are skipped, as the
// scorer's dedupe does (by a 64-bit hash of the id, for memory's sake).
func (r *replayer) run(ctx context.Context, src Source) error {
	w := scoring.NewWorkspace(scoring.New(r.m), scoring.NewMemory())
	r.w = w
	seen := map[uint64]struct{}{}
	return src(ctx, func(ev *event.Event) error {
		h := xxhash.Sum64String(ev.ID)
		if _, dup := seen[h]; dup {
			r.duplicates++
			return nil
		}
		seen[h] = struct{}{}
		t := ev.Time.Unix()
		r.first, r.last = min(r.first, t), max(r.last, t)
		var st *contactStats
		hadOpp := false
		if !ev.IsAccountEvent() {
			st = r.stats[ev.ContactID]
			if st == nil {
				st = &contactStats{first: t, before: noScore, ever: noScore, train: noScore}
				if r.cols != nil {
					st.feat = make([]float32, r.cols.title)
				}
				r.stats[ev.ContactID] = st
			}
			st.first = min(st.first, t)
			if c := w.Contact(ev.ContactID); c != nil {
				hadOpp = c.OppAt != 0
			}
		}
		if err := w.Apply(ev); err != nil {
			// The scorer sends such an event to its dead letters and goes on.
			r.refused++
			return nil
		}
		r.events++
		if st != nil && r.cols != nil && !hadOpp && t < r.until {
			r.features(w, ev, st)
		}
		for id := range w.Touched {
			r.peak(w, id, t)
		}
		r.tidy(w, ev)
		return nil
	})
}

// features adds the event's behavior lines to the contact's columns and
// notes its fit attributes as they are now.
func (r *replayer) features(w *scoring.Workspace, ev *event.Event, st *contactStats) {
	h := w.Homes[w.Where[ev.ContactID]]
	for _, l := range h.Ledger {
		if l.ContactID != ev.ContactID || l.Kind != scoring.KindBehavior || strings.HasSuffix(l.Reason, overCap) {
			continue
		}
		j, ok := r.cols.rule[l.Rule]
		if !ok || j < 0 {
			continue
		}
		if top := r.cols.stepMax[j]; top > 0 {
			st.feat[j] += float32(float64(l.Points) / top)
		} else {
			st.feat[j]++
		}
	}
	c := h.Contacts[ev.ContactID]
	st.title = 0
	for i := range r.m.Titles {
		if r.m.Titles[i].ID == c.TitleRule && c.TitleRule != "" {
			st.title = int16(i + 1)
		}
	}
	st.account = 0
	if h.Account.IsAccount() {
		for i := range r.m.AccountFit {
			if i < 64 && h.Account.Matches(&r.m.AccountFit[i]) {
				st.account |= 1 << i
			}
		}
	}
}

// peak records a touched contact's score after the event: scores only
// fall between events (decay), so the highest score a contact had is one
// it had right after an event. A competitor's score never qualifies.
func (r *replayer) peak(w *scoring.Workspace, id string, t int64) {
	st := r.stats[id]
	h := w.Homes[w.Where[id]]
	if st == nil || h == nil {
		return
	}
	c := h.Contacts[id]
	if c == nil {
		return
	}
	if c.OppAt != 0 && (st.opp == 0 || c.OppAt < st.opp) {
		st.opp = c.OppAt
	}
	if st.aql == 0 {
		st.aql = c.AQLAt
	}
	a := h.Account
	if c.Competitor || a.IsAccount() && (a.Competitor || r.m.IsCompetitorDomain(a.ID)) {
		return
	}
	s := float64(c.Score())
	st.ever = max(st.ever, s)
	if st.opp == 0 || t <= st.opp {
		st.before = max(st.before, s)
	}
	if t < r.until {
		st.train = max(st.train, s)
	}
}

// tidy drops what the workspace collected for a commit (ledger lines,
// crossings, the touched and moved contacts): a replay keeps only states.
func (r *replayer) tidy(w *scoring.Workspace, ev *event.Event) {
	clean := func(id string) {
		if h := w.Homes[id]; h != nil {
			h.Ledger, h.Crossings, h.Removed = h.Ledger[:0], h.Crossings[:0], h.Removed[:0]
		}
	}
	for id := range w.Touched {
		clean(w.Where[id])
	}
	for _, m := range w.Moves {
		clean(m.From)
	}
	if ev.IsAccountEvent() {
		clean(scoring.HomeID(ev.AccountID, ""))
	}
	clear(w.Touched)
	w.Moves = w.Moves[:0]
}
