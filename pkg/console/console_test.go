package console

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/leadscore/leads/pkg/api"
	"github.com/leadscore/leads/pkg/auth"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
)

// fakeStore serves the read API and the console from memory.
type fakeStore struct {
	contacts map[string]*scoring.Contact
	accounts map[string]*scoring.Account
}

func (f *fakeStore) ContactByEmail(context.Context, string) (string, error) {
	return "", fmt.Errorf("email: %w", store.ErrNotFound)
}

func (f *fakeStore) Contact(_ context.Context, id string) (*scoring.Contact, string, error) {
	c, ok := f.contacts[id]
	if !ok {
		return nil, "", fmt.Errorf("contact %q: %w", id, store.ErrNotFound)
	}
	return c, scoring.HomeID(c.AccountID, id), nil
}

func (f *fakeStore) Account(_ context.Context, id string) (*scoring.Account, error) {
	a, ok := f.accounts[id]
	if !ok {
		return nil, fmt.Errorf("account %q: %w", id, store.ErrNotFound)
	}
	return a, nil
}

func (f *fakeStore) History(_ context.Context, id string, _ int) ([]scoring.Entry, error) {
	c, ok := f.contacts[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	out := []scoring.Entry{{ContactID: id, Time: 1700000000, Cause: "e-1", Kind: "behavior", Rule: "manual", Points: 5, Reason: "<b>why</b>", Score: 5, Behavior: 5}}
	for _, m := range c.Merged {
		out = append(out, scoring.Entry{ContactID: m, Time: 1690000000, Cause: "e-0", Kind: "behavior", Rule: "manual", Points: 90,
			Reason: "visited", Score: 90, Behavior: 90})
	}
	return out, nil
}

func (f *fakeStore) Leaderboard(_ context.Context, by string, _ int) ([]store.Ranked, error) {
	var out []store.Ranked
	if by == "contact" {
		for id, c := range f.contacts {
			out = append(out, store.Ranked{ID: id, Score: int64(c.Score())})
		}
	}
	return out, nil
}

// Filtered is every contact that passes, by score then id.
func (f *fakeStore) Filtered(_ context.Context, filters []store.Filter, limit int, _ *store.Ranked, _ int) (*store.Matching, error) {
	m := &store.Matching{Items: []store.Ranked{}, Complete: true}
	for id, c := range f.contacts {
		has := store.ContactFilters(c)
		if !slices.ContainsFunc(filters, func(f store.Filter) bool { return !slices.Contains(has, f) }) {
			m.Items = append(m.Items, store.Ranked{ID: id, Score: int64(c.Score())})
		}
	}
	slices.SortFunc(m.Items, func(a, b store.Ranked) int { return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(b.ID, a.ID)) })
	m.Items = m.Items[:min(limit, len(m.Items))]
	return m, nil
}

func (f *fakeStore) Report(context.Context, string) (map[string]string, error) {
	return map[string]string{"contacts": "1", "stage:early": "1", "grade:F": "1"}, nil
}

const hostile = `<script>alert(1)</script>`

func newConsole(t *testing.T, tokens *auth.Tokens) http.Handler {
	t.Helper()
	m := model.Default()
	fs := &fakeStore{
		contacts: map[string]*scoring.Contact{hostile: {ID: hostile, AccountID: "<i>acme</i>", Title: `"><img src=x onerror=alert(2)>`, Behavior: 5, Grade: "F"}},
		accounts: map[string]*scoring.Account{"<i>acme</i>": {ID: "<i>acme</i>", Name: hostile, Members: map[string]int32{hostile: 5}}},
	}
	_, mux := consoleOver(t, fs, m, tokens)
	return mux
}

// consoleStore is what a console reads: the read API's reader and its own.
type consoleStore interface {
	api.Reader
	Reader
}

// consoleOver is a console over r (through the read API too) with model m.
func consoleOver(t *testing.T, r consoleStore, m *model.Model, tokens *auth.Tokens) (*Console, http.Handler) {
	t.Helper()
	log := zaptest.NewLogger(t)
	c, err := New(Deps{API: api.New(r, scoring.New(m), log).Handler(), Store: r, Model: m, Tokens: tokens}, log)
	require.NoError(t, err)
	mux := http.NewServeMux()
	c.Register(mux)
	return c, mux
}

func get(t *testing.T, h http.Handler, path string, cookies ...*http.Cookie) (*http.Response, string) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	body, _ := io.ReadAll(w.Result().Body)
	return w.Result(), string(body)
}

