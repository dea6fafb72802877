package console

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/leadscore/leads/pkg/api"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/report"
	"github.com/leadscore/leads/pkg/store"
)

// stages and grades in the order the pages list them.
var (
	stages = []string{"early", "mid", "late"}
	grades = []string{"A", "B", "C", "D", "E", "F"}
)

type overviewData struct {
	Model     api.Model
	Report    *report.Effectiveness
	NoReport  string
	Stages    Chart
	Grades    Chart
	Nurture   Chart
	TopByName []store.Ranked
	// Intake and Transitions are the hourly counts (store.Tally), when the
	// store keeps them; MQA the accounts MQA now (-1: not known).
	Intake, Transitions Chart
	MQA                 int64
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) *pageError {
	var d overviewData
	if err := c.get(r.Context(), "/v1/model", nil, &d.Model); err != nil {
		return err
	}
	var rep report.Effectiveness
	switch err := c.get(r.Context(), "/v1/reports/effectiveness", nil, &rep); {
	case err == nil:
		d.Report = &rep
		d.Stages = bars("Contacts per stage", stages, func(k string) int64 { return rep.ByStage[k].Contacts })
		d.Grades = bars("Contacts per grade", grades, func(k string) int64 { return rep.ByGrade[k].Contacts })
		var cats []string
		for k := range rep.Nurture {
			cats = append(cats, k)
		}
		slices.Sort(cats)
		d.Nurture = bars("Contacts per nurture category", cats, func(k string) int64 { return rep.Nurture[k] })
	case err.Status == http.StatusNotFound:
		d.NoReport = "No contact has been scored under model " + d.Model.Version + " yet."
	default:
		return err
	}
	d.MQA = -1
	if mc, ok := c.r.(interface {
		MQACount(ctx context.Context) (int64, error)
	}); ok {
		n, err := mc.MQACount(r.Context())
		if err != nil {
			return storeError("the MQA count", err)
		}
		d.MQA = n
	}
	if h, ok := c.r.(interface {
		Hourly(ctx context.Context, what string, until time.Time, hours int) ([]int64, error)
	}); ok {
		now := c.now()
		for _, chart := range []struct {
			what, title string
			into        *Chart
		}{{store.TallyIntake, "Events accepted per hour, last 24 hours", &d.Intake},
			{store.TallyTransitions, "Transitions published per hour, last 24 hours", &d.Transitions}} {
			counts, err := h.Hourly(r.Context(), chart.what, now, hourlyCharts)
			if err != nil {
				return storeError("the hourly counts", err)
			}
			// From the first hour that counted anything: a new deployment's
			// chart is a line, not a column of zeros.
			var keys []string
			by := map[string]int64{}
			for i, n := range counts {
				if n == 0 && len(keys) == 0 {
					continue
				}
				k := now.Truncate(time.Hour).Add(-time.Duration(len(counts)-1-i) * time.Hour).UTC().Format("Jan 2 15h")
				keys = append(keys, k)
				by[k] = n
			}
			*chart.into = bars(chart.title, keys, func(k string) int64 { return by[k] })
		}
	}
	c.render(w, r, http.StatusOK, "overview", page{Title: "Overview", Nav: "overview"}, d)
	return nil
}

// hourlyCharts is how many hours the overview's intake and transition
// charts show.
const hourlyCharts = 24

// leaderboardRow is a contact or an account of the leaderboard, with what
// the read API says of it.
type leaderboardRow struct {
	Rank    int
	Contact *api.Contact
	Account *api.Account
}

type leaderboardData struct {
	By    string
	Limit int
	Q     string
	// Filters are the contact filters asked for, one control each: a
	// contact is listed when it passes every one.
	Filters []filterControl
	// Filtered describes the filters in words ("grade is A, stage is
	// late"); empty when there are none.
	Filtered string
	// Complete, Scanned and IndexedTo are the read API's answer to a
	// filtered board; Next links to the following page.
	Complete  bool
	Scanned   int
	IndexedTo *store.Ranked
	Next      string
	Rows      []leaderboardRow
	// Limits offered in the form.
	Limits []int
}

