package console_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/api"
	"github.com/leadscore/leads/pkg/devstack"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/testutil"
)

// The browser tests drive Debian's chromium through chromedp against one
// embedded stack with demo traffic, shared by every subtest. Set
// LEADS_CONSOLE_SCREENSHOTS=1 to write the screenshots they take into
// docs/console (README shows them); otherwise they go to a temporary
// directory.

// Subjects the test posts itself, so that their numbers hold still while
// the demo traffic moves everyone else's.
const (
	topContact = "c-ui-top"
	topAccount = "acct-ui.example"
	// markup ids and texts: each would run a script if a page let it.
	markupContact = `<script>alert(1)</script>`
	markupAccount = `<img src=x onerror=alert(2)>.example`
	markupTitle   = `"><svg onload=alert(3)> VP Sales`
	markupName    = `<script>alert(4)</script> Corp`
)

func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium binary on PATH: the console's browser tests need one (apt-get install -y chromium; .ci/run installs it)")
	return ""
}

func TestConsoleInChromium(t *testing.T) {
	bin := chromium(t)
	s := startStack(t)
	seed(t, s.IngestorURL)
	registerVersion4(t, s.RedisAddr)
	// The overview's hourly charts have data once the first tallies reach
	// Redis (within a second of the first events).
	rdb := redis.NewClient(&redis.Options{Addr: s.RedisAddr})
	defer rdb.Close()
	require.Eventually(t, func() bool {
		n, err := store.New(rdb, "leads").Hourly(context.Background(), store.TallyTransitions, time.Now(), 2)
		return err == nil && n[0]+n[1] > 0
	}, 20*time.Second, 50*time.Millisecond, "the first transitions counted")

	// One browser for every subtest; each opens a tab of its own.
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU, chromedp.WindowSize(1280, 900),
		chromedp.Flag("proxy-server", "direct://"), chromedp.Flag("proxy-bypass-list", "*"),
		// Back must load the page again: chromedp's NavigateBack waits
		// for a response, which a page restored from the back-forward
		// cache never gets.
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,BackForwardCache"))...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	// The first run starts the browser and must have no deadline of its
	// own (it would stop the browser); the tabs have theirs.
	require.NoError(t, chromedp.Do(bctx), "start chromium")
	shots := screenshotDir(t)
	base := s.IngestorURL + "/ui/"

	t.Run("EveryPageLoadsWithoutConsoleErrors", func(t *testing.T) {
		for _, p := range []struct{ name, path, ready string }{
			{"overview", "", "#kpi-contacts"},
			{"live", "live", "#feed-table"}, // its screenshot is the live test's
			{"leaderboard-contacts", "leaderboard?by=contact&limit=25", "#board"},
			{"leaderboard-accounts", "leaderboard?by=account&limit=25", "#board"},
			{"contact", "contacts/" + topContact, "#c-score"},
			{"account", "accounts/" + topAccount, "#a-score"},
			{"contact-markup", "contacts/" + url.PathEscape(markupContact), "#c-score"},
			{"login", "login", "#token"},
			{"model", "model?a=3&b=4", "#diff-table"},
			{"effectiveness", "effectiveness?a=3&b=4", "#eff-table"},
		} {
			tab, w := newTab(t, bctx)
			do(t, tab, chromedp.Navigate(base+p.path), chromedp.WaitVisible(chromedp.CSS(p.ready)))
			shoot(t, tab, shots, p.name)
			w.check(t, p.name)
		}
	})

	t.Run("UnknownIdsAndBadParametersSayWhatIsWrong", func(t *testing.T) {
		for _, p := range []struct{ name, path, want string }{
			{"error-unknown-contact", "contacts/nobody-" + testutil.Prefix(t), "There is no contact with the id"},
			{"", "leaderboard?limit=many", "limit must be a whole number"},
			{"", "leaderboard?by=team", "by must be contact or account"},
			{"", "no/such/page", "There is no page at"},
		} {
			tab, w := newTab(t, bctx)
			w.ignoreStatus = true // the document's own 4xx is logged as a failed load
			do(t, tab, chromedp.Navigate(base+p.path))
			assert.Contains(t, text(t, tab, "#error-message"), p.want, p.path)
			if p.name != "" {
				shoot(t, tab, shots, p.name)
			}
			w.check(t, p.path)
		}
	})

	t.Run("ClickPathLeaderboardContactAccountBack", func(t *testing.T) {
		tab, w := newTab(t, bctx)
		do(t, tab, chromedp.Navigate(base+"leaderboard?by=contact&limit=25"),
			chromedp.Click(chromedp.CSS(`#board a[href="/ui/contacts/`+topContact+`"]`), chromedp.NodeVisible),
			chromedp.WaitVisible(chromedp.CSS("#c-score")))
		score, grade := text(t, tab, "#c-score"), text(t, tab, "#c-grade")
		do(t, tab, chromedp.Click(chromedp.CSS("#c-account"), chromedp.NodeVisible), chromedp.WaitVisible(chromedp.CSS("#a-score")))
		acctScore := text(t, tab, "#a-score")
		do(t, tab, chromedp.NavigateBack(), chromedp.WaitVisible(chromedp.CSS("#c-score")))
		loc, err := chromedp.Run(tab, chromedp.Location())
		require.NoError(t, err)
		assert.Equal(t, base+"contacts/"+topContact, loc)
		var c api.Contact
		getJSON(t, s.IngestorURL+"/v1/contacts/"+topContact, &c)
		assert.Equal(t, fmt.Sprint(c.Score), score)
		assert.Equal(t, c.Grade, grade)
		var a api.Account
		getJSON(t, s.IngestorURL+"/v1/accounts/"+topAccount, &a)
		assert.Equal(t, fmt.Sprint(a.Score), acctScore)
		w.check(t, "click path")
	})

	t.Run("NumbersEqualTheReadAPIs", func(t *testing.T) {
		tab, w := newTab(t, bctx)
		var c api.Contact
		getJSON(t, s.IngestorURL+"/v1/contacts/"+topContact, &c)
		do(t, tab, chromedp.Navigate(base+"contacts/"+topContact), chromedp.WaitVisible(chromedp.CSS("#c-score")))
		got := map[string]string{}
		for _, id := range []string{"c-score", "c-behavior", "c-fit", "c-grade", "c-stage", "c-mql", "c-aql", "c-nurture"} {
			got[id] = text(t, tab, "#"+id)
		}
		assert.Equal(t, map[string]string{"c-score": fmt.Sprint(c.Score), "c-behavior": fmt.Sprint(c.Behavior), "c-fit": fmt.Sprint(c.Fit),
			"c-grade": c.Grade, "c-stage": c.Stage, "c-mql": yesNo(c.MQL), "c-aql": yesNo(c.AQL), "c-nurture": c.Nurture}, got)

		var hist struct {
			Entries []api.Entry `json:"entries"`
		}
		getJSON(t, s.IngestorURL+"/v1/contacts/"+topContact+"/history?limit=200", &hist)
		rows, err := chromedp.Run(tab, chromedp.Evaluate[int](`document.querySelectorAll("#ledger-table tbody tr").length`))
		require.NoError(t, err)
		assert.Equal(t, len(hist.Entries), rows, "ledger lines")

		var a api.Account
		getJSON(t, s.IngestorURL+"/v1/accounts/"+topAccount, &a)
		do(t, tab, chromedp.Navigate(base+"accounts/"+topAccount), chromedp.WaitVisible(chromedp.CSS("#a-score")))
		assert.Equal(t, []string{fmt.Sprint(a.Score), fmt.Sprint(a.Fit), fmt.Sprint(a.Engagement), yesNo(a.MQA), fmt.Sprint(a.ContactCount)},
			[]string{text(t, tab, "#a-score"), text(t, tab, "#a-fit"), text(t, tab, "#a-engagement"), text(t, tab, "#a-mqa"), text(t, tab, "#a-contacts")})

		// The leaderboard's first row: the seeded contact, which tops it.
		do(t, tab, chromedp.Navigate(base+"leaderboard?by=contact&limit=25"), chromedp.WaitVisible(chromedp.CSS("#board")))
		rowScore := text(t, tab, "#board tbody tr:first-child td.score")
		var board struct {
			Items []struct {
				ID    string `json:"id"`
				Score int64  `json:"score"`
			} `json:"items"`
		}
		getJSON(t, s.IngestorURL+"/v1/leaderboard?by=contact&limit=1", &board)
		require.Len(t, board.Items, 1)
		assert.Equal(t, topContact, board.Items[0].ID)
		assert.Equal(t, fmt.Sprint(board.Items[0].Score), rowScore)

		// The overview's contact count moves with the demo traffic, and
		// only up: the page's lies between two reads of the API.
		before := reportContacts(s.IngestorURL)
		do(t, tab, chromedp.Navigate(base))
		kpi := text(t, tab, "#kpi-contacts")
		after := reportContacts(s.IngestorURL)
		var n int64
		_, err = fmt.Sscan(kpi, &n)
		require.NoError(t, err)
		assert.True(t, before <= n && n <= after, "overview says %d contacts, the API %d then %d", n, before, after)
		w.check(t, "numbers")
	})

	t.Run("CombinedFiltersPickedByKeyboardEqualTheReadAPIs", func(t *testing.T) {
		var c api.Contact
		getJSON(t, s.IngestorURL+"/v1/contacts/"+topContact, &c)
		require.True(t, c.MQL, "the seeded contact is an MQL")
		tab, w := newTab(t, bctx)
		// The seeded contact's grade, stage and MQL, picked with keys
		// only: a letter picks an option of a focused select, a space
		// ticks a checkbox, Enter on the button sends the form.
		do(t, tab, chromedp.Navigate(base+"leaderboard?by=contact&limit=5"), chromedp.WaitVisible(chromedp.CSS("#filters")),
			chromedp.Focus(chromedp.CSS(`#filters select[name="grade"]`), chromedp.NodeVisible), chromedp.KeyEvent(c.Grade),
			chromedp.Focus(chromedp.CSS(`#filters select[name="stage"]`), chromedp.NodeVisible), chromedp.KeyEvent(c.Stage[:1]),
			chromedp.Focus(chromedp.CSS(`#filters input[name="mql"]`), chromedp.NodeVisible), chromedp.KeyEvent(" "),
			chromedp.Focus(chromedp.CSS(`form.filters button[type="submit"]`), chromedp.NodeVisible), chromedp.KeyEvent("\r"),
			chromedp.WaitVisible(chromedp.CSS("#exact")))
		loc, err := chromedp.Run(tab, chromedp.Location())
		require.NoError(t, err)
		u, err := url.Parse(loc)
		require.NoError(t, err)
		q := u.Query()
		assert.Equal(t, []string{c.Grade, c.Stage, "true"}, []string{q.Get("grade"), q.Get("stage"), q.Get("mql")}, loc)
		picked, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`["grade", "stage"].map(n => document.querySelector("#filters select[name=" + n + "]").value)`))
		require.NoError(t, err)
		assert.Equal(t, []string{c.Grade, c.Stage}, picked, "the form keeps the filters")
		shoot(t, tab, shots, "leaderboard-filtered")

		// Demo traffic moves the other contacts' scores: the page is
		// compared with the API when two reads of the API around it agree.
		type row struct {
			ID    string `json:"id"`
			Score int64  `json:"score"`
		}
		type answer struct {
			Items   []row `json:"items"`
			Scanned int   `json:"scanned"`
			Next    string
		}
		apiURL := s.IngestorURL + "/v1/leaderboard?" + url.Values{"grade": {c.Grade}, "stage": {c.Stage}, "mql": {"true"}, "limit": {"5"}}.Encode()
		agreed := false
		for range 30 {
			var before, after answer
			getJSON(t, apiURL, &before)
			do(t, tab, chromedp.Navigate(loc), chromedp.WaitVisible(chromedp.CSS("#exact")))
			cells, err := chromedp.Run(tab, chromedp.Evaluate[[][]string](
				`Array.from(document.querySelectorAll("#board tbody tr")).map(r => [r.querySelector("a.id").textContent, r.querySelector("td.score").textContent])`))
			require.NoError(t, err)
			exact := text(t, tab, "#exact")
			getJSON(t, apiURL, &after)
			if !reflect.DeepEqual(before, after) {
				continue
			}
			agreed = true
			var page []row
			for _, cell := range cells {
				r := row{ID: cell[0]}
				_, err := fmt.Sscan(cell[1], &r.Score)
				require.NoError(t, err)
				page = append(page, r)
			}
			require.NotEmpty(t, after.Items)
			assert.Equal(t, topContact, after.Items[0].ID)
			assert.Equal(t, after.Items, page, "the page's rows are the API's items")
			assert.Contains(t, exact, fmt.Sprintf("(%d board entries read)", after.Scanned))
			if after.Next != "" {
				next, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.querySelector("#next").getAttribute("href")`))
				require.NoError(t, err)
				nq, err := url.ParseQuery(strings.TrimPrefix(next, "/ui/leaderboard?"))
				require.NoError(t, err)
				assert.Equal(t, []string{c.Grade, c.Stage, "true", after.Next}, []string{nq.Get("grade"), nq.Get("stage"), nq.Get("mql"), nq.Get("after")})
			}
			break
		}
		assert.True(t, agreed, "two reads of the API agreed")
		w.check(t, "combined filters")
	})

	t.Run("MarkupInIdsAndTitlesRendersAsText", func(t *testing.T) {
		tab, w := newTab(t, bctx)
		do(t, tab, chromedp.Navigate(base+"leaderboard?by=contact&limit=25"), chromedp.WaitVisible(chromedp.CSS("#board")))
		assert.Contains(t, text(t, tab, "#board"), markupContact)
		do(t, tab, chromedp.Navigate(base+"contacts/"+url.PathEscape(markupContact)), chromedp.WaitVisible(chromedp.CSS("#c-id")))
		assert.Equal(t, markupContact, text(t, tab, "#c-id"))
		assert.Equal(t, markupTitle, text(t, tab, "#c-title"))
		assert.Equal(t, markupAccount, text(t, tab, "#c-account"))
		assert.Contains(t, text(t, tab, "#ledger-table"), markupAccount)
		do(t, tab, chromedp.Click(chromedp.CSS("#c-account"), chromedp.NodeVisible), chromedp.WaitVisible(chromedp.CSS("#a-name")))
		assert.Equal(t, markupName, text(t, tab, "#a-name"))
		injected, err := chromedp.Run(tab, chromedp.Evaluate[int](`document.querySelectorAll("main script, main img, main svg[onload]").length`))
		require.NoError(t, err)
		assert.Zero(t, injected, "elements made of a contact's data")
		w.check(t, "markup")
	})

	t.Run("LiveFeedShowsATransitionCausedDuringTheTest", func(t *testing.T) {
		tab, w := newTab(t, bctx)
		// The feed starts two minutes back: the seeded contacts' crossings
		// are there at once, the markup one's among them.
		do(t, tab, chromedp.Navigate(base+"live"))
		waitFor(t, tab, feedLinks(markupContact))
		live := "c-ui-live-" + testutil.Prefix(t)
		post(t, s.IngestorURL, map[string]any{"id": live + "-1", "type": "score.adjusted", "contact_id": live,
			"time": time.Now().UTC().Format(time.RFC3339), "source": "console-test", "properties": map[string]any{"points": 100}})
		waitFor(t, tab, feedLinks(live))
		assert.Equal(t, "connected", text(t, tab, "#live-status"))
		shootView(t, tab, shots, "live")
		w.check(t, "live")

		// Filtered by type, the feed shows that type only.
		tab, w = newTab(t, bctx)
		do(t, tab, chromedp.Navigate(base+"live?type=lead.became_mql"))
		waitFor(t, tab, feedLinks(live))
		types, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#feed tr")).map(r => r.dataset.type)`))
		require.NoError(t, err)
		require.NotEmpty(t, types)
		for _, ty := range types {
			assert.Equal(t, "lead.became_mql", ty)
		}
		w.check(t, "live filtered")
	})

	t.Run("ModelAndEffectivenessPagesCompareTwoVersions", func(t *testing.T) {
		tab, w := newTab(t, bctx)
		do(t, tab, chromedp.Navigate(base+"model?a=3&b=4"), chromedp.WaitVisible(chromedp.CSS("#diff-table")))
		assert.Contains(t, text(t, tab, "#diff-table"), "webinar-attended")
		assert.Contains(t, text(t, tab, "#rules-table thead"), "v4")
		var m api.Model
		getJSON(t, s.IngestorURL+"/v1/model", &m)
		assert.Equal(t, m.Version, text(t, tab, "#m-version"))
		do(t, tab, chromedp.Navigate(base+"effectiveness?a=3&b=4"), chromedp.WaitVisible(chromedp.CSS("#eff-table")))
		head := text(t, tab, "#eff-table thead")
		assert.Contains(t, head, "model 3")
		assert.Contains(t, head, "model 4")
		w.check(t, "model and effectiveness")
	})

	t.Run("WhatIfShowsAnotherGradeUnderAVersionThatScoresOtherwise", func(t *testing.T) {
		tab, w := newTab(t, bctx)
		var c api.Contact
		getJSON(t, s.IngestorURL+"/v1/contacts/"+topContact, &c)
		require.Equal(t, "A", c.Grade, "fit %d", c.Fit)
		require.Less(t, c.Fit, int32(70), "version 4 gives grade A from fit 70")
		do(t, tab, chromedp.Navigate(base+"contacts/"+topContact), chromedp.WaitVisible(chromedp.CSS("#whatif-model")),
			chromedp.SetValue(chromedp.CSS("#whatif-model"), "4"),
			chromedp.Click(chromedp.CSS("#whatif-go"), chromedp.NodeVisible),
			chromedp.WaitVisible(chromedp.CSS("#w-grade")))
		assert.Equal(t, "B", text(t, tab, "#w-grade"))
		assert.Equal(t, "A", text(t, tab, "#c-grade"), "the contact's own grade is still version 3's")
		assert.Contains(t, text(t, tab, "#whatif-section"), "webinar-attended", "the webinar line is priced otherwise under version 4")
		shoot(t, tab, shots, "contact-what-if")
		w.check(t, "what-if")
	})

	t.Run("PhoneWidth", func(t *testing.T) {
		for _, p := range []struct{ name, path, ready string }{
			{"phone-overview", "", "#kpi-contacts"},
			{"phone-contact", "contacts/" + topContact, "#c-score"},
		} {
			tab, w := newTab(t, bctx)
			_, err := chromedp.Call(tab, emulation.SetDeviceMetricsOverride,
				emulation.SetDeviceMetricsOverrideParams{Width: 390, Height: 844, DeviceScaleFactor: 2, Mobile: true})
			require.NoError(t, err)
			do(t, tab, chromedp.Navigate(base+p.path), chromedp.WaitVisible(chromedp.CSS(p.ready)))
			// Wide tables scroll inside their box; the page itself must not.
			overflow, err := chromedp.Run(tab, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
			require.NoError(t, err)
			assert.False(t, overflow, "%s scrolls sideways at phone width", p.name)
			shoot(t, tab, shots, p.name)
			w.check(t, p.name)
		}
	})
}

