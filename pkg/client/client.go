// Package client is the Go client of the ingestor's HTTP API: it posts
// events, retrying what may succeed later (a network error, 429, 503)
// with capped, jittered backoff and the server's Retry-After, never what
// cannot (a refused event comes back as an *APIError naming each item and
// field); it reads contacts, accounts, ledgers, leaderboards, the model
// and effectiveness reports as typed values; and Transitions consumes the
// transitions topic as typed CloudEvents. Ids are escaped in paths, so any
// id reaches its own resource.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/leadscore/leads/pkg/api"
	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/httperr"
	"github.com/leadscore/leads/pkg/report"
	"github.com/leadscore/leads/pkg/retry"
	"github.com/leadscore/leads/pkg/store"
)

// The resources, as the read API answers them.
type (
	Contact       = api.Contact
	Account       = api.Account
	Entry         = api.Entry
	Model         = api.Model
	Ranked        = store.Ranked
	Effectiveness = report.Effectiveness
)

// Client talks to one ingestor.
type Client struct {
	base  string
	token string
	http  *http.Client
	// MaxElapsed bounds how long Post retries (0: until ctx ends).
	maxElapsed time.Duration
	initial    time.Duration
	limit      time.Duration
}

// Option configures a Client.
type Option func(*Client)

// WithToken sends token as a Bearer token: a source token to post, a read
// token to read.
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithHTTPClient uses hc (timeouts, TLS, a transport of your own).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithRetry sets the first wait, the longest wait and how long in all Post
// retries (0: until its context ends). Defaults: 100 ms, 10 s, 1 minute.
func WithRetry(initial, limit, maxElapsed time.Duration) Option {
	return func(c *Client) { c.initial, c.limit, c.maxElapsed = initial, limit, maxElapsed }
}

// New returns a client of the ingestor at baseURL (e.g. http://localhost:8080).
func New(baseURL string, opts ...Option) *Client {
	c := &Client{base: strings.TrimRight(baseURL, "/"), http: &http.Client{Timeout: 30 * time.Second},
		initial: 100 * time.Millisecond, limit: 10 * time.Second, maxElapsed: time.Minute}
	for _, o := range opts {
		o(c)
	}
	return c
}

// APIError is an answer other than success: its status and the errors the
// ingestor gave (each with the item's index and the field, when about one).
type APIError struct {
	Status int
	Errors []httperr.Item
}

func (e *APIError) Error() string {
	const shown = 5 // a refused batch of thousands says the first few
	parts := make([]string, 0, min(len(e.Errors), shown)+1)
	for i, it := range e.Errors {
		if i == shown {
			parts = append(parts, fmt.Sprintf("and %d more", len(e.Errors)-shown))
			break
		}
		switch {
		case it.Field != "" && it.Index >= 0:
			parts = append(parts, fmt.Sprintf("item %d: %s: %s", it.Index, it.Field, it.Message))
		case it.Field != "":
			parts = append(parts, it.Field+": "+it.Message)
		default:
			parts = append(parts, it.Message)
		}
	}
	return fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), strings.Join(parts, "; "))
}

// NotFound reports whether err is a 404: no such contact, account or report.
func NotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// retryable answers are worth sending again as they were.
func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable ||
		status == http.StatusBadGateway || status == http.StatusGatewayTimeout
}

// Post sends events in one request and returns how many the ingestor
// accepted (all of them: a request is all or nothing). Posting the same
// events again is safe: the scorer counts an event id once.
func (c *Client) Post(ctx context.Context, events ...event.Event) (int, error) {
	body, err := json.Marshal(events)
	if err != nil {
		return 0, fmt.Errorf("encode events: %w", err)
	}
	var out struct {
		Accepted int `json:"accepted"`
	}
	b := retry.Backoff(c.initial, c.limit)
	var deadline time.Time
	if c.maxElapsed > 0 {
		deadline = time.Now().Add(c.maxElapsed)
	}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/events", bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", "application/json")
		status, after, err := c.do(req, &out)
		if err == nil {
			return out.Accepted, nil
		}
		if status != 0 && !retryable(status) || ctx.Err() != nil {
			return 0, err
		}
		// The server's Retry-After, when it gave one, else the backoff.
		wait := max(after, b.NextBackOff())
		if !deadline.IsZero() && time.Now().Add(wait).After(deadline) {
			return 0, fmt.Errorf("gave up after %s: %w", c.maxElapsed, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, errors.Join(ctx.Err(), err)
		case <-t.C:
		}
	}
}