// filterControl is one filter field's control on the leaderboard page: a
// select of the values a contact can have, or a checkbox for MQL and AQL.
type filterControl struct {
	Field, Label, Value string
	Options             []string
	Check               bool
}

// leaderboardLimits are the page sizes offered; any from 1 to
// maxLeaderboard may be asked for.
var leaderboardLimits = []int{25, 50, 100, 200}

const maxLeaderboard = 200

// rowFetchers is how many rows of a page are read at once.
const rowFetchers = 16

// filterControls are the filter controls of the leaderboard page with the
// values of q (and of the single field=, value= pair of older links).
func (c *Console) filterControls(q url.Values) ([]filterControl, *pageError) {
	products := []string{}
	for _, r := range c.m.Rules {
		if r.Product != "" && !slices.Contains(products, r.Product) {
			products = append(products, r.Product)
		}
	}
	slices.Sort(products)
	fs := []filterControl{
		{Field: store.FilterGrade, Label: "Grade", Options: grades},
		{Field: store.FilterStage, Label: "Stage", Options: stages},
		{Field: store.FilterNurture, Label: "Nurture", Options: model.NurtureCategories},
		{Field: store.FilterProduct, Label: "Product", Options: products},
		{Field: store.FilterMQL, Label: "MQL", Check: true},
		{Field: store.FilterAQL, Label: "AQL", Check: true},
	}
	if field := q.Get("field"); field != "" {
		if !slices.Contains(store.FilterFields, field) {
			return nil, &pageError{Status: http.StatusBadRequest, Field: "field",
				Message: "field must be one of " + strings.Join(store.FilterFields, ", ") + ", not " + strconv.Quote(field) + "."}
		}
		q = maps.Clone(q)
		q.Set(field, cmp.Or(strings.TrimSpace(q.Get("value")), "true"))
	}
	for i := range fs {
		f := &fs[i]
		f.Value = strings.TrimSpace(q.Get(f.Field))
		if f.Check && f.Value != "" {
			f.Value = "true"
		}
		// A value that is no option (a product of another model version)
		// is offered too, so that the form shows what is asked.
		if !f.Check && f.Value != "" && !slices.Contains(f.Options, f.Value) {
			f.Options = append(slices.Clip(f.Options), f.Value)
		}
	}
	return fs, nil
}

// filterQuery puts the filters that have a value into q.
func filterQuery(q url.Values, fs []filterControl) (words []string) {
	for _, f := range fs {
		if f.Value == "" {
			continue
		}
		q.Set(f.Field, f.Value)
		if f.Check {
			words = append(words, f.Label)
		} else {
			words = append(words, f.Field+" is "+f.Value)
		}
	}
	return words
}