func do(t *testing.T, tab context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	require.NoError(t, chromedp.Do(tab, steps...))
}

// waitFor evaluates expr until it is true. (chromedp's queries do not see
// the rows the live page adds; its Poll builds a function, which the
// console's CSP refuses.)
func waitFor(t *testing.T, tab context.Context, expr string) {
	t.Helper()
	for {
		ok, err := chromedp.Run(tab, chromedp.Evaluate[bool](expr))
		require.NoError(t, err, "waiting for %s", expr)
		if ok {
			return
		}
		select {
		case <-tab.Done():
			t.Fatalf("still not true when the tab timed out: %s", expr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// feedLinks is true when the live feed has a link with the text id.
func feedLinks(id string) string {
	q, _ := json.Marshal(id)
	return `Array.from(document.querySelectorAll("#feed a")).some(a => a.textContent === ` + string(q) + `)`
}

func text(t *testing.T, tab context.Context, css string) string {
	t.Helper()
	v, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS(css)))
	require.NoError(t, err, "text of %s", css)
	return strings.TrimSpace(v)
}

// watcher records what a tab should never see: console errors, uncaught
// exceptions, failed loads and dialogs (alert() from injected markup).
type watcher struct {
	mu           sync.Mutex
	problems     []string
	ignoreStatus bool
}

// newTab opens a tab, bounded in time, with a watcher.
func newTab(t *testing.T, bctx context.Context) (context.Context, *watcher) {
	t.Helper()
	tab, cancel := chromedp.NewContext(bctx)
	t.Cleanup(cancel)
	w := &watcher{}
	require.NoError(t, chromedp.Listen(tab, func(ev any) {
		w.mu.Lock()
		defer w.mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			w.problems = append(w.problems, "exception: "+e.ExceptionDetails.Text)
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
				w.problems = append(w.problems, "console."+string(e.Type))
			}
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.EntryLevelError {
				if w.ignoreStatus && e.Entry.Source == cdplog.EntrySourceNetwork && strings.Contains(e.Entry.Text, "status of 4") {
					return
				}
				w.problems = append(w.problems, "log: "+e.Entry.Text+" "+e.Entry.URL)
			}
		case *page.EventJavascriptDialogOpening:
			w.problems = append(w.problems, "dialog: "+e.Message)
			// Not from here: a command inside the listener would block it.
			go func() { _, _ = chromedp.Call(tab, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{}) }()
		}
	}))
	tab, cancelT := context.WithTimeout(tab, 45*time.Second)
	t.Cleanup(cancelT)
	return tab, w
}

