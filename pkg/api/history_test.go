package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/leadscore/leads/pkg/api"
	"github.com/leadscore/leads/pkg/commit"
	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/stream"
	"github.com/leadscore/leads/pkg/testutil"
)

var (
	update = flag.Bool("update", false, "rewrite the golden files in testdata")
	dumpV1 = flag.Bool("dump-v1", false, "with -update, also write pkg/store's fixture of ledgers as lists (only on code that writes them)")
)

// nopSink takes the crossings of a commit and drops them.
type nopSink struct{}

func (nopSink) Publish(context.Context, ...stream.Record) error { return nil }

// pipeline scores batches of events and decay passes into a store the way
// the scorer and the decayer do, through the write cycle (commit.Cycle).
type pipeline struct {
	t  *testing.T
	st *store.Store
}

// run loads the homes of contacts and those plan asks for, applies the
// batch with apply and commits it, redoing it as the cycle asks.
func (p *pipeline) run(e *scoring.Engine, contacts []string, plan commit.Plan, apply func(ws *scoring.Workspace) error) {
	p.t.Helper()
	ctx := context.Background()
	c := &commit.Committer{Store: p.st, Sink: nopSink{}, Topic: "t", Engine: e, Writer: commit.ScorerWriter()}
	post, err := c.Cycle(ctx, func(need *commit.Needs) (*commit.Post, error) {
		b, err := c.Load(ctx, contacts, plan, need)
		if err != nil {
			return nil, err
		}
		if err := apply(b.WS); err != nil {
			return nil, err
		}
		return c.Commit(ctx, b)
	}, c.Deliver)
	require.NoError(p.t, err)
	require.NoError(p.t, c.Deliver(ctx, post))
}

func (p *pipeline) batch(e *scoring.Engine, evs ...event.Event) {
	p.t.Helper()
	var ids []string
	for _, ev := range evs {
		if ev.ContactID != "" {
			ids = append(ids, ev.ContactID)
		}
	}
	p.run(e, ids, func(ws *scoring.Workspace) map[string]*store.Request {
		reqs := map[string]*store.Request{}
		for i := range evs {
			from, to := ws.Target(&evs[i])
			reqs[from], reqs[to] = &store.Request{All: true}, &store.Request{All: true}
		}
		return reqs
	}, func(ws *scoring.Workspace) error {
		for i := range evs {
			if err := ws.Apply(&evs[i]); err != nil && !errors.Is(err, scoring.ErrNotLoaded) {
				return err
			}
		}
		return nil
	})
}

func (p *pipeline) decay(e *scoring.Engine, now time.Time, ids ...string) {
	p.t.Helper()
	p.run(e, ids, func(ws *scoring.Workspace) map[string]*store.Request {
		reqs := map[string]*store.Request{}
		for _, home := range ws.Where {
			reqs[home] = &store.Request{All: true}
		}
		return reqs
	}, func(ws *scoring.Workspace) error {
		for _, id := range ids {
			if _, err := ws.Decay(id, now); err != nil && !errors.Is(err, scoring.ErrNotLoaded) {
				return err
			}
		}
		return nil
	})
}

// secondModel is the default model under version "4", with other email
// points, 8 decay points a step instead of 10 and directors scored as VPs: lines scored
// under it read differently from those scored under "3".
func secondModel(t *testing.T) *model.Model {
	t.Helper()
	y := string(model.DefaultYAML())
	for _, r := range [][2]string{
		{"version: \"3\"\nname", "version: \"4\"\nname"},
		{"    points: 5\n    cap: {max: 3, per: 1d}\n    reason: email opened (at most 3 a day)",
			"    points: 4\n    cap: {max: 2, per: 1d}\n    reason: email opened (at most 2 a day)"},
		{"pattern: '\\bdirector\\b'\n      points: 7", "pattern: '\\bdirector\\b'\n      points: 10"},
		{"every: 30d\n  points: 10\n", "every: 30d\n  points: 8\n"},
	} {
		require.Contains(t, y, r[0])
		y = strings.Replace(y, r[0], r[1], 1)
	}
	y = strings.Replace(y, "changelog:\n", "changelog:\n  - version: \"4\"\n    date: 2026-12-06\n    author: test\n    what: test\n    why: test\n", 1)
	m, err := model.Parse([]byte(y))
	require.NoError(t, err)
	return m
}