func (c *Console) leaderboard(w http.ResponseWriter, r *http.Request) *pageError {
	q := r.URL.Query()
	d := leaderboardData{By: cmp.Or(q.Get("by"), "contact"), Limit: 50, Q: strings.TrimSpace(q.Get("q")), Limits: leaderboardLimits}
	if d.By != "contact" && d.By != "account" {
		return &pageError{Status: http.StatusBadRequest, Field: "by", Message: "by must be contact or account, not " + strconv.Quote(d.By) + "."}
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLeaderboard {
			return &pageError{Status: http.StatusBadRequest, Field: "limit",
				Message: "limit must be a whole number from 1 to " + strconv.Itoa(maxLeaderboard) + ", not " + strconv.Quote(s) + "."}
		}
		d.Limit = n
		// A size asked for in the address stays in the form.
		if !slices.Contains(d.Limits, n) {
			d.Limits = slices.Sorted(slices.Values(append(slices.Clip(d.Limits), n)))
		}
	}
	if d.Q != "" {
		return c.search(w, r, d.By, d.Q)
	}
	var perr *pageError
	if d.Filters, perr = c.filterControls(q); perr != nil {
		return perr
	}
	var board struct {
		Items     []store.Ranked `json:"items"`
		Complete  bool           `json:"complete"`
		Scanned   int            `json:"scanned"`
		Next      string         `json:"next"`
		IndexedTo *store.Ranked  `json:"indexed_to"`
	}
	query := url.Values{"by": {d.By}, "limit": {strconv.Itoa(d.Limit)}}
	if d.By == "contact" {
		d.Filtered = strings.Join(filterQuery(query, d.Filters), ", ")
	}
	if after := q.Get("after"); after != "" && d.Filtered != "" {
		query.Set("after", after)
	}
	if err := c.get(r.Context(), "/v1/leaderboard", query, &board); err != nil {
		if err.Field != "" && err.Status == http.StatusBadRequest {
			err.Message = err.Field + " " + err.Message + "."
		}
		return err
	}
	d.Complete, d.Scanned, d.IndexedTo = board.Complete, board.Scanned, board.IndexedTo
	if board.Next != "" {
		query.Set("after", board.Next)
		d.Next = "/ui/leaderboard?" + query.Encode()
	}
	rows := make([]leaderboardRow, len(board.Items))
	errs := make([]*pageError, len(board.Items))
	// A row is two or three Redis round trips: a few at a time, so that a
	// page of 200 takes as many round trips' time as a page of 25.
	var g errgroup.Group
	g.SetLimit(rowFetchers)
	for i, it := range board.Items {
		g.Go(func() error {
			rows[i].Rank = i + 1
			if d.By == "contact" {
				rows[i].Contact = &api.Contact{}
				errs[i] = c.get(r.Context(), "/v1/contacts/"+url.PathEscape(it.ID), nil, rows[i].Contact)
			} else {
				rows[i].Account = &api.Account{}
				errs[i] = c.get(r.Context(), "/v1/accounts/"+url.PathEscape(it.ID), nil, rows[i].Account)
			}
			return nil
		})
	}
	_ = g.Wait()
	for i := range rows {
		if err := errs[i]; err != nil && err.Status == http.StatusNotFound {
			continue // left the board since it was read
		} else if err != nil {
			return err
		}
		d.Rows = append(d.Rows, rows[i])
	}
	c.render(w, r, http.StatusOK, "leaderboard", page{Title: "Leaderboard of " + d.By + "s", Nav: "leaderboard"}, d)
	return nil
}

// search goes to the contact or account with the id q: the kind the
// leaderboard shows first, then the other.
func (c *Console) search(w http.ResponseWriter, r *http.Request, by, q string) *pageError {
	kinds := []string{"contact", "account"}
	if by == "account" {
		slices.Reverse(kinds)
	}
	for _, kind := range kinds {
		var err error
		if kind == "contact" {
			_, _, err = c.r.Contact(r.Context(), q)
		} else {
			_, err = c.r.Account(r.Context(), q)
		}
		if err == nil {
			http.Redirect(w, r, "/ui/"+kind+"s/"+url.PathEscape(q), http.StatusSeeOther)
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return storeError(kind+" "+strconv.Quote(q), err)
		}
	}
	return &pageError{Status: http.StatusNotFound, Field: "q", Message: "There is no contact or account with the id " + strconv.Quote(q) + "."}
}

type contactData struct {
	C        api.Contact
	Versions []string
	WhatIf   *whatIf
	History  []api.Entry
	Chart    Chart
	Gates    []gate
	Product  []productScore
}

type productScore struct {
	Name  string
	Score int32
}

// gate is one of AQL's gates for a contact: whether it passes, and what it
// lacks when it does not.
type gate struct {
	Name    string
	Pass    bool
	Detail  string
	Missing string
}

