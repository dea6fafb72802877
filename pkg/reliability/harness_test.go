package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/leadscore/leads/pkg/demo"
	"github.com/leadscore/leads/pkg/embedded"
	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/failpoint"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/stream"
	"github.com/leadscore/leads/pkg/testutil"
	"github.com/leadscore/leads/pkg/transition"
)

// bin is the directory holding the scorer, ingestor and decayer built for
// this test binary.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "leads-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "../../cmd/scorer", "../../cmd/ingestor", "../../cmd/decayer")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build the programs:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	bin = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// begin is when the generated history begins.
var begin = time.Date(2026, 9, 1, 9, 0, 0, 0, time.UTC)

// rig is one broker, one redis-server and a generated history on an
// events topic, shared by the runs of a test.
type rig struct {
	t        *testing.T
	ctx      context.Context
	prefix   string
	brokers  []string
	kcfg     stream.Config
	redis    string
	rs       *embedded.Redis
	rdb      *redis.Client
	events   string
	dlq      string
	w        *stream.Writer
	history  []event.Event
	contacts []string
	accounts []string
}

func newRig(t *testing.T, contacts, events int) *rig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	p := testutil.Prefix(t)
	r := &rig{t: t, ctx: ctx, prefix: p, events: p + ".events", dlq: p + ".dlq"}
	r.brokers = testutil.Kafka(t, 4, r.events, r.dlq)
	r.kcfg = stream.Config{Brokers: r.brokers}
	r.redis, r.rs = testutil.Redis(t)
	r.rdb = redis.NewClient(&redis.Options{Addr: r.redis})
	t.Cleanup(func() { r.rdb.Close() })
	r.w = stream.NewWriter(r.kcfg, zap.NewNop())
	t.Cleanup(func() { r.w.Close() })
	if events > 0 {
		g := demo.New(7, contacts, begin, p+"-")
		r.history = append(g.Accounts(), g.Next(events, 20*time.Minute)...)
		for i := range contacts {
			r.contacts = append(r.contacts, fmt.Sprintf("%s-c-%d", p, i))
		}
		for _, ev := range r.history {
			if ev.IsAccountEvent() {
				r.accounts = append(r.accounts, ev.AccountID)
			}
		}
	}
	return r
}

// publish puts events on the events topic, keyed as the ingestor keys them.
func (r *rig) publish(evs ...event.Event) {
	r.t.Helper()
	recs := make([]stream.Record, len(evs))
	for i := range evs {
		b, err := json.Marshal(&evs[i])
		require.NoError(r.t, err)
		recs[i] = stream.Record{Topic: r.events, Key: []byte(evs[i].Key()), Value: b}
	}
	require.NoError(r.t, r.w.Publish(r.ctx, recs...))
}

// lane is one independent run over the rig's events topic: its own Redis
// namespace, consumer group and transitions topic.
type lane struct {
	*rig
	t           *testing.T
	name        string
	ns          string
	group       string
	transitions string
	st          *store.Store
}

func (r *rig) lane(t *testing.T, name string) *lane {
	t.Helper()
	l := &lane{rig: r, t: t, name: name, ns: r.prefix + "-" + name, group: r.prefix + "-" + name, transitions: r.prefix + "." + name + ".tr"}
	require.NoError(t, stream.EnsureTopics(r.ctx, r.kcfg, stream.TopicSpec{Name: l.transitions, Partitions: 4}))
	l.st = store.New(r.rdb, l.ns)
	return l
}

// args are the flags every program of the lane takes.
func (l *lane) args(httpAddr string) []string {
	return []string{"--kafka-brokers", strings.Join(l.brokers, ","), "--redis-addr", l.redis, "--namespace", l.ns,
		"--events-topic", l.events, "--transitions-topic", l.transitions, "--dlq-topic", l.dlq,
		"--http-addr", httpAddr, "--log-level", logLevel()}
}

// logLevel is the programs' log level: LEADS_TEST_LOG_LEVEL, else warn.
func logLevel() string {
	if v := os.Getenv("LEADS_TEST_LOG_LEVEL"); v != "" {
		return v
	}
	return "warn"
}

// proc is a running program.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	http string
	done chan struct{}
	err  error
	out  string
}

// rebalanceTimeout is how long the group coordinator waits for members to
// rejoin, for the scorers these tests run (--session-timeout 1s: the
// stream package takes the larger of that and 5 s).
const rebalanceTimeout = 5 * time.Second