func (w *watcher) check(t *testing.T, what string) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	assert.Empty(t, w.problems, "%s: console errors, exceptions or dialogs", what)
}

func screenshotDir(t *testing.T) string {
	if os.Getenv("LEADS_CONSOLE_SCREENSHOTS") != "" {
		dir, err := filepath.Abs("../../docs/console")
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(dir, 0o755))
		return dir
	}
	return t.TempDir()
}

// shoot takes a screenshot of the whole page; shootView of the window
// only, for a page that grows without end.
func shoot(t *testing.T, tab context.Context, dir, name string) {
	t.Helper()
	save(t, tab, dir, name, chromedp.FullScreenshot(100))
}

func shootView(t *testing.T, tab context.Context, dir, name string) {
	t.Helper()
	save(t, tab, dir, name, chromedp.CaptureScreenshot())
}

func save(t *testing.T, tab context.Context, dir, name string, capture chromedp.Action[[]byte]) {
	t.Helper()
	png, err := chromedp.Run(tab, capture)
	require.NoError(t, err, "screenshot %s", name)
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644))
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// startStack runs the embedded stack with demo traffic on free loopback
// ports until the test ends.
func startStack(t *testing.T) devstack.Stack {
	t.Helper()
	cfg := devstack.Config{Brokers: testutil.RealKafka(t), Prefix: testutil.Prefix(t) + ".", IngestorAddr: "127.0.0.1:0",
		ScorerAddr: "127.0.0.1:0", DecayerAddr: "127.0.0.1:0", Partitions: 4, LogLevel: "error", DemoRate: 100, DemoContacts: 150}
	ctx, cancel := context.WithCancel(context.Background())
	up := make(chan devstack.Stack, 1)
	done := make(chan error, 1)
	go func() { done <- devstack.Run(ctx, cfg, testutil.Logger(t), func(s devstack.Stack) { up <- s }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(15 * time.Second):
			t.Error("stack did not stop within 15s")
		}
	})
	select {
	case s := <-up:
		return s
	case err := <-done:
		t.Fatalf("stack failed: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("stack did not start within 30s")
	}
	return devstack.Stack{}
}

