package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/leadscore/leads/pkg/api"
	"github.com/leadscore/leads/pkg/auth"
	"github.com/leadscore/leads/pkg/console"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
)

// empty is a store with nothing scored yet.
type empty struct{}

func (empty) Contact(_ context.Context, id string) (*scoring.Contact, string, error) {
	return nil, "", fmt.Errorf("contact %q: %w", id, store.ErrNotFound)
}
func (empty) ContactByEmail(context.Context, string) (string, error) {
	return "", fmt.Errorf("email: %w", store.ErrNotFound)
}
func (empty) Account(_ context.Context, id string) (*scoring.Account, error) {
	return nil, fmt.Errorf("account %q: %w", id, store.ErrNotFound)
}
func (empty) History(context.Context, string, int) ([]scoring.Entry, error)    { return nil, nil }
func (empty) Leaderboard(context.Context, string, int) ([]store.Ranked, error) { return nil, nil }
func (empty) Filtered(context.Context, []store.Filter, int, *store.Ranked, int) (*store.Matching, error) {
	return &store.Matching{Complete: true}, nil
}
func (empty) Report(context.Context, string) (map[string]string, error) { return nil, nil }

// TestLoginInChromium: in a real browser, a console with tokens sends a
// visitor to the login page; a wrong token is refused there with a
// message; the read token opens the page asked for, and the session
// cookie is out of the page's scripts' reach (HttpOnly).
func TestLoginInChromium(t *testing.T) {
	t.Parallel()
	bin := chromium(t)
	tokens, err := auth.New(auth.File{Readers: []auth.ReaderConfig{{Name: "ops", TokenSHA256: auth.Hash("s3cret")}}})
	require.NoError(t, err)
	m, log := model.Default(), zaptest.NewLogger(t)
	c, err := console.New(console.Deps{API: api.New(empty{}, scoring.New(m), log).Handler(), Store: empty{}, Model: m, Tokens: tokens}, log)
	require.NoError(t, err)
	mux := http.NewServeMux()
	c.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.Flag("proxy-server", "direct://"), chromedp.Flag("proxy-bypass-list", "*"))...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	require.NoError(t, chromedp.Do(bctx), "start chromium")
	tab, w := newTab(t, bctx)
	w.ignoreStatus = true // the wrong token's 401

	do(t, tab, chromedp.Navigate(srv.URL+"/ui/leaderboard"), chromedp.WaitVisible(chromedp.CSS("#token")))
	loc, err := chromedp.Run(tab, chromedp.Location())
	require.NoError(t, err)
	assert.Contains(t, loc, "/ui/login?next=", "sent to the login page")

	do(t, tab, chromedp.SendKeys(chromedp.CSS("#token"), "wrong"), chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS(".login .error")))
	assert.NotEmpty(t, text(t, tab, ".login .error"), "the refusal says why")

	do(t, tab, chromedp.SendKeys(chromedp.CSS("#token"), "s3cret"), chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS("#board")))
	loc, err = chromedp.Run(tab, chromedp.Location())
	require.NoError(t, err)
	assert.Equal(t, srv.URL+"/ui/leaderboard", loc, "back to the page asked for")
	cookies, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.cookie`))
	require.NoError(t, err)
	assert.Empty(t, cookies, "the session cookie is HttpOnly")
	w.check(t, "login")
}
