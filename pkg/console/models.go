package console

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/leadscore/leads/pkg/api"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/report"
)

// versions returns the known model versions, parsed, oldest first: the
// registry's and the one in use. A registered file that no longer parses
// (a model from an older program) is left out, and named in skipped.
func (c *Console) versions(r *http.Request) (vs []*model.Model, skipped []string, err *pageError) {
	byVersion := map[string]*model.Model{c.m.Version: c.m}
	if c.models != nil {
		files, e := c.models(r.Context())
		if e != nil {
			return nil, nil, &pageError{Status: http.StatusServiceUnavailable, Message: "The model registry is unreadable; retry later."}
		}
		for v, src := range files {
			if v == c.m.Version {
				continue
			}
			m, ok := c.parsed(v, src)
			if !ok {
				skipped = append(skipped, v)
				continue
			}
			byVersion[v] = m
		}
	}
	for _, m := range byVersion {
		vs = append(vs, m)
	}
	slices.SortFunc(vs, func(a, b *model.Model) int { return compareVersions(a.Version, b.Version) })
	slices.SortFunc(skipped, compareVersions)
	return vs, skipped, nil
}

// parsed parses a registered model file once: a registered version's
// file never changes (store.RegisterModel refuses another), and parsing
// every version on every contact page would cost more than the page.
func (c *Console) parsed(version, src string) (*model.Model, bool) {
	c.cache.Lock()
	defer c.cache.Unlock()
	if p, ok := c.cache.models[version]; ok && p.src == src {
		return p.m, p.m != nil
	}
	m, err := model.Parse([]byte(src))
	if err != nil {
		m = nil
	}
	if c.cache.models == nil {
		c.cache.models = map[string]parsedModel{}
	}
	c.cache.models[version] = parsedModel{src: src, m: m}
	return m, m != nil
}

type parsedModel struct {
	src string
	m   *model.Model // nil: does not parse
}

// compareVersions orders versions as numbers when both are, else as text.
func compareVersions(a, b string) int {
	x, errA := strconv.ParseFloat(a, 64)
	y, errB := strconv.ParseFloat(b, 64)
	if errA == nil && errB == nil && x != y {
		return cmp.Compare(x, y)
	}
	return strings.Compare(a, b)
}

// ruleText says what a rule gives, in a table cell.
func ruleText(r model.Rule) string {
	var s string
	switch {
	case r.PointsBy != nil:
		s = "by " + r.PointsBy.Property
	case r.PointsFrom != "":
		s = "from " + r.PointsFrom
	default:
		s = strconv.Itoa(r.Points)
	}
	if r.Product != "" {
		s += " (" + r.Product + ")"
	}
	if r.Cap != nil {
		s += ", at most " + strconv.Itoa(r.Cap.Max) + " per " + period(r.Cap.Per)
	}
	return s
}

// period writes a whole number of days as days.
func period(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		if n := int(d / (24 * time.Hour)); n != 1 {
			return strconv.Itoa(n) + " days"
		}
		return "day"
	}
	return d.String()
}

type modelData struct {
	Current  api.Model
	Versions []string
	Skipped  []string
	// Rules is the rule × version table: a row per rule id, a cell per
	// version ("" where the version has no such rule).
	Rules []ruleRow
	A, B  string
	Diff  []model.Difference
}

type ruleRow struct {
	ID, Event string
	Cells     []string
	Changed   bool
}

func (c *Console) modelPage(w http.ResponseWriter, r *http.Request) *pageError {
	var d modelData
	if err := c.get(r.Context(), "/v1/model", nil, &d.Current); err != nil {
		return err
	}
	vs, skipped, perr := c.versions(r)
	if perr != nil {
		return perr
	}
	d.Skipped = skipped
	byVersion := map[string]*model.Model{}
	for _, m := range vs {
		d.Versions = append(d.Versions, m.Version)
		byVersion[m.Version] = m
	}
	rows := map[string]*ruleRow{}
	var order []string
	for i, m := range vs {
		for _, rule := range m.Rules {
			row := rows[rule.ID]
			if row == nil {
				row = &ruleRow{ID: rule.ID, Event: rule.Event, Cells: make([]string, len(vs))}
				rows[rule.ID] = row
				order = append(order, rule.ID)
			}
			row.Cells[i] = ruleText(rule)
		}
	}
	for _, id := range order {
		row := rows[id]
		for _, cell := range row.Cells[1:] {
			row.Changed = row.Changed || cell != row.Cells[0]
		}
		d.Rules = append(d.Rules, *row)
	}
	q := r.URL.Query()
	d.A, d.B = q.Get("a"), q.Get("b")
	if d.A == "" && d.B == "" && len(vs) > 1 {
		d.A, d.B = vs[len(vs)-2].Version, vs[len(vs)-1].Version
	}
	if d.A != "" || d.B != "" {
		ma, mb := byVersion[d.A], byVersion[d.B]
		for _, p := range []struct {
			field, v string
			m        *model.Model
		}{{"a", d.A, ma}, {"b", d.B, mb}} {
			if p.m == nil {
				return &pageError{Status: http.StatusBadRequest, Field: p.field,
					Message: p.field + " must be a registered model version (" + strings.Join(d.Versions, ", ") + "), not " + strconv.Quote(p.v) + "."}
			}
		}
		diff, err := model.Diff(&ma.File, &mb.File)
		if err != nil {
			return &pageError{Status: http.StatusInternalServerError, Message: "The two models cannot be compared: " + err.Error()}
		}
		d.Diff = diff
	}
	c.render(w, r, http.StatusOK, "model", page{Title: "Model", Nav: "model"}, d)
	return nil
}