func (c *Console) contact(w http.ResponseWriter, r *http.Request) *pageError {
	id := r.PathValue("id")
	var d contactData
	if err := c.get(r.Context(), "/v1/contacts/"+url.PathEscape(id), nil, &d.C); err != nil {
		if heir, ok := strings.CutPrefix(err.Location, "/v1/contacts/"); ok && err.Status == http.StatusPermanentRedirect {
			// A contact merged into another: the page of the one it
			// became (the API's location keeps the id escaped).
			http.Redirect(w, r, "/ui/contacts/"+heir, http.StatusSeeOther)
			return nil
		}
		if err.Status == http.StatusNotFound {
			err.Message = "There is no contact with the id " + strconv.Quote(id) + "."
		}
		return err
	}
	var h struct {
		Entries []api.Entry `json:"entries"`
	}
	if err := c.get(r.Context(), "/v1/contacts/"+url.PathEscape(id)+"/history", url.Values{"limit": {strconv.Itoa(store.DefaultLedgerMax)}}, &h); err != nil {
		return err
	}
	d.History = h.Entries
	d.Chart = scoreChart(h.Entries)
	for name, s := range d.C.Products {
		d.Product = append(d.Product, productScore{name, s})
	}
	slices.SortFunc(d.Product, func(a, b productScore) int { return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.Name, b.Name)) })
	gates, err := c.gates(r, id, d.C)
	if err != nil {
		return err
	}
	d.Gates = gates
	vs, _, perr := c.versions(r)
	if perr != nil {
		return perr
	}
	for _, m := range vs {
		d.Versions = append(d.Versions, m.Version)
	}
	if v := r.URL.Query().Get("model"); v != "" {
		if d.WhatIf, perr = c.whatIf(r, id, h.Entries, v); perr != nil {
			return perr
		}
	}
	c.render(w, r, http.StatusOK, "contact", page{Title: "Contact " + id, Nav: "leaderboard"}, d)
	return nil
}

// gates explains AQL's three gates with the model's thresholds and the
// stored profile: the read API says whether each passes, this says why.
func (c *Console) gates(r *http.Request, id string, ac api.Contact) ([]gate, *pageError) {
	sc, _, err := c.r.Contact(r.Context(), id)
	if err != nil {
		return nil, storeError("contact "+strconv.Quote(id), err)
	}
	target := gate{Name: "Target contact", Pass: ac.AQLGates.TargetContact}
	var missing []string
	if !sc.TargetTitle {
		if sc.Title == "" {
			missing = append(missing, "a job title")
		} else {
			missing = append(missing, "a target job title (has "+strconv.Quote(sc.Title)+")")
		}
	}
	for _, bits := range c.m.TargetRequired {
		if sc.Fields&bits == 0 {
			missing = append(missing, fieldNames(bits))
		}
	}
	target.Detail = "job title matches a target title, and the profile has the fields the model requires"
	target.Missing = strings.Join(missing, "; ")
	behavior := gate{Name: "Behavior", Pass: ac.AQLGates.Behavior,
		Detail: "behavior " + itoa(ac.Behavior) + " of the " + strconv.Itoa(c.m.AQL.Behavior) + " needed"}
	if !behavior.Pass {
		behavior.Missing = itoa(int32(c.m.AQL.Behavior)-ac.Behavior) + " more behavior points"
	}
	account := gate{Name: "Account fit", Pass: ac.AQLGates.Account}
	switch {
	case ac.AccountID == "":
		account.Detail, account.Missing = "the contact belongs to no account", "an account"
	default:
		a, err := c.r.Account(r.Context(), ac.AccountID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			account.Detail, account.Missing = "the account has not been scored", "the account's firmographics"
		case err != nil:
			return nil, storeError("account", err)
		default:
			account.Detail = "account fit " + itoa(a.Fit) + " of the " + strconv.Itoa(c.m.AQL.Account) + " needed"
			if !account.Pass {
				account.Missing = itoa(int32(c.m.AQL.Account)-a.Fit) + " more account fit points (firmographics: marketing cannot move these)"
			}
		}
	}
	return []gate{target, behavior, account}, nil
}