// historyEvents is a realistic life of four contacts: profiles and
// firmographics (fit lines, account refreshes), every kind of behavior rule
// (caps, products, video by percent, manual points, negative pages, a late
// event), outcomes with sales feedback, event ids of several shapes
// (sequence numbers, UUIDs, arbitrary text) and a move between accounts.
func historyEvents(at time.Time) (first, second, third []event.Event) {
	n := 0
	ev := func(id, typ, contact, account string, d time.Duration, props map[string]any) event.Event {
		n++
		if id == "" {
			id = fmt.Sprintf("evt-%d", 1000+n*7)
		}
		return event.Event{ID: id, Type: typ, ContactID: contact, AccountID: account, Time: at.Add(d), Source: "test", Properties: props}
	}
	h := time.Hour
	first = []event.Event{
		ev("", "account.updated", "", "acme.io", 0, map[string]any{"name": "Acme", "employees": 5000.0,
			"revenue": 2e8, "industry": "software", "country": "US", "tier": "named", "technologies": []any{"aws"}}),
		ev("", "contact.updated", "c-1", "acme.io", h, map[string]any{"first_name": "Ada", "last_name": "L",
			"email": "ada@acme.io", "title": "VP Marketing", "company": "Acme"}),
		ev("", "email.opened", "c-1", "acme.io", 2*h, nil),
		ev("", "email.opened", "c-1", "acme.io", 3*h, nil),
		ev("", "email.opened", "c-1", "acme.io", 4*h, nil),
		ev("", "email.opened", "c-1", "acme.io", 5*h, nil), // over the cap
		ev("", "web.page_viewed", "c-1", "acme.io", 6*h, map[string]any{"url": "https://x.io/pricing"}),
		ev("", "web.page_viewed", "c-1", "acme.io", 7*h, map[string]any{"url": "https://x.io/pricing"}),
		ev("", "web.page_viewed", "c-1", "acme.io", 8*h, map[string]any{"url": "https://x.io/products/analytics"}),
		ev("6f1c2a9e-8b3d-4c5e-9f7a-0b1c2d3e4f5a", "video.watched", "c-1", "acme.io", 9*h, map[string]any{"percent": 80.0}),
		ev("", "content.downloaded", "c-1", "acme.io", 10*h, map[string]any{"asset_type": "whitepaper"}),
		ev("", "web.page_viewed", "c-1", "acme.io", 11*h, map[string]any{"url": "https://x.io/careers"}),
		ev("", "contact.updated", "c-2", "acme.io", h, map[string]any{"first_name": "Bo", "last_name": "K",
			"phone": "+1 555", "title": "Director of IT", "company": "Acme"}),
		ev("crm:lead/2 ü{x}", "webinar.attended", "c-2", "acme.io", 2*h, nil),
		ev("", "contact.updated", "c-3", "", h, map[string]any{"first_name": "Cy", "email": "cy@gmail.com",
			"title": "Intern"}),
		ev("", "form.submitted", "c-3", "", 2*h, map[string]any{"form": "newsletter"}),
		ev("", "webinar.attended", "c-4", "", 2*h, nil),
	}
	day := 24 * h
	second = []event.Event{
		ev("", "meeting.booked", "c-1", "acme.io", 2*day, nil),
		ev("", "opportunity.created", "c-1", "acme.io", 2*day+h, nil),
		ev("", "sales.feedback", "c-1", "acme.io", 2*day+2*h, map[string]any{"rating": "good", "reason": "ready to buy"}),
		ev("", "email.clicked", "c-1", "acme.io", 30*h, nil), // late: before the meeting
		ev("", "score.adjusted", "c-2", "acme.io", 2*day, map[string]any{"points": 12.0, "reason": "met at a dinner"}),
		ev("", "account.updated", "", "acme.io", 2*day+3*h, map[string]any{"employees": 800.0}),
		ev("0b1c2d3e-4f5a-4c5e-9f7a-6f1c2a9e8b3d", "tradeshow.visited", "c-3", "", 2*day, nil),
	}
	// After 100 idle days (decay), under the second model: c-1 moves to
	// beta.io and keeps scoring there.
	later := 100 * day
	third = []event.Event{
		ev("", "account.updated", "", "beta.io", later, map[string]any{"name": "Beta", "employees": 300.0,
			"industry": "retail", "country": "FR", "tier": "target"}),
		ev("", "email.opened", "c-1", "acme.io", later+h, nil),
		ev("", "contact.updated", "c-1", "beta.io", later+2*h, map[string]any{"title": "Director of Marketing",
			"company": "Beta"}),
		ev("", "email.opened", "c-1", "beta.io", later+3*h, nil),
		ev("", "deal.won", "c-1", "beta.io", later+4*h, nil),
		ev("", "email.opened", "c-2", "acme.io", later+h, nil),
		ev("", "sales.disqualified", "c-3", "", later, nil),
		ev("", "score.adjusted", "c-3", "", later+h, map[string]any{"points": -7.0}),
		ev("", "webinar.registered", "c-2", "acme.io", 50*day, nil),
		ev("", "email.clicked", "c-4", "", h, nil), // late, and decayed to the floor since
	}
	return first, second, third
}

