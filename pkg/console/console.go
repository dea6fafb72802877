package console

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/leadscore/leads/pkg/auth"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Prefix is where the console is mounted.
const Prefix = "/ui/"

// cookieName holds the pasted read token. HttpOnly keeps it from scripts,
// SameSite=Strict from requests other sites start.
const cookieName = "leads_console"

// csp allows the console's own scripts, styles and images only: an id or
// title that holds markup and slipped through escaping still could not run.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// Reader is what the console reads of the store beyond the read API.
type Reader interface {
	Contact(ctx context.Context, id string) (*scoring.Contact, string, error)
	Account(ctx context.Context, id string) (*scoring.Account, error)
}

// Console serves the pages.
type Console struct {
	api            http.Handler
	r              Reader
	m              *model.Model
	tokens         *auth.Tokens
	feed           *Feed
	log            *zap.Logger
	models         func(context.Context) (map[string]string, error)
	reportVersions func(context.Context) ([]string, error)
	cache          struct {
		sync.Mutex
		models map[string]parsedModel
	}
	now   func() time.Time
	pages map[string]*template.Template
	mux   *http.ServeMux
}

// Deps are what the console reads.
type Deps struct {
	// API is the read API's handler without authentication (the console
	// checks the token itself).
	API http.Handler
	// Store is read for what the API does not say.
	Store Reader
	// Model is the model in use.
	Model *model.Model
	// Tokens are the ingestor's; their readers may log in.
	Tokens *auth.Tokens
	// Feed is the live page's transitions feed (nil: none, the page says so).
	Feed *Feed
	// Models returns every registered model file by version, and
	// ReportVersions the versions with report counters (nil: only the
	// model in use is known).
	Models         func(context.Context) (map[string]string, error)
	ReportVersions func(context.Context) ([]string, error)
}

// New returns the console.
func New(d Deps, log *zap.Logger) (*Console, error) {
	c := &Console{api: d.API, r: d.Store, m: d.Model, tokens: d.Tokens, feed: d.Feed, models: d.Models, reportVersions: d.ReportVersions,
		log: log, now: time.Now, pages: map[string]*template.Template{}}
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("console layout: %w", err)
	}
	for _, name := range []string{"overview", "leaderboard", "contact", "account", "live", "model", "effectiveness", "login", "error"} {
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console page %s: %w", name, err)
		}
		c.pages[name] = t
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /ui/login", c.loginForm)
	mux.HandleFunc("POST /ui/login", c.login)
	mux.HandleFunc("POST /ui/logout", c.logout)
	mux.Handle("GET /ui/{$}", c.authed(c.overview))
	mux.Handle("GET /ui/leaderboard", c.authed(c.leaderboard))
	mux.Handle("GET /ui/contacts/{id}", c.authed(c.contact))
	mux.Handle("GET /ui/accounts/{id}", c.authed(c.account))
	mux.Handle("GET /ui/model", c.authed(c.modelPage))
	mux.Handle("GET /ui/effectiveness", c.authed(c.effectiveness))
	mux.Handle("GET /ui/live", c.authed(c.live))
	mux.Handle("GET /ui/live/events", c.authed(c.liveEvents))
	mux.Handle("/ui/", c.authed(func(w http.ResponseWriter, r *http.Request) *pageError {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return &pageError{Status: http.StatusMethodNotAllowed, Message: r.Method + " is not allowed here"}
		}
		return &pageError{Status: http.StatusNotFound, Message: "There is no page at " + r.URL.Path + "."}
	}))
	c.mux = mux
	return c, nil
}

// Register mounts the console on mux under Prefix.
func (c *Console) Register(mux *http.ServeMux) { mux.Handle(Prefix, c) }

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	if r.Method == http.MethodPost && !sameOrigin(r) {
		c.render(w, r, http.StatusForbidden, "error", page{Title: "Forbidden"},
			&pageError{Status: http.StatusForbidden, Message: "This form was sent from another site."})
		return
	}
	c.mux.ServeHTTP(w, r)
}

// sameOrigin refuses a POST that a browser says came from another origin.
// (The cookie is SameSite=Strict already; this covers the login form.)
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return o == ""
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// pageError is a page that cannot be shown, and why, in words for the
// reader: an unknown id, a bad query parameter, the store unavailable.
type pageError struct {
	Status  int
	Field   string
	Message string
	// Location is where the read API sent the request instead (a 308:
	// a merged contact's heir).
	Location string
}

func (e *pageError) Error() string { return e.Message }

type handler func(w http.ResponseWriter, r *http.Request) *pageError

