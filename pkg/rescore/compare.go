package rescore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/leadscore/leads/pkg/report"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
)

// Summary counts one namespace's contacts and accounts by status.
type Summary struct {
	Namespace string `json:"namespace"`
	// Models counts contacts by the model version that last scored them.
	Models   map[string]int `json:"models"`
	Contacts int            `json:"contacts"`
	Accounts int            `json:"accounts"`
	MQL      int            `json:"mql"`
	AQL      int            `json:"aql"`
	MQA      int            `json:"mqa"`
	Grades   map[string]int `json:"grades"`
	Stages   map[string]int `json:"stages"`
	// Outcomes judge the model on what sales made of its leads: of the
	// contacts it ever made MQL (AQL), how many had an opportunity after
	// (precision), and of the contacts with an opportunity, how many it
	// had made MQL (AQL) before (recall).
	Opportunities int         `json:"opportunities"`
	MQLPrecision  report.Rate `json:"mql_precision"`
	MQLRecall     report.Rate `json:"mql_recall"`
	AQLPrecision  report.Rate `json:"aql_precision"`
	AQLRecall     report.Rate `json:"aql_recall"`
}

// Status is what compare shows of one contact in one namespace.
type Status struct {
	Score int32  `json:"score"`
	Grade string `json:"grade"`
	Stage string `json:"stage"`
	MQL   bool   `json:"mql"`
	AQL   bool   `json:"aql"`
}

func (s *Status) label() string {
	if s == nil {
		return "-"
	}
	var flags []string
	if s.MQL {
		flags = append(flags, "MQL")
	}
	if s.AQL {
		flags = append(flags, "AQL")
	}
	label := s.Grade + " " + s.Stage
	if len(flags) == 0 {
		return label
	}
	return label + " " + strings.Join(flags, "+")
}

// Change is a contact whose status (MQL, AQL, grade or stage) differs between the
// two namespaces, or that exists in only one (nil on the other side).
type Change struct {
	Contact string  `json:"contact_id"`
	A       *Status `json:"a"`
	B       *Status `json:"b"`
}

// Report is the outcome of Compare.
type Report struct {
	A       Summary  `json:"a"`
	B       Summary  `json:"b"`
	Changes []Change `json:"changes"`
}

// ErrEmptyNamespace is a namespace compared that holds no contact and no
// account: a mistyped name, or another Redis, rather than a model that
// scored nobody.
var ErrEmptyNamespace = errors.New("holds no contact or account")