// seed posts the test's own subjects and waits until they are scored and
// the demo traffic has filled the report.
func seed(t *testing.T, base string) {
	t.Helper()
	// Spread over days, so the contact's chart has a shape.
	now := time.Now().UTC()
	times := map[string]string{"ui-c1": now.Add(-72 * time.Hour).Format(time.RFC3339), "ui-c2": now.Add(-30 * time.Hour).Format(time.RFC3339)}
	evs := []map[string]any{
		{"id": "ui-a1", "type": "account.updated", "account_id": topAccount, "properties": map[string]any{"name": "UI Test Co",
			"employees": 5000, "revenue": 400000000, "industry": "software", "country": "US", "tier": "named"}},
		{"id": "ui-c1", "type": "contact.updated", "contact_id": topContact, "account_id": topAccount, "properties": map[string]any{
			"first_name": "Ada", "last_name": "Lovelace", "email": "ada@ui.example", "phone": "+1 555 0100", "title": "VP Marketing",
			"company": "UI Test Co"}},
		{"id": "ui-c2", "type": "webinar.attended", "contact_id": topContact, "account_id": topAccount},
		{"id": "ui-c3", "type": "score.adjusted", "contact_id": topContact, "account_id": topAccount,
			"properties": map[string]any{"points": 1000, "reason": "console test: top of the board"}},
		{"id": "ui-m0", "type": "account.updated", "account_id": markupAccount, "properties": map[string]any{"name": markupName,
			"employees": 50, "industry": "retail", "country": "FR"}},
		{"id": "ui-m1", "type": "contact.updated", "contact_id": markupContact, "account_id": markupAccount,
			"properties": map[string]any{"first_name": "<b>Eve</b>", "title": markupTitle, "company": markupName}},
		{"id": "ui-m2", "type": "score.adjusted", "contact_id": markupContact, "account_id": markupAccount,
			"properties": map[string]any{"points": 900, "reason": `<script>alert(5)</script>`}},
	}
	for _, ev := range evs {
		ev["time"], ev["source"] = cmp.Or(times[ev["id"].(string)], now.Add(-time.Hour).Format(time.RFC3339)), "console-test"
	}
	post(t, base, evs...)
	deadline := time.Now().Add(60 * time.Second)
	for {
		var c api.Contact
		ok := tryJSON(base+"/v1/contacts/"+url.PathEscape(markupContact), &c) && c.Events == 2 &&
			tryJSON(base+"/v1/contacts/"+topContact, &c) && c.Events == 3 && reportContacts(base) > 20
		if ok {
			return
		}
		require.True(t, time.Now().Before(deadline), "seeded contacts not scored within 60s")
		time.Sleep(200 * time.Millisecond)
	}
}

