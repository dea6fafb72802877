// Package openapitest checks HTTP answers against the API description
// (package openapi): a test's client whose every answer must be as the
// description says.
package openapitest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/leadscore/leads/pkg/openapi"
)

// Load parses and validates the description.
func Load() (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openapi.YAML())
	if err != nil {
		return nil, fmt.Errorf("load openapi.yaml: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	return doc, nil
}

// TB is what of testing.TB the client needs.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

var (
	routerOnce sync.Once
	router     routers.Router
	errRouter  error
)

// Client returns an HTTP client that checks every answer it gets against
// the description, on any host, and fails t on a mismatch: an undocumented
// path, method or status, a field the description does not have, or one
// of another type. Requests are not checked: tests send bad ones on
// purpose. It counts the exchanges it checked (see Checked).
func Client(t TB) *Checker {
	t.Helper()
	routerOnce.Do(func() {
		var doc *openapi3.T
		if doc, errRouter = Load(); errRouter != nil {
			return
		}
		doc.Servers = nil // any host: the tests listen on free ports
		router, errRouter = gorillamux.NewRouter(doc)
	})
	if errRouter != nil {
		t.Fatalf("openapi: %v", errRouter)
	}
	c := &Checker{t: t, router: router}
	c.Client = &http.Client{Transport: c}
	return c
}

// Checker is a client that checks its exchanges.
type Checker struct {
	*http.Client
	t      TB
	router routers.Router
	mu     sync.Mutex
	// checked counts the exchanges checked, by "METHOD path-template status".
	checked map[string]int
}

// Checked returns how many exchanges were checked, by "METHOD path status".
func (c *Checker) Checked() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.checked))
	for k, v := range c.checked {
		out[k] = v
	}
	return out
}

// RoundTrip implements http.RoundTripper.
func (c *Checker) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		c.t.Errorf("openapi: %s %s is not described: %v", req.Method, req.URL.Path, err)
		return http.DefaultTransport.RoundTrip(req)
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: req.Clone(req.Context()), PathParams: params, Route: route, Options: opts}
	if req.Body != nil {
		// A request without a body keeps none: a client follows a 307 or
		// 308 only when it knows there is no body to send again.
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(got))
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Options: opts}
	out.SetBodyBytes(got)
	if err := openapi3filter.ValidateResponse(req.Context(), out); err != nil {
		c.t.Errorf("openapi: answer %d to %s %s: %v\n%s", resp.StatusCode, req.Method, req.URL.Path, err, got)
	}
	c.mu.Lock()
	if c.checked == nil {
		c.checked = map[string]int{}
	}
	c.checked[fmt.Sprintf("%s %s %d", req.Method, route.Path, resp.StatusCode)]++
	c.mu.Unlock()
	return resp, nil
}