// scoreHistory runs historyEvents through the store: three batches under
// model "3", decay passes, then a batch under model "4".
func scoreHistory(t *testing.T, st *store.Store) {
	at := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	p := &pipeline{t: t, st: st}
	v3, v4 := scoring.New(model.Default()), scoring.New(secondModel(t))
	first, second, third := historyEvents(at)
	p.batch(v3, first[:6]...)
	p.batch(v3, first[6:]...)
	p.batch(v3, second...)
	for _, d := range []int{40, 75, 95} {
		p.decay(v3, at.Add(time.Duration(d)*24*time.Hour), "c-1", "c-2", "c-3", "c-4")
	}
	p.batch(v4, third...)
	p.decay(v4, at.Add(200*24*time.Hour), "c-1", "c-2", "c-3", "c-4")
}

// historyJSON is GET /v1/contacts/{id}/history?limit=200 of every contact.
func historyJSON(t *testing.T, st *store.Store) []byte {
	t.Helper()
	a := api.New(st, scoring.New(model.Default()), zaptest.NewLogger(t))
	var out bytes.Buffer
	for _, id := range []string{"c-1", "c-2", "c-3", "c-4"} {
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/contacts/"+id+"/history?limit=200", nil))
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		var pretty bytes.Buffer
		require.NoError(t, json.Indent(&pretty, rec.Body.Bytes(), "", " "))
		out.Write(pretty.Bytes())
		out.WriteByte('\n')
	}
	return out.Bytes()
}

// TestHistoryJSONIsWhatItWas scores a realistic history (every rule kind,
// caps, a late event, decay, outcomes, an account refresh, a model change,
// a contact moving between accounts, event ids of several shapes) and
// compares the history endpoint's JSON with testdata/history.golden.json.
// That file was written by this test (-update) on the code before ledger
// lines became packed binary (commit d871015, one Redis list element per
// line), so the packed ledger must read back byte for byte as that did.
func TestHistoryJSONIsWhatItWas(t *testing.T) {
	t.Parallel()
	st := store.New(testutil.RedisClient(t), testutil.Prefix(t))
	scoreHistory(t, st)
	got := historyJSON(t, st)
	path := filepath.Join("testdata", "history.golden.json")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
		if *dumpV1 {
			dumpNamespace(t, st, filepath.Join("..", "store", "testdata", "ledger_v1.json"))
		}
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(want), string(got))
}

// dumpNamespace writes every key of the store's namespace, with the
// history each contact reads as, to a fixture of pkg/store's: the ledgers
// as the code before packed lines wrote them (run with -update on that
// code; see TestHistoryJSONIsWhatItWas).
func dumpNamespace(t *testing.T, st *store.Store, path string) {
	t.Helper()
	ctx := context.Background()
	rdb := st.Client()
	type key struct {
		Key  string             `json:"key"`
		Type string             `json:"type"`
		Hash map[string][]byte  `json:"hash,omitempty"`
		List [][]byte           `json:"list,omitempty"`
		Set  [][]byte           `json:"set,omitempty"`
		ZSet map[string]float64 `json:"zset,omitempty"`
	}
	dump := struct {
		Namespace string                     `json:"namespace"`
		Keys      []key                      `json:"keys"`
		History   map[string][]scoring.Entry `json:"history"`
	}{Namespace: st.Namespace(), History: map[string][]scoring.Entry{}}
	keys, err := rdb.Keys(ctx, st.Namespace()+":*").Result()
	require.NoError(t, err)
	slices.Sort(keys)
	for _, k := range keys {
		typ, err := rdb.Type(ctx, k).Result()
		require.NoError(t, err)
		d := key{Key: k, Type: typ}
		switch typ {
		case "hash":
			m, err := rdb.HGetAll(ctx, k).Result()
			require.NoError(t, err)
			d.Hash = map[string][]byte{}
			for f, v := range m {
				d.Hash[f] = []byte(v)
			}
		case "list":
			l, err := rdb.LRange(ctx, k, 0, -1).Result()
			require.NoError(t, err)
			for _, v := range l {
				d.List = append(d.List, []byte(v))
			}
		case "set":
			l, err := rdb.SMembers(ctx, k).Result()
			require.NoError(t, err)
			slices.Sort(l)
			for _, v := range l {
				d.Set = append(d.Set, []byte(v))
			}
		case "zset":
			zs, err := rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
			require.NoError(t, err)
			d.ZSet = map[string]float64{}
			for _, z := range zs {
				d.ZSet[z.Member.(string)] = z.Score
			}
		default:
			t.Fatalf("key %s of type %s", k, typ)
		}
		dump.Keys = append(dump.Keys, d)
	}
	for _, id := range []string{"c-1", "c-2", "c-3", "c-4"} {
		h, err := st.History(ctx, id, store.DefaultLedgerMax)
		require.NoError(t, err)
		dump.History[id] = h
	}
	b, err := json.MarshalIndent(dump, "", " ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o644))
}