// registerVersion4 registers a model version 4 that gives a webinar 40
// points instead of 25 and grade A from fit 70 instead of 40, as a
// backfill with a new model would.
func registerVersion4(t *testing.T, redisAddr string) {
	t.Helper()
	src := string(model.DefaultYAML())
	src = strings.Replace(src, `version: "3"`, `version: "4"`, 1)
	src = strings.Replace(src, "changelog:\n", "changelog:\n  - version: \"4\"\n    date: 2026-12-06\n    author: console-test\n    what: A webinar is worth 40.\n", 1)
	src = strings.Replace(src, "event: webinar.attended\n    points: 25", "event: webinar.attended\n    points: 40", 1)
	src = strings.Replace(src, "{grade: A, min: 40}", "{grade: A, min: 70}", 1)
	m, err := model.Parse([]byte(src))
	require.NoError(t, err)
	require.Equal(t, "4", m.Version)
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	require.NoError(t, store.RegisterModel(context.Background(), rdb, "leads", "4", m.Source))
}

func post(t *testing.T, base string, evs ...map[string]any) {
	t.Helper()
	var body bytes.Buffer
	for _, ev := range evs {
		require.NoError(t, json.NewEncoder(&body).Encode(ev))
	}
	resp, err := http.Post(base+"/v1/events", "application/x-ndjson", &body)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
}

func reportContacts(base string) int64 {
	var rep struct {
		Contacts int64 `json:"contacts"`
	}
	tryJSON(base+"/v1/reports/effectiveness", &rep)
	return rep.Contacts
}

func tryJSON(u string, v any) bool {
	resp, err := http.Get(u)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(v) == nil
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	require.True(t, tryJSON(u, v), "GET %s", u)
}
