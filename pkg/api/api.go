package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/leadscore/leads/pkg/httperr"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/report"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
)

// Reader is what the API reads; *store.Store implements it.
type Reader interface {
	Contact(ctx context.Context, id string) (*scoring.Contact, string, error)
	ContactByEmail(ctx context.Context, email string) (string, error)
	Account(ctx context.Context, id string) (*scoring.Account, error)
	History(ctx context.Context, contactID string, limit int) ([]scoring.Entry, error)
	Leaderboard(ctx context.Context, by string, limit int) ([]store.Ranked, error)
	Filtered(ctx context.Context, filters []store.Filter, limit int, after *store.Ranked, scan int) (*store.Matching, error)
	Report(ctx context.Context, version string) (map[string]string, error)
}

// API serves the read endpoints.
type API struct {
	r      Reader
	engine *scoring.Engine
	log    *zap.Logger
	now    func() time.Time
}

// New returns the read API. The engine's model explains AQL gates.
func New(r Reader, engine *scoring.Engine, log *zap.Logger) *API {
	return &API{r: r, engine: engine, log: log, now: time.Now}
}

// Handler serves the endpoints, and answers other paths and methods with
// the error shape's 404 and 405 (see httperr.Handler).
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	a.Register(mux)
	return httperr.Handler(mux)
}

// Register mounts the endpoints on mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/contacts", a.contactByEmail)
	mux.HandleFunc("GET /v1/contacts/{id}", a.contact)
	mux.HandleFunc("GET /v1/contacts/{id}/history", a.history)
	mux.HandleFunc("GET /v1/accounts/{id}", a.account)
	mux.HandleFunc("GET /v1/leaderboard", a.leaderboard)
	mux.HandleFunc("GET /v1/model", a.model)
	mux.HandleFunc("GET /v1/reports/effectiveness", a.effectiveness)
}