type effectivenessData struct {
	Versions []string
	A, B     string
	Since    string
	Until    string
	Reports  []effReport
	Rows     []effRow
}

type effReport struct {
	Version string
	R       *report.Effectiveness
	Missing string
	Grades  Chart
	Stages  Chart
}

// effRow is one line of the side-by-side table.
type effRow struct {
	What   string
	Values []string
}

func (c *Console) effectiveness(w http.ResponseWriter, r *http.Request) *pageError {
	q := r.URL.Query()
	d := effectivenessData{A: cmp.Or(q.Get("a"), c.m.Version), B: q.Get("b"), Since: q.Get("since"), Until: q.Get("until")}
	if c.reportVersions != nil {
		vs, err := c.reportVersions(r.Context())
		if err != nil {
			return &pageError{Status: http.StatusServiceUnavailable, Message: "The report counters are unreadable; retry later."}
		}
		d.Versions = vs
	}
	// Registered versions without a report yet are offered too: the page
	// says there is none rather than hiding the version.
	d.Versions = append(d.Versions, c.m.Version)
	if c.models != nil {
		files, err := c.models(r.Context())
		if err != nil {
			return &pageError{Status: http.StatusServiceUnavailable, Message: "The model registry is unreadable; retry later."}
		}
		for v := range files {
			d.Versions = append(d.Versions, v)
		}
	}
	slices.SortFunc(d.Versions, compareVersions)
	d.Versions = slices.Compact(d.Versions)
	for _, v := range []string{d.A, d.B} {
		if v == "" {
			continue
		}
		rep := effReport{Version: v}
		args := url.Values{"model": {v}}
		if d.Since != "" {
			args.Set("since", d.Since)
		}
		if d.Until != "" {
			args.Set("until", d.Until)
		}
		var e report.Effectiveness
		switch err := c.get(r.Context(), "/v1/reports/effectiveness", args, &e); {
		case err == nil:
			rep.R = &e
			rep.Grades = bars("Contacts per grade, model "+v, grades, func(k string) int64 { return e.ByGrade[k].Contacts })
			rep.Stages = bars("Contacts per stage, model "+v, stages, func(k string) int64 { return e.ByStage[k].Contacts })
		case err.Status == http.StatusNotFound && err.Field == "model":
			rep.Missing = "No report for model version " + strconv.Quote(v) + ": no contact has been scored with it."
		default:
			return err
		}
		d.Reports = append(d.Reports, rep)
	}
	d.Rows = effRows(d.Reports)
	c.render(w, r, http.StatusOK, "effectiveness", page{Title: "Effectiveness", Nav: "effectiveness"}, d)
	return nil
}

// effRows lays the reports side by side, a row per measure.
func effRows(reps []effReport) []effRow {
	measures := []struct {
		what string
		f    func(*report.Effectiveness) string
	}{
		{"Contacts scored now", func(e *report.Effectiveness) string { return strconv.FormatInt(e.Contacts, 10) }},
		{"MQL now", func(e *report.Effectiveness) string { return strconv.FormatInt(e.MQLNow, 10) }},
		{"AQL now", func(e *report.Effectiveness) string { return strconv.FormatInt(e.AQLNow, 10) }},
		{"New MQLs in the window", func(e *report.Effectiveness) string { return strconv.FormatInt(e.MQLs, 10) }},
		{"New AQLs in the window", func(e *report.Effectiveness) string { return strconv.FormatInt(e.AQLs, 10) }},
		{"Opportunities", func(e *report.Effectiveness) string { return strconv.FormatInt(e.Opportunities, 10) }},
		{"MQL → opportunity", func(e *report.Effectiveness) string { return e.MQLToOpp.String() }},
		{"AQL → opportunity", func(e *report.Effectiveness) string { return e.AQLToOpp.String() }},
		{"Opportunity → won", func(e *report.Effectiveness) string { return e.OppToWon.String() }},
		{"Days MQL → opportunity (median)", func(e *report.Effectiveness) string { return days(e.DaysMQLToOpp.Median) }},
		{"Days AQL → opportunity (median)", func(e *report.Effectiveness) string { return days(e.DaysAQLToOpp.Median) }},
	}
	var rows []effRow
	for _, m := range measures {
		row := effRow{What: m.what}
		for _, rep := range reps {
			v := "—"
			if rep.R != nil {
				v = m.f(rep.R)
			}
			row.Values = append(row.Values, v)
		}
		rows = append(rows, row)
	}
	return rows
}

func days(f *float64) string {
	if f == nil {
		return "—"
	}
	return strconv.FormatFloat(*f, 'f', 1, 64)
}