func TestEveryPageCarriesAPolicyThatAllowsOnlyItsOwnScriptsAndStyles(t *testing.T) {
	t.Parallel()
	h := newConsole(t, auth.Open())
	for _, path := range []string{"/ui/", "/ui/leaderboard", "/ui/contacts/" + url.PathEscape(hostile), "/ui/accounts/x", "/ui/nowhere", "/ui/login"} {
		resp, _ := get(t, h, path)
		csp := resp.Header.Get("Content-Security-Policy")
		assert.Contains(t, csp, "script-src 'self'", path)
		assert.Contains(t, csp, "style-src 'self'", path)
		assert.Contains(t, csp, "default-src 'none'", path)
		assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), path)
	}
}

func TestMarkupInIdsTitlesAndNamesIsText(t *testing.T) {
	t.Parallel()
	h := newConsole(t, auth.Open())
	for _, path := range []string{"/ui/leaderboard", "/ui/contacts/" + url.PathEscape(hostile), "/ui/accounts/" + url.PathEscape("<i>acme</i>"),
		"/ui/contacts/" + url.PathEscape("<img src=x>")} {
		_, body := get(t, h, path)
		for _, raw := range []string{"<script>alert", "<img src=x", "<i>acme", "<b>why"} {
			assert.NotContains(t, body, raw, path)
		}
	}
	_, body := get(t, h, "/ui/contacts/"+url.PathEscape(hostile))
	assert.Contains(t, body, "&lt;script&gt;alert(1)&lt;/script&gt;")
	assert.Contains(t, body, `href="/ui/accounts/%3Ci%3Eacme%3C%2Fi%3E"`, "the account link keeps the id one path segment")
}

func TestBadInputGetsAPageThatSaysWhatIsWrong(t *testing.T) {
	t.Parallel()
	h := newConsole(t, auth.Open())
	for _, tt := range []struct {
		path   string
		status int
		want   string
	}{
		{"/ui/leaderboard?limit=0", 400, "limit must be a whole number from 1 to 200"},
		{"/ui/leaderboard?limit=abc", 400, "limit must be a whole number"},
		{"/ui/leaderboard?by=people", 400, "by must be contact or account"},
		{"/ui/contacts/nobody", 404, "There is no contact with the id &#34;nobody&#34;"},
		{"/ui/accounts/nobody", 404, "There is no account with the id &#34;nobody&#34;"},
		{"/ui/leaderboard?q=nobody", 404, "There is no contact or account with the id &#34;nobody&#34;"},
		{"/ui/what", 404, "There is no page at /ui/what"},
		{"/ui/live?type=lead.bogus", 400, "type must be one of lead.became_mql"},
		{"/ui/live/events", 404, "This console has no transitions feed."},
		{"/ui/model?a=9&b=3", 400, "a must be a registered model version (3), not &#34;9&#34;"},
		{"/ui/effectiveness?since=yesterday", 400, "since"},
	} {
		resp, body := get(t, h, tt.path)
		assert.Equal(t, tt.status, resp.StatusCode, tt.path)
		assert.Contains(t, body, tt.want, tt.path)
		assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"), tt.path)
	}
}

func TestSearchByIdGoesToTheContactOrAccount(t *testing.T) {
	t.Parallel()
	h := newConsole(t, auth.Open())
	resp, _ := get(t, h, "/ui/leaderboard?q="+url.QueryEscape(hostile))
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.Equal(t, "/ui/contacts/"+url.PathEscape(hostile), resp.Header.Get("Location"))
	resp, _ = get(t, h, "/ui/leaderboard?q="+url.QueryEscape("<i>acme</i>"))
	assert.Equal(t, "/ui/accounts/"+url.PathEscape("<i>acme</i>"), resp.Header.Get("Location"))
}