// effectiveness serves the report of ?model= (default: the model in use)
// over ?since= and ?until= (YYYY-MM-DD, inclusive; default: all time). A
// window that cannot be is refused before Redis is read.
func (a *API) effectiveness(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	since, until := q.Get("since"), q.Get("until")
	var we *report.WindowError
	if err := report.CheckWindow(since, until); errors.As(err, &we) {
		httperr.WriteField(w, http.StatusBadRequest, we.Field, we.Error())
		return
	}
	version := q.Get("model")
	if version == "" {
		version = a.engine.Model().Version
	}
	fields, err := a.r.Report(r.Context(), version)
	if err != nil {
		a.fail(w, err)
		return
	}
	if len(fields) == 0 {
		httperr.WriteField(w, http.StatusNotFound, "model", "no report for model version "+strconv.Quote(version))
		return
	}
	rep, err := report.Compute(version, fields, since, until)
	if err != nil {
		// The window was checked: the counters themselves do not parse.
		a.log.Error("report counters do not parse", zap.String("model_version", version), zap.Error(err))
		httperr.Write(w, http.StatusInternalServerError, "the report counters of model version "+strconv.Quote(version)+" do not parse")
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// Model is the model resource: which model scores, and when it is due for
// review (60 days after its first version, then every 90 days).
type Model struct {
	Version string `json:"version"`
	Name    string `json:"name"`
	model.Review
	ReviewOverdue bool           `json:"review_overdue"`
	Rules         int            `json:"rules"`
	Changelog     []model.Change `json:"changelog"`
	// Suggestion is the version `scorer model suggest --announce`
	// proposed to follow this one, waiting for a person (absent when none
	// is, or when it was made for another version).
	Suggestion *store.Suggestion `json:"suggestion,omitempty"`
}

// suggestions is a Reader that also knows the waiting suggestion
// (*store.Store does).
type suggestions interface {
	Suggestion(ctx context.Context) (*store.Suggestion, error)
}

func (a *API) model(w http.ResponseWriter, r *http.Request) {
	m := a.engine.Model()
	rev := m.File.Review()
	out := Model{Version: m.Version, Name: m.File.Name, Review: rev, ReviewOverdue: rev.Overdue(a.now()),
		Rules: len(m.File.Rules), Changelog: m.File.Changelog}
	if sr, ok := a.r.(suggestions); ok {
		// The model is known without Redis: an unreadable suggestion
		// leaves it out rather than failing the answer.
		s, err := sr.Suggestion(r.Context())
		switch {
		case err != nil:
			a.log.Warn("the waiting suggestion is unreadable", zap.Error(err))
		case s.Waits(m.Version):
			out.Suggestion = s
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// Contact is the contact resource.
type Contact struct {
	ContactID      string           `json:"contact_id"`
	AccountID      string           `json:"account_id,omitempty"`
	Score          int32            `json:"score"`
	Behavior       int32            `json:"behavior"`
	Fit            int32            `json:"fit"`
	Grade          string           `json:"grade"`
	Stage          string           `json:"stage"`
	MQL            bool             `json:"mql"`
	AQL            bool             `json:"aql"`
	AQLGates       Gates            `json:"aql_gates"`
	Dormant        bool             `json:"dormant"`
	Title          string           `json:"title,omitempty"`
	Products       map[string]int32 `json:"products"`
	LastEngagement *time.Time       `json:"last_engagement,omitempty"`
	Events         int32            `json:"events"`
	ModelVersion   string           `json:"model_version"`
	// Nurture is the contact's nurture program; Content the content that
	// suits its stage.
	Nurture  string   `json:"nurture"`
	Content  []string `json:"content"`
	Outcomes Outcomes `json:"outcomes"`
	// Merged are the contacts merged into this one (an anonymous visitor
	// identified as it, a duplicate), whose history is part of its own.
	Merged []string `json:"merged,omitempty"`
}

// Outcomes are what sales made of a contact.
type Outcomes struct {
	FirstMQL     *time.Time `json:"first_mql,omitempty"`
	FirstAQL     *time.Time `json:"first_aql,omitempty"`
	Opportunity  *time.Time `json:"opportunity,omitempty"`
	Won          bool       `json:"won"`
	Lost         bool       `json:"lost"`
	FeedbackGood int32      `json:"feedback_good"`
	FeedbackBad  int32      `json:"feedback_bad"`
}

func unixPtr(t int64) *time.Time {
	if t == 0 {
		return nil
	}
	u := time.Unix(t, 0).UTC()
	return &u
}

// Gates are AQL's three gates for a contact: it is a target contact, its
// behavior score reaches thresholds.aql.behavior, and its account's fit (the
// firmographic score, not the account score with engagement) reaches
// thresholds.aql.account.
type Gates struct {
	TargetContact bool `json:"target_contact"`
	Behavior      bool `json:"behavior"`
	Account       bool `json:"account"`
}

// contactByEmail serves the contact last seen with ?email= (the lookup
// keeps a hash of the address, not the address: store.EmailHash).
func (a *API) contactByEmail(w http.ResponseWriter, r *http.Request) {
	email := r.URL.Query().Get("email")
	if !strings.Contains(email, "@") {
		httperr.WriteField(w, http.StatusBadRequest, "email", "an email address is required")
		return
	}
	id, err := a.r.ContactByEmail(r.Context(), email)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			httperr.WriteField(w, http.StatusNotFound, "email", "no contact has been seen with this address")
			return
		}
		a.fail(w, err)
		return
	}
	a.serveContact(w, r, id)
}

func (a *API) contact(w http.ResponseWriter, r *http.Request) {
	a.serveContact(w, r, r.PathValue("id"))
}

func (a *API) serveContact(w http.ResponseWriter, r *http.Request, id string) {
	c, home, err := a.r.Contact(r.Context(), id)
	if err != nil {
		a.fail(w, err)
		return
	}
	if c.MergedInto != "" {
		mergedInto(w, r, c.MergedInto, "")
		return
	}
	acct := &scoring.Account{}
	if id := scoring.AccountOfHome(home); id != "" {
		if acct, err = a.r.Account(r.Context(), id); errors.Is(err, store.ErrNotFound) {
			acct = &scoring.Account{ID: id}
		} else if err != nil {
			a.fail(w, err)
			return
		}
	}
	target, behavior, account := a.engine.Gates(acct, c)
	out := Contact{ContactID: c.ID, AccountID: c.AccountID, Score: c.Score(), Behavior: c.Behavior, Fit: c.Fit,
		Grade: c.Grade, Stage: c.Stage.String(), MQL: c.MQL, AQL: c.AQL, AQLGates: Gates{target, behavior, account},
		Dormant: c.Dormant, Title: c.Title, Products: map[string]int32{}, Events: c.Events, ModelVersion: c.Model,
		Nurture: c.Nurture, Content: model.ContentTiers[c.Stage],
		Outcomes: Outcomes{FirstMQL: unixPtr(c.MQLAt), FirstAQL: unixPtr(c.AQLAt), Opportunity: unixPtr(c.OppAt),
			Won: c.Won, Lost: c.Lost, FeedbackGood: c.Good, FeedbackBad: c.Bad}, Merged: c.Merged}
	for _, p := range c.Products {
		out.Products[p.Name] = p.Score
	}
	if c.LastEngaged > 0 {
		t := time.Unix(c.LastEngaged, 0).UTC()
		out.LastEngagement = &t
	}
	writeJSON(w, http.StatusOK, out)
}

// Entry is one ledger line of the history resource.
type Entry struct {
	Time     time.Time `json:"time"`
	Cause    string    `json:"cause"`
	Kind     string    `json:"kind"`
	Rule     string    `json:"rule"`
	Points   int32     `json:"points"`
	Product  string    `json:"product,omitempty"`
	Reason   string    `json:"reason"`
	Score    int32     `json:"score"`
	Behavior int32     `json:"behavior"`
	Fit      int32     `json:"fit"`
	// MergedFrom names the contact a line was written for, when it is one
	// merged into this contact since.
	MergedFrom string `json:"merged_from,omitempty"`
}

// mergedFrom is a history line's contact when it is not the contact asked.
func mergedFrom(line, asked string) string {
	if line == asked {
		return ""
	}
	return line
}

// mergedInto sends a client asking for a merged contact to the contact it
// merged into (the same resource, suffix, of that contact).
func mergedInto(w http.ResponseWriter, r *http.Request, heir, suffix string) {
	u := url.URL{Path: "/v1/contacts/" + heir + suffix, RawPath: "/v1/contacts/" + url.PathEscape(heir) + suffix, RawQuery: r.URL.RawQuery}
	http.Redirect(w, r, u.String(), http.StatusPermanentRedirect)
}

func (a *API) history(w http.ResponseWriter, r *http.Request) {
	// As many lines as the model keeps (ledger.keep) may be asked for.
	limit, ok := intParam(w, r, "limit", 100, 1, max(a.engine.Model().LedgerKeep, store.DefaultLedgerMax))
	if !ok {
		return
	}
	id := r.PathValue("id")
	entries, err := a.r.History(r.Context(), id, limit)
	var merged *store.MergedError
	if errors.As(err, &merged) {
		mergedInto(w, r, merged.Into, "/history")
		return
	}
	if err != nil {
		a.fail(w, err)
		return
	}
	out := struct {
		ContactID string  `json:"contact_id"`
		Entries   []Entry `json:"entries"`
	}{ContactID: id, Entries: make([]Entry, 0, len(entries))}
	for _, e := range entries {
		out.Entries = append(out.Entries, Entry{Time: time.Unix(e.Time, 0).UTC(), Cause: e.Cause, Kind: e.Kind, Rule: e.Rule,
			Points: e.Points, Product: e.Product, Reason: e.Reason, Score: e.Score, Behavior: e.Behavior, Fit: e.Fit,
			MergedFrom: mergedFrom(e.ContactID, id)})
	}
	writeJSON(w, http.StatusOK, out)
}

// Account is the account resource.
type Account struct {
	AccountID    string          `json:"account_id"`
	Name         string          `json:"name,omitempty"`
	Score        int32           `json:"score"`
	Fit          int32           `json:"fit"`
	Engagement   int32           `json:"engagement"`
	MQA          bool            `json:"mqa"`
	Tier         string          `json:"tier,omitempty"`
	ContactCount int             `json:"contact_count"`
	TopContacts  []TopMember     `json:"top_contacts"`
	ModelVersion string          `json:"model_version"`
	Outcomes     AccountOutcomes `json:"outcomes"`
}

// AccountOutcomes are what sales made of an account's contacts.
type AccountOutcomes struct {
	FirstOpportunity *time.Time `json:"first_opportunity,omitempty"`
	// MQAAtFirstOpportunity is the account's MQA status then.
	MQAAtFirstOpportunity bool  `json:"mqa_at_first_opportunity"`
	Opportunities         int32 `json:"opportunities"`
	Won                   int32 `json:"won"`
	Lost                  int32 `json:"lost"`
}

// TopMember is a contact of an account by behavior.
type TopMember struct {
	ContactID string `json:"contact_id"`
	Behavior  int32  `json:"behavior"`
}

func (a *API) account(w http.ResponseWriter, r *http.Request) {
	acct, err := a.r.Account(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, err)
		return
	}
	top := make([]TopMember, 0, len(acct.Members))
	for id, b := range acct.Members {
		top = append(top, TopMember{ContactID: id, Behavior: b})
	}
	slices.SortFunc(top, func(x, y TopMember) int {
		if x.Behavior != y.Behavior {
			return int(y.Behavior - x.Behavior)
		}
		return compareStrings(x.ContactID, y.ContactID)
	})
	writeJSON(w, http.StatusOK, Account{AccountID: acct.ID, Name: acct.Name, Score: acct.Score(), Fit: acct.Fit,
		Engagement: acct.Engagement, MQA: acct.MQA, Tier: acct.Tier, ContactCount: len(acct.Members),
		TopContacts: top[:min(len(top), 5)], ModelVersion: acct.Model,
		Outcomes: AccountOutcomes{FirstOpportunity: unixPtr(acct.FirstOppAt), MQAAtFirstOpportunity: acct.MQAAtFirstOpp,
			Opportunities: acct.Opportunities, Won: acct.Won, Lost: acct.Lost}})
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// FilterScan is how many board entries a filtered leaderboard reads at
// most for one answer (see store.Filtered): as many as the contact
// leaderboard holds.
const FilterScan = store.DefaultLeaderboardSize

// Filtered is the answer of a filtered contact leaderboard.
type Filtered struct {
	By    string         `json:"by"`
	Items []store.Ranked `json:"items"`
	// Filter is the filter of an answer with one, as before filters
	// combined.
	Filter  *store.Filter  `json:"filter,omitempty"`
	Filters []store.Filter `json:"filters"`
	// Complete, Scanned, Next and IndexedTo are store.Matching's; Next
	// as a cursor for ?after=.
	Complete  bool          `json:"complete"`
	Scanned   int           `json:"scanned"`
	Next      string        `json:"next,omitempty"`
	IndexedTo *store.Ranked `json:"indexed_to,omitempty"`
}

func (a *API) leaderboard(w http.ResponseWriter, r *http.Request) {
	by := r.URL.Query().Get("by")
	if by == "" {
		by = "contact"
	}
	if by != "contact" && by != "account" {
		httperr.WriteField(w, http.StatusBadRequest, "by", "must be contact or account")
		return
	}
	limit, ok := intParam(w, r, "limit", 10, 1, 1000)
	if !ok {
		return
	}
	filters, after, err := FiltersOf(r.URL.Query(), by)
	var fe *FilterError
	if errors.As(err, &fe) {
		httperr.WriteField(w, http.StatusBadRequest, fe.Field, fe.Reason)
		return
	}
	if len(filters) == 0 {
		items, err := a.r.Leaderboard(r.Context(), by, limit)
		if err != nil {
			a.fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"by": by, "items": items})
		return
	}
	m, err := a.r.Filtered(r.Context(), filters, limit, after, FilterScan)
	if err != nil {
		a.fail(w, err)
		return
	}
	out := Filtered{By: by, Items: m.Items, Filters: filters, Complete: m.Complete, Scanned: m.Scanned, IndexedTo: m.IndexedTo}
	if len(filters) == 1 {
		out.Filter = &filters[0]
	}
	if m.Next != nil {
		out.Next = Cursor(*m.Next)
	}
	writeJSON(w, http.StatusOK, out)
}

// FilterError is a leaderboard query that cannot be read: the parameter
// and why.
type FilterError struct{ Field, Reason string }

func (e *FilterError) Error() string { return e.Field + ": " + e.Reason }

// leaderboardParams are the parameters of GET /v1/leaderboard besides the
// filters: any other is refused, so that a misspelt filter does not pass
// for the whole board.
var leaderboardParams = []string{"by", "limit", "after"}

// FiltersOf reads the filters of a leaderboard query (?grade=, ?stage=,
// ?nurture=, ?product=, ?mql=true, ?aql=true; different fields combine:
// a contact passes every one) and where to go on from (?after=, a cursor
// of an earlier answer). A field given twice is refused: a contact has
// one grade, stage and nurture category, and "analytics or crm" and
// "analytics and crm" would read alike. The error is a *FilterError.
func FiltersOf(q url.Values, by string) ([]store.Filter, *store.Ranked, error) {
	var fs []store.Filter
	for name := range q {
		if !slices.Contains(store.FilterFields, name) && !slices.Contains(leaderboardParams, name) {
			return nil, nil, &FilterError{name, "unknown parameter: the leaderboard takes " + strings.Join(leaderboardParams, ", ") +
				" and the filters " + strings.Join(store.FilterFields, ", ")}
		}
	}
	for _, field := range store.FilterFields {
		vs, ok := q[field]
		if !ok {
			continue
		}
		v := vs[0]
		switch {
		case by != "contact":
			return nil, nil, &FilterError{field, "only the contact leaderboard is filtered"}
		case len(vs) > 1:
			return nil, nil, &FilterError{field, "give one " + field + ": different fields combine (a contact passes every one), one field's values do not"}
		case len(v) == 0 || len(v) > 128:
			return nil, nil, &FilterError{field, "must be 1 to 128 characters"}
		case (field == store.FilterMQL || field == store.FilterAQL) && v != "true":
			return nil, nil, &FilterError{field, "must be true"}
		case field == store.FilterStage && !slices.Contains(stages, v):
			return nil, nil, &FilterError{field, "must be one of " + strings.Join(stages, ", ")}
		case field == store.FilterNurture && !slices.Contains(model.NurtureCategories, v):
			return nil, nil, &FilterError{field, "must be one of " + strings.Join(model.NurtureCategories, ", ")}
		}
		fs = append(fs, store.Filter{Field: field, Value: v})
	}
	s, ok := q["after"]
	if !ok {
		return fs, nil, nil
	}
	if len(fs) == 0 {
		return nil, nil, &FilterError{"after", "continues a filtered leaderboard: give its filters too"}
	}
	after, err := ParseCursor(s[0])
	if err != nil {
		return nil, nil, &FilterError{"after", err.Error()}
	}
	return fs, &after, nil
}

// stages are the stages a contact can be at.
var stages = []string{model.Early.String(), model.Mid.String(), model.Late.String()}

// Cursor is where a filtered leaderboard goes on from: a score and an id,
// as "score:id".
func Cursor(r store.Ranked) string { return strconv.FormatInt(r.Score, 10) + ":" + r.ID }

// ParseCursor reads a Cursor.
func ParseCursor(s string) (store.Ranked, error) {
	score, id, ok := strings.Cut(s, ":")
	n, err := strconv.ParseInt(score, 10, 64)
	if !ok || err != nil || id == "" {
		return store.Ranked{}, errors.New("must be the next of an earlier answer (score:id)")
	}
	return store.Ranked{ID: id, Score: n}, nil
}

func intParam(w http.ResponseWriter, r *http.Request, name string, def, lo, hi int) (int, bool) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		httperr.WriteField(w, http.StatusBadRequest, name, "must be an integer from "+strconv.Itoa(lo)+" to "+strconv.Itoa(hi))
		return 0, false
	}
	return n, true
}

func (a *API) fail(w http.ResponseWriter, err error) {
	if errors.Is(err, store.ErrNotFound) {
		httperr.Write(w, http.StatusNotFound, err.Error())
		return
	}
	// The store's errors name the contact or account, which may be an
	// email address: log only what went wrong underneath.
	cause := err
	if inner := errors.Unwrap(err); inner != nil {
		cause = inner
	}
	a.log.Warn("read failed", zap.Error(cause))
	w.Header().Set("Retry-After", "1")
	httperr.Write(w, http.StatusServiceUnavailable, "state store unavailable; retry later")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