// run starts a program of the lane; failpoints arms LEADS_FAILPOINT.
func (l *lane) run(program, failpoints string, extra ...string) *proc {
	l.t.Helper()
	addr := freeAddr(l.t)
	args := append(l.args(addr), extra...)
	if program == "scorer" {
		args = append(args, "--group", l.group, "--session-timeout", "1s", "--batch-size", "25", "--max-backoff", "500ms")
	}
	return start(l.t, program, failpoints, addr, args...)
}

func start(t *testing.T, program, failpoints, addr string, args ...string) *proc {
	t.Helper()
	out := filepath.Join(t.TempDir(), program+".log")
	f, err := os.Create(out)
	require.NoError(t, err)
	cmd := exec.Command(filepath.Join(bin, program), args...)
	cmd.Env = append(os.Environ(), failpoint.EnvVar+"="+failpoints)
	cmd.Stdout, cmd.Stderr = f, f
	require.NoError(t, cmd.Start())
	p := &proc{t: t, name: program, cmd: cmd, http: addr, done: make(chan struct{}), out: out}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.signal(syscall.SIGCONT)
		p.signal(syscall.SIGKILL)
		<-p.done
		if t.Failed() {
			b, _ := os.ReadFile(out)
			t.Logf("%s %v output:\n%s", program, args, tail(b, 4000))
		}
	})
	return p
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func (p *proc) signal(sig syscall.Signal) {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(sig)
	}
}

// killed waits for the process to die of SIGKILL, as a failpoint does.
func (p *proc) killed(wait time.Duration) {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(wait):
		p.t.Fatalf("%s did not reach its failpoint within %s", p.name, wait)
	}
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	require.True(p.t, ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL, "%s: want death by SIGKILL, got %v", p.name, p.err)
}

// kill sends SIGKILL and waits for the process to end.
func (p *proc) kill() {
	p.signal(syscall.SIGKILL)
	<-p.done
}

// exited waits for a normal exit with status 0.
func (p *proc) exited(wait time.Duration) {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(wait):
		p.t.Fatalf("%s did not exit within %s", p.name, wait)
	}
	require.NoError(p.t, p.err, "%s exit status", p.name)
}