func TestAReadTokenPastedOnceLogsInWithAStrictHttpOnlyCookie(t *testing.T) {
	t.Parallel()
	tokens, err := auth.New(auth.File{Readers: []auth.ReaderConfig{{Name: "ops", TokenSHA256: auth.Hash("s3cret")}},
		Sources: []auth.SourceConfig{{Name: "web", TokenSHA256: auth.Hash("source-token"), Types: []string{"*"}}}})
	require.NoError(t, err)
	h := newConsole(t, tokens)

	resp, _ := get(t, h, "/ui/leaderboard?by=contact")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.Equal(t, "/ui/login?next="+url.QueryEscape("/ui/leaderboard?by=contact"), resp.Header.Get("Location"))

	login := func(token, next string, header http.Header) *http.Response {
		form := url.Values{"token": {token}, "next": {next}}
		r := httptest.NewRequest(http.MethodPost, "/ui/login", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range header {
			r.Header[k] = v
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Result()
	}
	for _, bad := range []string{"", "wrong", "source-token"} {
		resp := login(bad, "/ui/", nil)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "token %q", bad)
		assert.Empty(t, resp.Cookies(), "token %q", bad)
	}
	assert.Equal(t, http.StatusForbidden, login("s3cret", "/ui/", http.Header{"Origin": {"http://evil.example"}}).StatusCode)

	resp = login("s3cret", "//evil.example/ui/", nil)
	assert.Equal(t, "/ui/", resp.Header.Get("Location"), "a redirect after login stays in the console")
	resp = login("s3cret", "/ui/leaderboard?by=contact", nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.Equal(t, "/ui/leaderboard?by=contact", resp.Header.Get("Location"))
	require.Len(t, resp.Cookies(), 1)
	ck := resp.Cookies()[0]
	assert.True(t, ck.HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, ck.SameSite)
	assert.Equal(t, "/ui/", ck.Path)

	resp, body := get(t, h, "/ui/leaderboard?by=contact", ck)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, body, "Log out")
	resp, _ = get(t, h, "/ui/", &http.Cookie{Name: cookieName, Value: "wrong"})
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
}

// suggesting is a store that knows a waiting suggestion.
type suggesting struct {
	*fakeStore
	s *store.Suggestion
}

func (s suggesting) Suggestion(context.Context) (*store.Suggestion, error) { return s.s, nil }

// TestTheReviewBannerSaysASuggestionIsWaiting: when the model's review is
// due, every page's banner says so, and names a suggested next version
// waiting for it (as text); a suggestion made for another version is not
// shown, nor is any before the review is due.
func TestTheReviewBannerSaysASuggestionIsWaiting(t *testing.T) {
	t.Parallel()
	m := model.Default()
	due := m.File.Review().Due
	require.False(t, due.IsZero(), "the default model has a review date")
	for _, tc := range []struct {
		basedOn string
		now     time.Time
		want    string
	}{
		{m.Version, due.Add(24 * time.Hour), "A suggested version 4 is waiting: precision 19% → 21% &lt;b&gt;."},
		{"2", due.Add(24 * time.Hour), ""},
		{m.Version, due.Add(-24 * time.Hour), ""},
	} {
		fs := suggesting{&fakeStore{}, &store.Suggestion{Version: "4", BasedOn: tc.basedOn, Summary: "precision 19% → 21% <b>"}}
		c, mux := consoleOver(t, fs, m, auth.Open())
		c.now = func() time.Time { return tc.now }
		_, body := get(t, mux, "/ui/")
		if tc.want == "" {
			assert.NotContains(t, body, "suggested version", "based on %s at %s", tc.basedOn, tc.now)
			continue
		}
		assert.Contains(t, body, "due for review")
		assert.Contains(t, body, tc.want)
	}
}

// TestTheLeaderboardFiltersThroughTheReadAPI: the filters picked on the
// page, one control a field, go to the read API together (the fake store
// records the boards of each read); the caption says them, the next
// page's link keeps them, and a value with markup shows as text. Links of
// the one field= and value= pair still work; a field that is no filter,
// or a value the API refuses, is a page saying so.
func TestTheLeaderboardFiltersThroughTheReadAPI(t *testing.T) {
	t.Parallel()
	fs := &boardsRead{fakeStore: &fakeStore{}}
	m := model.Default()
	_, mux := consoleOver(t, fs, m, auth.Open())
	resp, body := get(t, mux, "/ui/leaderboard?grade=A&stage=late&nurture=&mql=on&limit=25")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, body, "contacts whose grade is A, stage is late, MQL by score")
	assert.Contains(t, body, "<option selected>A</option>")
	assert.Contains(t, body, `name="mql" value="true" checked`)
	assert.Contains(t, body, `href="/ui/leaderboard?after=3%3Ac-1&amp;by=contact&amp;grade=A&amp;limit=25&amp;mql=true&amp;stage=late"`, "the next page keeps the filters")
	assert.Contains(t, body, "(4 board entries read)")
	resp, _ = get(t, mux, "/ui/leaderboard?field=mql")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp, body = get(t, mux, "/ui/leaderboard?product="+url.QueryEscape("<b>x</b>"))
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.NotContains(t, body, "<b>x</b>")
	assert.Contains(t, body, "product is &lt;b&gt;x&lt;/b&gt;")
	assert.Equal(t, []string{"contact:grade:A contact:stage:late contact:mql:true", "contact:mql:true", "contact:product:<b>x</b>"}, fs.boards)
	resp, body = get(t, mux, "/ui/leaderboard?field=planet&value=mars")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, body, "field must be one of")
	resp, body = get(t, mux, "/ui/leaderboard?stage=hot")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, body, "stage must be one of early, mid, late.")
}