// do sends req and decodes a 2xx answer into out. It returns the status (0
// when nothing answered), the Retry-After of a refusal, and an *APIError
// for an answer other than 2xx.
func (c *Client) do(req *http.Request, out any) (int, time.Duration, error) {
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, 0, err
	}
	if resp.StatusCode/100 != 2 {
		ae := &APIError{Status: resp.StatusCode}
		var body struct {
			Errors []httperr.Item `json:"errors"`
		}
		if json.Unmarshal(data, &body) == nil && len(body.Errors) > 0 {
			ae.Errors = body.Errors
			for i := range ae.Errors {
				if !bytes.Contains(data, []byte(`"index"`)) {
					ae.Errors[i].Index = -1
				}
			}
		} else {
			ae.Errors = []httperr.Item{{Index: -1, Message: strings.TrimSpace(string(data))}}
		}
		var wait time.Duration
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			wait = time.Duration(s) * time.Second
		}
		return resp.StatusCode, wait, ae
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, 0, fmt.Errorf("decode the answer to %s %s: %w", req.Method, req.URL.Path, err)
		}
	}
	return resp.StatusCode, 0, nil
}

// get reads path (already escaped) with query into out.
func (c *Client) get(ctx context.Context, path string, query url.Values, out any) error {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	_, _, err = c.do(req, out)
	return err
}

// Contact reads a contact's score, statuses and AQL gates. For a contact
// merged into another, it reads that one (its ContactID says which).
func (c *Client) Contact(ctx context.Context, id string) (*api.Contact, error) {
	var out api.Contact
	return &out, c.get(ctx, "/v1/contacts/"+url.PathEscape(id), nil, &out)
}

// ContactByEmail reads the contact last seen with the address.
func (c *Client) ContactByEmail(ctx context.Context, email string) (*api.Contact, error) {
	var out api.Contact
	return &out, c.get(ctx, "/v1/contacts", url.Values{"email": {email}}, &out)
}

// History reads a contact's ledger, newest first, at most limit lines (0:
// the server's default), with the lines of the contacts merged into it
// (MergedFrom); for a merged contact, that of the contact it merged into.
func (c *Client) History(ctx context.Context, id string, limit int) ([]api.Entry, error) {
	var out struct {
		Entries []api.Entry `json:"entries"`
	}
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return out.Entries, c.get(ctx, "/v1/contacts/"+url.PathEscape(id)+"/history", q, &out)
}

// Account reads an account's score, engagement and MQA status.
func (c *Client) Account(ctx context.Context, id string) (*api.Account, error) {
	var out api.Account
	return &out, c.get(ctx, "/v1/accounts/"+url.PathEscape(id), nil, &out)
}

// Leaderboard reads the top contacts ("contact") or accounts ("account").
func (c *Client) Leaderboard(ctx context.Context, by string, limit int) ([]store.Ranked, error) {
	var out struct {
		Items []store.Ranked `json:"items"`
	}
	q := url.Values{"by": {by}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return out.Items, c.get(ctx, "/v1/leaderboard", q, &out)
}

// Filtered reads the top contacts that pass every filter (at most one a
// field: grade, stage, nurture, product, mql, aql), after the cursor of an
// earlier answer's Next ("" from the top). The answer says whether it is
// complete, or up to where it is exact (IndexedTo).
func (c *Client) Filtered(ctx context.Context, filters []store.Filter, limit int, after string) (*api.Filtered, error) {
	q := url.Values{"by": {"contact"}}
	for _, f := range filters {
		q.Add(f.Field, f.Value)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if after != "" {
		q.Set("after", after)
	}
	var out api.Filtered
	return &out, c.get(ctx, "/v1/leaderboard", q, &out)
}

// Model reads which model scores and when it is due for review.
func (c *Client) Model(ctx context.Context) (*api.Model, error) {
	var out api.Model
	return &out, c.get(ctx, "/v1/model", nil, &out)
}

// Effectiveness reads the report of a model version ("" the one scoring)
// over the days since to until (YYYY-MM-DD; "" for no bound).
func (c *Client) Effectiveness(ctx context.Context, version, since, until string) (*report.Effectiveness, error) {
	q := url.Values{}
	for k, v := range map[string]string{"model": version, "since": since, "until": until} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var out report.Effectiveness
	return &out, c.get(ctx, "/v1/reports/effectiveness", q, &out)
}