// ready returns the /readyz status code, or 0 when nothing answers.
func (p *proc) ready() int {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://" + p.http + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func freeAddr(t *testing.T) string {
	t.Helper()
	port, err := embedded.FreePort()
	require.NoError(t, err)
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// eventually polls cond every 50 ms until it holds or wait passes.
func eventually(t *testing.T, wait time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", wait, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// expected is what the pure engine makes of a history: every contact and
// account, and the ids of every crossing.
type expected struct {
	contacts map[string]scoring.Contact
	accounts map[string]scoring.Account
	// anyAnchor leaves the contacts' DecayedTo out of the comparison.
	anyAnchor bool
	// ids maps each crossing's id to "type subject <- cause".
	ids map[string]string
	ws  *scoring.Workspace
}

type memLoader struct{}

func (memLoader) LoadHome(id string, _ bool) (*scoring.Home, error) { return scoring.NewHome(id), nil }

// pure applies the history in order with the engine alone (events of one
// account share a partition, so any order the scorer sees them in agrees
// with this one per home), then decays every contact at each of decays.
func pure(t *testing.T, history []event.Event, decays ...time.Time) *expected {
	t.Helper()
	return engineRun(t, history, false, decays...)
}

// pureDue is pure with decay passes as the decayer makes them: each decays
// only the contacts then due (a decay step or dormancy), where pure decays
// every contact. Where a decay changes nothing but a contact's decay
// anchor (DecayedTo), the decayer writes the anchor only if its home
// changed otherwise in the same batch, so the anchors are left out of the
// comparison; the scores, statuses and transitions are compared as ever.
// At a pass where every contact changes (dormancy) pure and pureDue agree.
func pureDue(t *testing.T, history []event.Event, decays ...time.Time) *expected {
	t.Helper()
	x := engineRun(t, history, true, decays...)
	x.anyAnchor = true
	return x
}

func engineRun(t *testing.T, history []event.Event, onlyDue bool, decays ...time.Time) *expected {
	t.Helper()
	e := scoring.New(model.Default())
	ws := scoring.NewWorkspace(e, memLoader{})
	for i := range history {
		ev := history[i]
		require.NoError(t, ws.Apply(&ev))
	}
	for _, now := range decays {
		ids := make([]string, 0, len(ws.Where))
		for id := range ws.Where {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			if c := ws.Contact(id); onlyDue && (c == nil || e.NextDue(c) > now.Unix()) {
				continue
			}
			_, err := ws.Decay(id, now)
			require.NoError(t, err)
		}
	}
	x := &expected{contacts: map[string]scoring.Contact{}, accounts: map[string]scoring.Account{}, ids: map[string]string{}, ws: ws}
	for _, h := range ws.Homes {
		for id, c := range h.Contacts {
			x.contacts[id] = *c
		}
		if h.Account.IsAccount() {
			x.accounts[h.Account.ID] = *h.Account
		}
		for i := range h.Crossings {
			ce := transition.FromCrossing(&h.Crossings[i])
			x.ids[ce.ID] = describe(&ce)
		}
	}
	return x
}

// view is the part of a contact the tests compare: everything a reader of
// the scores sees.
type view struct {
	Score, Behavior, Fit, Events int32
	Grade                        string
	Stage                        model.Stage
	MQL, AQL, Dormant            bool
	AccountID                    string
	DecayedTo, LastEngaged       int64
	// MergedInto and Merged (joined) say what merges made of it.
	MergedInto, Merged string
}

func viewOf(c *scoring.Contact) view {
	return view{Score: c.Score(), Behavior: c.Behavior, Fit: c.Fit, Events: c.Events, Grade: c.Grade, Stage: c.Stage,
		MQL: c.MQL, AQL: c.AQL, Dormant: c.Dormant, AccountID: c.AccountID, DecayedTo: c.DecayedTo, LastEngaged: c.LastEngaged,
		MergedInto: c.MergedInto, Merged: strings.Join(c.Merged, ",")}
}

type accountView struct {
	Score, Fit, Engagement, Events int32
	MQA                            bool
}

func accountViewOf(a *scoring.Account) accountView {
	return accountView{Score: a.Score(), Fit: a.Fit, Engagement: a.Engagement, Events: a.Events, MQA: a.MQA}
}

// state reads every contact and account of the expected set from the lane.
func (l *lane) state(x *expected) (map[string]view, map[string]accountView) {
	cs, as := map[string]view{}, map[string]accountView{}
	for id := range x.contacts {
		c, _, err := l.st.Contact(l.ctx, id)
		if err == nil && c != nil {
			cs[id] = viewOf(c)
		}
	}
	for id := range x.accounts {
		a, err := l.st.Account(l.ctx, id)
		if err == nil && a != nil {
			as[id] = accountViewOf(a)
		}
	}
	return cs, as
}

func (x *expected) views() (map[string]view, map[string]accountView) {
	cs, as := map[string]view{}, map[string]accountView{}
	for id, c := range x.contacts {
		cs[id] = viewOf(&c)
	}
	for id, a := range x.accounts {
		as[id] = accountViewOf(&a)
	}
	return cs, as
}

// describe names a transition for comparison: id, type, subject and cause.
func describe(ce *transition.CloudEvent) string {
	return ce.ID + " " + ce.Type + " " + ce.Subject + " <- " + ce.Data.Cause
}

// transitionIDs reads the lane's transitions topic: the ids, and how many
// records carried them.
func (l *lane) transitionIDs() (map[string]string, int) {
	l.t.Helper()
	ids := map[string]string{}
	n := 0
	err := stream.Scan(l.ctx, l.kcfg, l.transitions, 0, func(rec stream.Record) error {
		var ce transition.CloudEvent
		if err := json.Unmarshal(rec.Value, &ce); err != nil {
			return err
		}
		ids[ce.ID] = describe(&ce)
		n++
		return nil
	})
	require.NoError(l.t, err)
	return ids, n
}

// converges waits until the lane's scores equal the expected ones and its
// transitions topic holds exactly the expected ids, then asserts both.
func (l *lane) converges(x *expected, wait time.Duration) {
	l.t.Helper()
	wantC, wantA := x.views()
	x.dropAnchors(wantC)
	var gotC map[string]view
	var gotA map[string]accountView
	var ids map[string]string
	deadline := time.Now().Add(wait)
	for {
		gotC, gotA = l.state(x)
		x.dropAnchors(gotC)
		ids, _ = l.transitionIDs()
		if equalMaps(gotC, wantC) && equalMaps(gotA, wantA) && slices.Equal(sortedValues(ids), sortedValues(x.ids)) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.Equal(l.t, wantC, gotC, "%s: every contact's score is the engine's, each event counted once", l.name)
	require.Equal(l.t, wantA, gotA, "%s: every account's score is the engine's", l.name)
	require.Equal(l.t, sortedValues(x.ids), sortedValues(ids), "%s: every crossing published, nothing else", l.name)
}

func (x *expected) dropAnchors(views map[string]view) {
	if !x.anyAnchor {
		return
	}
	for id, v := range views {
		v.DecayedTo = 0
		views[id] = v
	}
}

func equalMaps[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func sortedValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}