// Compare reads two namespaces in full and reports how they differ. A
// namespace with no data at all is refused (ErrEmptyNamespace): compared
// against it, every contact would show as changed.
func Compare(ctx context.Context, a, b *store.Store) (*Report, error) {
	sa, ca, err := collect(ctx, a)
	if err != nil {
		return nil, err
	}
	sb, cb, err := collect(ctx, b)
	if err != nil {
		return nil, err
	}
	for _, s := range []Summary{sa, sb} {
		if s.Contacts == 0 && s.Accounts == 0 {
			return nil, fmt.Errorf("namespace %q %w: check its name (a Redis key prefix) and --redis-addr", s.Namespace, ErrEmptyNamespace)
		}
	}
	r := &Report{A: sa, B: sb, Changes: []Change{}}
	ids := slices.Sorted(maps.Keys(ca))
	for id := range cb {
		if _, ok := ca[id]; !ok {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		x, y := ca[id], cb[id]
		if x != nil && y != nil && x.MQL == y.MQL && x.AQL == y.AQL && x.Grade == y.Grade && x.Stage == y.Stage {
			continue
		}
		r.Changes = append(r.Changes, Change{Contact: id, A: x, B: y})
	}
	return r, nil
}

func collect(ctx context.Context, st *store.Store) (Summary, map[string]*Status, error) {
	s := Summary{Namespace: st.Namespace(), Models: map[string]int{}, Grades: map[string]int{}, Stages: map[string]int{}}
	contacts := map[string]*Status{}
	var everMQL, everAQL, mqlOpp, aqlOpp int64
	err := st.ScanHomes(ctx, func(h *scoring.Home) error {
		if h.Account.IsAccount() {
			s.Accounts++
			if h.Account.MQA {
				s.MQA++
			}
		}
		for id, c := range h.Contacts {
			st := &Status{Score: c.Score(), Grade: c.Grade, Stage: c.Stage.String(), MQL: c.MQL, AQL: c.AQL}
			contacts[id] = st
			s.Contacts++
			s.Models[c.Model]++
			s.Grades[c.Grade]++
			s.Stages[st.Stage]++
			if c.MQL {
				s.MQL++
			}
			if c.AQL {
				s.AQL++
			}
			everMQL += b2i(c.MQLAt > 0)
			everAQL += b2i(c.AQLAt > 0)
			if c.OppAt > 0 {
				s.Opportunities++
				mqlOpp += b2i(c.MQLAt > 0 && c.MQLAt <= c.OppAt)
				aqlOpp += b2i(c.AQLAt > 0 && c.AQLAt <= c.OppAt)
			}
		}
		return nil
	})
	if err != nil {
		return s, nil, fmt.Errorf("read %s: %w", st.Namespace(), err)
	}
	opps := int64(s.Opportunities)
	s.MQLPrecision, s.MQLRecall = report.NewRate(mqlOpp, everMQL), report.NewRate(mqlOpp, opps)
	s.AQLPrecision, s.AQLRecall = report.NewRate(aqlOpp, everAQL), report.NewRate(aqlOpp, opps)
	return s, contacts, nil
}

// WriteTable prints the report for people: the counts side by side, then
// up to limit changed contacts (all when limit is 0).
func (r *Report) WriteTable(w io.Writer, limit int) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(name string, a, b int) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%+d\t\n", name, a, b, b-a)
	}
	fmt.Fprintf(w, "A: %s\nB: %s\n\n", r.A.Namespace, r.B.Namespace)
	fmt.Fprintf(tw, "\tA\tB\tchange\t\n")
	row("contacts", r.A.Contacts, r.B.Contacts)
	row("accounts", r.A.Accounts, r.B.Accounts)
	row("MQL", r.A.MQL, r.B.MQL)
	row("AQL", r.A.AQL, r.B.AQL)
	row("MQA", r.A.MQA, r.B.MQA)
	for _, g := range unionKeys(r.A.Grades, r.B.Grades) {
		row("grade "+orNone(g), r.A.Grades[g], r.B.Grades[g])
	}
	for _, st := range unionKeys(r.A.Stages, r.B.Stages) {
		row("stage "+orNone(st), r.A.Stages[st], r.B.Stages[st])
	}
	for _, m := range unionKeys(r.A.Models, r.B.Models) {
		row("model "+orNone(m), r.A.Models[m], r.B.Models[m])
	}
	row("opportunities", r.A.Opportunities, r.B.Opportunities)
	for _, o := range []struct {
		name string
		a, b report.Rate
	}{{"MQL precision", r.A.MQLPrecision, r.B.MQLPrecision}, {"MQL recall", r.A.MQLRecall, r.B.MQLRecall},
		{"AQL precision", r.A.AQLPrecision, r.B.AQLPrecision}, {"AQL recall", r.A.AQLRecall, r.B.AQLRecall}} {
		fmt.Fprintf(tw, "%s\t%s\t%s\t\t\n", o.name, o.a, o.b)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%d contacts change status\n", len(r.Changes))
	if len(r.Changes) == 0 {
		return nil
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "contact\tscore A\tstatus A\tscore B\tstatus B\n")
	for i, c := range r.Changes {
		if limit > 0 && i == limit {
			fmt.Fprintf(tw, "… %d more (--limit 0 shows all)\n", len(r.Changes)-limit)
			break
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Contact, score(c.A), c.A.label(), score(c.B), c.B.label())
	}
	return tw.Flush()
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func score(s *Status) string {
	if s == nil {
		return "-"
	}
	return strconv.Itoa(int(s.Score))
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func unionKeys(a, b map[string]int) []string {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}