// authed runs h for a logged-in reader (anyone, when no tokens are
// configured) and renders its error, if any; others go to the login page.
func (c *Console) authed(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !c.loggedIn(r) {
			http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		if err := h(w, r); err != nil {
			c.render(w, r, err.Status, "error", page{Title: http.StatusText(err.Status)}, err)
		}
	})
}

func (c *Console) loggedIn(r *http.Request) bool {
	if !c.tokens.Configured() {
		return true
	}
	ck, err := r.Cookie(cookieName)
	return err == nil && c.validToken(ck.Value)
}

// validToken asks the ingestor's tokens, which read bearer headers.
func (c *Console) validToken(token string) bool {
	if token == "" {
		return false
	}
	r := &http.Request{Header: http.Header{"Authorization": {"Bearer " + token}}}
	_, ok := c.tokens.Reader(r)
	return ok
}

// suggestion is the suggested next version of the model in use waiting
// for a person, or nil (none, or the store cannot say).
func (c *Console) suggestion(r *http.Request) *store.Suggestion {
	sr, ok := c.r.(interface {
		Suggestion(ctx context.Context) (*store.Suggestion, error)
	})
	if !ok {
		return nil
	}
	s, err := sr.Suggestion(r.Context())
	if err != nil || !s.Waits(c.m.Version) {
		return nil
	}
	return s
}

// page is what the layout needs of every page.
type page struct {
	Title string
	Nav   string
	// Review is the model's review banner, empty when none is due.
	Review    string
	LoggedIn  bool
	NeedLogin bool
	Data      any
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, p page, data any) {
	p.Data = data
	p.NeedLogin = c.tokens.Configured()
	p.LoggedIn = p.NeedLogin && c.loggedIn(r)
	if rev := c.m.File.Review(); !rev.Due.IsZero() && rev.Overdue(c.now()) {
		p.Review = "Model " + c.m.Version + " was due for review on " + rev.Due.Format(time.DateOnly) + "."
		if sg := c.suggestion(r); sg != nil {
			p.Review += " A suggested version " + sg.Version + " is waiting: " + sg.Summary + "."
		}
	}
	var buf bytes.Buffer
	if err := c.pages[name].ExecuteTemplate(&buf, "layout.html", p); err != nil {
		c.log.Error("console page failed to render", zap.String("page", name), zap.Error(err))
		http.Error(w, "the page failed to render", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (c *Console) loginForm(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "login", page{Title: "Log in"}, loginData{Next: safeNext(r.URL.Query().Get("next"))})
}

type loginData struct {
	Next, Message string
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	token := ""
	if err := r.ParseForm(); err == nil {
		token = strings.TrimSpace(r.PostForm.Get("token"))
	}
	next := safeNext(r.PostForm.Get("next"))
	if !c.tokens.Configured() {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	if !c.validToken(token) {
		c.render(w, r, http.StatusUnauthorized, "login", page{Title: "Log in"},
			loginData{Next: next, Message: "That is not a read token of this deployment."})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: token, Path: Prefix, HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: int((12 * time.Hour).Seconds())})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: Prefix, HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

// safeNext keeps a redirect after login inside the console.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return Prefix
	}
	return next
}

// apiError is the read API's error shape.
type apiError struct {
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

// get calls the read API in-process and decodes its answer into v. Its
// 4xx answers become the page's error, in its words.
func (c *Console) get(ctx context.Context, path string, q url.Values, v any) *pageError {
	u := path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return &pageError{Status: http.StatusBadRequest, Message: "That address cannot be read: " + err.Error()}
	}
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	c.api.ServeHTTP(rec, req)
	if rec.status != http.StatusOK {
		var e apiError
		_ = json.Unmarshal(rec.body.Bytes(), &e)
		pe := &pageError{Status: rec.status, Message: http.StatusText(rec.status), Location: rec.header.Get("Location")}
		if len(e.Errors) > 0 {
			pe.Field, pe.Message = e.Errors[0].Field, e.Errors[0].Message
		}
		return pe
	}
	if err := json.Unmarshal(rec.body.Bytes(), v); err != nil {
		c.log.Error("read API answer does not decode", zap.String("path", req.URL.Path), zap.Error(err))
		return &pageError{Status: http.StatusInternalServerError, Message: "The read API's answer did not decode."}
	}
	return nil
}

// recorder is the ResponseWriter of an in-process API call.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(status int)      { r.status = status }

// storeError is a store read's failure as a page.
func storeError(what string, err error) *pageError {
	if errors.Is(err, store.ErrNotFound) {
		return &pageError{Status: http.StatusNotFound, Message: "No " + what + "."}
	}
	return &pageError{Status: http.StatusServiceUnavailable, Message: "The state store is unavailable; retry later."}
}