// boardsRead records the leaderboards read.
type boardsRead struct {
	*fakeStore
	boards []string
}

func (b *boardsRead) Leaderboard(_ context.Context, by string, _ int) ([]store.Ranked, error) {
	b.boards = append(b.boards, by)
	return nil, nil
}

func (b *boardsRead) Filtered(_ context.Context, filters []store.Filter, _ int, _ *store.Ranked, _ int) (*store.Matching, error) {
	var boards []string
	for _, f := range filters {
		boards = append(boards, f.Board())
	}
	b.boards = append(b.boards, strings.Join(boards, " "))
	return &store.Matching{Items: []store.Ranked{}, Complete: true, Scanned: 4, Next: &store.Ranked{ID: "c-1", Score: 3}}, nil
}

// TestTheAccountPageBreaksItsFitDownByRule: each account-fit rule of the
// model, matched or not, and the points matched, which are the account's
// fit.
func TestTheAccountPageBreaksItsFitDownByRule(t *testing.T) {
	t.Parallel()
	m := model.Default()
	acct := &scoring.Account{ID: "acme.io", Employees: 5000, Industry: "software", Country: "US", Members: map[string]int32{}}
	want := 0
	for i := range m.AccountFit {
		if acct.Matches(&m.AccountFit[i]) {
			want += m.AccountFit[i].Points
		}
	}
	require.NotZero(t, want, "the default model's rules match this account")
	fs := &fakeStore{contacts: map[string]*scoring.Contact{}, accounts: map[string]*scoring.Account{"acme.io": acct}}
	_, mux := consoleOver(t, fs, m, auth.Open())
	resp, body := get(t, mux, "/ui/accounts/acme.io")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Contains(t, body, fmt.Sprintf("Account-fit rules of model %s: %d points matched", m.Version, want))
	for _, r := range m.AccountFit {
		assert.Contains(t, body, "<td>"+r.ID+"</td>")
	}
}

// hourly is a store that keeps hourly tallies.
type hourly struct{ *fakeStore }

func (hourly) Hourly(_ context.Context, what string, _ time.Time, hours int) ([]int64, error) {
	out := make([]int64, hours)
	if what == store.TallyIntake {
		out[hours-1] = 1234
	}
	return out, nil
}

func (hourly) MQACount(context.Context) (int64, error) { return 17, nil }

// TestTheOverviewChartsIntakeAndTransitionsPerHour: with a store that
// keeps the hourly tallies and the MQA set, the overview draws both
// tallies over 24 hours and counts the MQA accounts.
func TestTheOverviewChartsIntakeAndTransitionsPerHour(t *testing.T) {
	t.Parallel()
	m := model.Default()
	fs := hourly{&fakeStore{}}
	_, mux := consoleOver(t, fs, m, auth.Open())
	resp, body := get(t, mux, "/ui/")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, body, "Events accepted per hour, last 24 hours")
	assert.Contains(t, body, "Transitions published per hour, last 24 hours")
	assert.Contains(t, body, "1234")
	assert.Contains(t, body, `<dd id="kpi-mqa">17</dd>`)

	_, body = get(t, newConsole(t, auth.Open()), "/ui/")
	assert.NotContains(t, body, "per hour", "a store without tallies: no charts")
	assert.NotContains(t, body, "kpi-mqa")
}

// TestMergedContactsPageIsItsHeirs: the page of a contact merged into
// another sends the browser to the other's, which names the merged
// contacts (as text) and marks their ledger lines, and whose chart leaves
// their scores out.
func TestMergedContactsPageIsItsHeirs(t *testing.T) {
	t.Parallel()
	visitor := "anon:<b>v</b>"
	fs := &fakeStore{contacts: map[string]*scoring.Contact{
		visitor: {ID: visitor, MergedInto: "u-1"},
		"u-1":   {ID: "u-1", Behavior: 5, Grade: "D", Merged: []string{visitor}},
	}}
	_, h := consoleOver(t, fs, model.Default(), auth.Open())
	resp, _ := get(t, h, "/ui/contacts/"+url.PathEscape(visitor))
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.Equal(t, "/ui/contacts/u-1", resp.Header.Get("Location"))

	resp, body := get(t, h, "/ui/contacts/u-1")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Contains(t, body, "Merged into it")
	assert.Contains(t, body, "(as anon:&lt;b&gt;v&lt;/b&gt;, before the merge)")
	assert.NotContains(t, body, "<b>v</b>")
	svg := body[strings.Index(body, "<svg"):strings.Index(body, "</svg>")]
	assert.Contains(t, svg, ">10</text>", "the axis is the contact's own")
	assert.NotContains(t, svg, "90", "the chart and its axis leave the merged contact's score out")
}