// fieldNames names the profile fields of one requirement (any of them).
func fieldNames(bits uint8) string {
	var names []string
	for name, b := range model.FieldBits {
		if bits&b != 0 {
			names = append(names, strings.ReplaceAll(name, "_", " "))
		}
	}
	slices.Sort(names)
	return strings.Join(names, " or ")
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

type accountData struct {
	A       api.Account
	Name    string
	Firmo   []fact
	Members []member
	More    int
	// Fit is each account-fit rule of the model in use, matched or not;
	// FitSum the points of those matched, FitModel the version scoring.
	Fit      []fitRule
	FitSum   int
	FitModel string
}

// fitRule is one account-fit rule against an account.
type fitRule struct {
	ID, Field string
	Points    int
	Matched   bool
}

type fact struct{ Name, Value string }

type member struct {
	ID       string
	Behavior int32
	Contact  *api.Contact
}

// maxMembers is how many of an account's members its page lists, by
// behavior.
const maxMembers = 100

func (c *Console) account(w http.ResponseWriter, r *http.Request) *pageError {
	id := r.PathValue("id")
	var d accountData
	if err := c.get(r.Context(), "/v1/accounts/"+url.PathEscape(id), nil, &d.A); err != nil {
		if err.Status == http.StatusNotFound {
			err.Message = "There is no account with the id " + strconv.Quote(id) + "."
		}
		return err
	}
	sa, err := c.r.Account(r.Context(), id)
	if err != nil {
		return storeError("account "+strconv.Quote(id), err)
	}
	d.Firmo = []fact{{"Employees", num(sa.Employees)}, {"Revenue", num(sa.Revenue)}, {"Industry", sa.Industry},
		{"Country", sa.Country}, {"Technologies", strings.Join(sa.Technologies, ", ")}, {"Tier", sa.Tier},
		{"Competitor", yesNo(sa.Competitor)}}
	d.FitModel = c.m.Version
	for i := range c.m.AccountFit {
		rule := &c.m.AccountFit[i]
		ok := sa.Matches(rule)
		d.Fit = append(d.Fit, fitRule{ID: rule.ID, Field: rule.Field, Points: rule.Points, Matched: ok})
		if ok {
			d.FitSum += rule.Points
		}
	}
	for mid, b := range sa.Members {
		d.Members = append(d.Members, member{ID: mid, Behavior: b})
	}
	slices.SortFunc(d.Members, func(a, b member) int { return cmp.Or(cmp.Compare(b.Behavior, a.Behavior), strings.Compare(a.ID, b.ID)) })
	if len(d.Members) > maxMembers {
		d.More = len(d.Members) - maxMembers
		d.Members = d.Members[:maxMembers]
	}
	var g errgroup.Group
	g.SetLimit(rowFetchers)
	for i := range d.Members {
		g.Go(func() error {
			ac := &api.Contact{}
			if err := c.get(r.Context(), "/v1/contacts/"+url.PathEscape(d.Members[i].ID), nil, ac); err == nil {
				d.Members[i].Contact = ac
			}
			return nil
		})
	}
	_ = g.Wait()
	c.render(w, r, http.StatusOK, "account", page{Title: "Account " + id, Nav: "leaderboard"}, d)
	return nil
}

func num(f float64) string {
	if f == 0 {
		return ""
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// funcs are the templates' helpers. The URLs escape ids as path segments:
// an id is opaque text and may hold '/', '?' or markup.
var funcs = map[string]any{
	"contactURL": func(id string) string { return "/ui/contacts/" + url.PathEscape(id) },
	"accountURL": func(id string) string { return "/ui/accounts/" + url.PathEscape(id) },
	"yesno":      yesNo,
	"when": func(t *time.Time) string {
		if t == nil {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04")
	},
	"at":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
	"pct": func(f *float64) string { return pct(f) },
}

func pct(f *float64) string {
	if f == nil {
		return "—"
	}
	return strconv.FormatFloat(100**f, 'f', 1, 64) + "%"
}
