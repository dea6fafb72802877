package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/api"
	"github.com/leadscore/leads/pkg/openapi/openapitest"
	"github.com/leadscore/leads/pkg/report"
	"github.com/leadscore/leads/pkg/stream"
	"github.com/leadscore/leads/pkg/testutil"
	"github.com/leadscore/leads/pkg/transition"
)

// startStack runs the whole stack (embedded Kafka, or the shared Apache
// Kafka with topics of its own; redis-server, ingestor, scorer) on free
// ports until the test ends.
func startStack(t *testing.T) Stack {
	t.Helper()
	return startStackWith(t, Config{})
}

// startStackWith starts a stack on free ports with cfg's other settings.
func startStackWith(t *testing.T, cfg Config) Stack {
	t.Helper()
	cfg.Brokers, cfg.Prefix = testutil.RealKafka(t), testutil.Prefix(t)+"."
	cfg.IngestorAddr, cfg.ScorerAddr, cfg.DecayerAddr, cfg.Partitions, cfg.LogLevel = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", 4, "warn"
	ctx, cancel := context.WithCancel(context.Background())
	up := make(chan Stack, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, testutil.Logger(t), func(s Stack) { up <- s })
	}()
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
	return Stack{}
}

// historyNDJSON is written with the days of November 2026 it was first
// written for; relative moves them to start at another day, so that the
// tests see the history as old whatever the day they run on.
const historyNDJSON = `{"id":"h-a1","type":"account.updated","account_id":"acme.io","time":"2026-11-02T09:00:00Z","source":"crm","properties":{"name":"Acme","employees":5000,"revenue":400000000,"industry":"software","country":"US","tier":"named"}}
{"id":"h-1","type":"contact.updated","contact_id":"c-42","account_id":"acme.io","time":"2026-11-02T10:00:00Z","source":"crm","properties":{"first_name":"Ada","last_name":"Lovelace","email":"ada@acme.io","title":"VP Engineering","company":"Acme"}}
{"id":"h-2","type":"email.opened","contact_id":"c-42","account_id":"acme.io","time":"2026-11-02T11:00:00Z","source":"email"}
{"id":"h-3","type":"web.page_viewed","contact_id":"c-42","account_id":"acme.io","time":"2026-11-02T11:05:00Z","source":"web","properties":{"url":"https://acme.io/careers"}}
{"id":"h-4","type":"content.downloaded","contact_id":"c-42","account_id":"acme.io","time":"2026-11-03T09:00:00Z","source":"web","properties":{"asset_type":"whitepaper"}}
{"id":"h-5","type":"webinar.attended","contact_id":"c-42","account_id":"acme.io","time":"2026-11-04T16:00:00Z","source":"zoom","properties":{"webinar_id":"w-9"}}
{"id":"h-6","type":"web.page_viewed","contact_id":"c-42","account_id":"acme.io","time":"2026-11-05T09:00:00Z","source":"web","properties":{"url":"https://acme.io/pricing"}}
{"id":"h-7","type":"web.page_viewed","contact_id":"c-42","account_id":"acme.io","time":"2026-11-05T09:10:00Z","source":"web","properties":{"url":"https://acme.io/pricing?plan=pro"}}
{"id":"h-8","type":"email.opened","contact_id":"c-7","account_id":"acme.io","time":"2026-11-05T10:00:00Z","source":"email"}
`

// relative rewrites the days 2026-11-02 to 2026-11-12 in s to the days
// starting at day0.
func relative(s string, day0 time.Time) string {
	var pairs []string
	for d := range 11 {
		pairs = append(pairs, fmt.Sprintf("2026-11-%02d", 2+d), day0.AddDate(0, 0, d).Format(time.DateOnly))
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

// recent is a first day for the history such that none of it has been idle
// long enough to decay today: eight days ago.
func recent() time.Time { return time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -8) }

func postEvents(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := openapitest.Client(t).Post(url+"/v1/events", "application/x-ndjson", bytes.NewBufferString(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.String()
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := openapitest.Client(t).Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
	}
	return resp.StatusCode
}

// transitions reads the transitions topic until it holds n records or the
// deadline, and returns what it holds then. It reads each partition from
// its start to its end, without a consumer group: a group member that
// misses its session on a busy machine reads everything again, which
// would look like crossings published twice.
func transitions(t *testing.T, s Stack, n int, wait time.Duration) []transition.CloudEvent {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		var out []transition.CloudEvent
		err := stream.Scan(context.Background(), stream.Config{Brokers: s.Brokers}, s.TransitionsTopic, 0, func(r stream.Record) error {
			var ce transition.CloudEvent
			if err := json.Unmarshal(r.Value, &ce); err != nil {
				return err
			}
			assert.Equal(t, ce.Subject, string(r.Key), "keyed by subject")
			out = append(out, ce)
			return nil
		})
		require.NoError(t, err)
		if len(out) >= n || time.Now().After(deadline) {
			return out
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitContact(t *testing.T, s Stack, id string, events int32) api.Contact {
	t.Helper()
	var c api.Contact
	require.Eventually(t, func() bool {
		return getJSON(t, s.IngestorURL+"/v1/contacts/"+id, &c) == http.StatusOK && c.Events == events
	}, 30*time.Second, 20*time.Millisecond, "contact %s never reached %d events", id, events)
	return c
}

func byContact(ces []transition.CloudEvent, subject string) []string {
	var out []string
	for _, ce := range ces {
		if ce.Subject == subject {
			out = append(out, fmt.Sprintf("%s<-%s", ce.Type, ce.Data.Cause))
		}
	}
	return out
}

func ids(ces []transition.CloudEvent) map[string]string {
	out := map[string]string{}
	for _, ce := range ces {
		out[ce.Type+"<-"+ce.Data.Cause+"@"+ce.Subject] = ce.ID
	}
	return out
}

// TestEndToEnd posts a realistic history over HTTP and checks the scores,
// the ledger and the exact transitions; a second, fresh stack fed the same
// history publishes the same transition ids.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	var runs []map[string]string
	history := relative(historyNDJSON, recent())
	for run := range 2 {
		s := startStack(t)
		code, body := postEvents(t, s.IngestorURL, history)
		require.Equal(t, http.StatusAccepted, code, body)
		assert.JSONEq(t, `{"accepted": 9}`, body)

		c := waitContact(t, s, "c-42", 7)
		// Fit: VP 10 + >1000 employees 15 + revenue 10 + software 10 + US 5 + named 10 = 60.
		// Behavior: open 5, careers -10, whitepaper 20, webinar 25, pricing 0 then 30 = 70.
		assert.Equal(t, int32(60), c.Fit)
		assert.Equal(t, int32(70), c.Behavior)
		assert.Equal(t, int32(130), c.Score)
		assert.Equal(t, "A", c.Grade)
		assert.Equal(t, "late", c.Stage)
		assert.True(t, c.MQL)
		assert.True(t, c.AQL)
		assert.Equal(t, api.Gates{TargetContact: true, Behavior: true, Account: true}, c.AQLGates)
		assert.Equal(t, "acme.io", c.AccountID)

		var hist struct{ Entries []api.Entry }
		require.Equal(t, http.StatusOK, getJSON(t, s.IngestorURL+"/v1/contacts/c-42/history", &hist))
		var rules []string
		var sum int32
		for i := len(hist.Entries) - 1; i >= 0; i-- {
			e := hist.Entries[i]
			rules = append(rules, fmt.Sprintf("%s %+d", e.Rule, e.Points))
			sum += e.Points
		}
		assert.Equal(t, []string{"vp-plus +10", "account +50", "email-open +5", "careers -10", "whitepaper +20", "webinar-attended +25",
			"pricing-repeat +0", "pricing-repeat +30"}, rules)
		assert.Equal(t, int32(130), sum, "the ledger explains the whole score: behavior, title fit and account fit")
		assert.Equal(t, int32(130), hist.Entries[0].Score)

		var acct api.Account
		require.Equal(t, http.StatusOK, getJSON(t, s.IngestorURL+"/v1/accounts/acme.io", &acct))
		assert.Equal(t, int32(50), acct.Fit)
		assert.Equal(t, 2, acct.ContactCount)
		assert.Equal(t, "c-42", acct.TopContacts[0].ContactID)

		ces := transitions(t, s, 5, 20*time.Second)
		assert.Equal(t, []string{
			"lead.stage_changed<-h-5", "lead.became_mql<-h-5", "lead.became_aql<-h-5", "lead.stage_changed<-h-7",
		}, byContact(ces, "c-42"), "in causal order")
		// The account: fit 50 + top engagement 70 reaches MQA's 120 with c-42's second pricing visit.
		assert.Equal(t, []string{"account.became_mqa<-h-7"}, byContact(ces, "acme.io"))
		assert.Empty(t, byContact(ces, "c-7"), "c-7 scores 50 fit + 5: nothing crossed")
		for _, ce := range ces {
			assert.Equal(t, "1.0", ce.SpecVersion)
			assert.Equal(t, "leads/scorer", ce.Source)
			assert.Equal(t, "application/json", ce.DataContentType)
			assert.Equal(t, "3", ce.Data.ModelVersion)
		}
		runs = append(runs, ids(ces))
		if run == 0 {
			assert.Len(t, runs[0], 5)
		}
	}
	assert.Equal(t, runs[0], runs[1], "transition ids are stable across reruns")
}

// TestEndToEndWithDecayDue: the same history, 45 days old, so that the
// decayer (every second) decays the contacts the scorer is scoring, in the
// homes whose crossings the scorer is publishing. The score is decayed
// once, and no crossing is published twice on this run without faults.
func TestEndToEndWithDecayDue(t *testing.T) {
	t.Parallel()
	s := startStackWith(t, Config{DecayEvery: time.Second})
	code, body := postEvents(t, s.IngestorURL, relative(historyNDJSON, time.Now().UTC().AddDate(0, 0, -45)))
	require.Equal(t, http.StatusAccepted, code, body)
	var c api.Contact
	require.Eventually(t, func() bool {
		return getJSON(t, s.IngestorURL+"/v1/contacts/c-42", &c) == http.StatusOK && c.Events == 7 && c.Score == 120
	}, 30*time.Second, 20*time.Millisecond, "c-42 scored and decayed once: 130 - 10 (last: %+v)", c)
	var hist struct{ Entries []api.Entry }
	require.Equal(t, http.StatusOK, getJSON(t, s.IngestorURL+"/v1/contacts/c-42/history", &hist))
	decays := 0
	for _, e := range hist.Entries {
		if e.Rule == "decay" {
			decays++
		}
	}
	assert.Equal(t, 1, decays)
	// More passes run meanwhile; none publishes anything again.
	ces := transitions(t, s, 1000, 4*time.Second)
	require.NotEmpty(t, ces)
	seen := map[string]int{}
	for _, ce := range ces {
		seen[ce.Type+"<-"+ce.Data.Cause+"@"+ce.Subject]++
	}
	for x, n := range seen {
		assert.Equal(t, 1, n, "%s published %d times", x, n)
	}
}

// TestDuplicateBatchScoresOnce posts the same batch twice: scores count it
// once and no transition id is published twice.
func TestDuplicateBatchScoresOnce(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	day0 := recent()
	for range 2 {
		code, body := postEvents(t, s.IngestorURL, relative(historyNDJSON, day0))
		require.Equal(t, http.StatusAccepted, code, body)
	}
	c := waitContact(t, s, "c-42", 7)
	var c7 api.Contact
	require.Equal(t, http.StatusOK, getJSON(t, s.IngestorURL+"/v1/contacts/c-7", &c7))
	// A marker after both batches proves the second batch was consumed.
	code, _ := postEvents(t, s.IngestorURL, relative(`{"id":"marker","type":"email.opened","contact_id":"c-marker","time":"2026-11-06T10:00:00Z"}`, day0))
	require.Equal(t, http.StatusAccepted, code)
	waitContact(t, s, "c-marker", 1)
	c = waitContact(t, s, "c-42", 7)
	assert.Equal(t, int32(130), c.Score)
	ces := transitions(t, s, 100, 3*time.Second)
	seen := map[string]int{}
	for _, ce := range ces {
		seen[ce.ID]++
	}
	assert.Len(t, seen, 5)
	for id, n := range seen {
		assert.Equal(t, 1, n, "transition %s published %d times", id, n)
	}
}

// TestRetriedLargeBatchScoresOnce: a client posts 600 events of 20
// contacts in one batch, times out and posts the batch again: every
// contact counts each event once (a window of the last 8 ids per contact
// let the second post double them).
func TestRetriedLargeBatchScoresOnce(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	at := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Second)
	var body strings.Builder
	for i := range 600 {
		typ := []string{"email.opened", "email.clicked", "webinar.attended"}[i%3]
		fmt.Fprintf(&body, `{"id":"r-%d","type":"%s","contact_id":"c-%d","account_id":"a-%d.io","time":"%s"}`+"\n",
			i, typ, i%20, i%4, at.Add(time.Duration(i)*time.Second).Format(time.RFC3339))
	}
	code, resp := postEvents(t, s.IngestorURL, body.String())
	require.Equal(t, http.StatusAccepted, code, resp)
	scores := map[string]int32{}
	for i := range 20 {
		id := fmt.Sprintf("c-%d", i)
		scores[id] = waitContact(t, s, id, 30).Score
	}
	code, resp = postEvents(t, s.IngestorURL, body.String())
	require.Equal(t, http.StatusAccepted, code, resp)
	code, resp = postEvents(t, s.IngestorURL, `{"id":"marker","type":"email.opened","contact_id":"c-0","account_id":"a-0.io","time":"`+
		at.Add(time.Hour).Format(time.RFC3339)+`"}`)
	require.Equal(t, http.StatusAccepted, code, resp)
	waitContact(t, s, "c-0", 31)
	for i := 1; i < 20; i++ {
		id := fmt.Sprintf("c-%d", i)
		var c api.Contact
		require.Equal(t, http.StatusOK, getJSON(t, s.IngestorURL+"/v1/contacts/"+id, &c))
		assert.Equal(t, int32(30), c.Events, id)
		assert.Equal(t, scores[id], c.Score, id)
	}
}

func TestIngestRefusesInvalidBatchAndPublishesNothing(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	day0 := recent()
	body := `{"id":"ok-1","type":"email.opened","contact_id":"c-1","time":"2026-11-02T10:00:00Z"}
{"id":"bad-1","type":"Email Opened","contact_id":"c-1","time":"2026-11-02T10:00:00Z"}
{"id":"bad-2","type":"account.updated","time":"2126-11-02T10:00:00Z"}
`
	code, resp := postEvents(t, s.IngestorURL, relative(body, day0))
	require.Equal(t, http.StatusBadRequest, code)
	var out struct {
		Errors []struct {
			Index   int
			Field   string
			Message string
		}
	}
	require.NoError(t, json.Unmarshal([]byte(resp), &out))
	var got []string
	for _, e := range out.Errors {
		got = append(got, fmt.Sprint(e.Index, ":", e.Field))
	}
	assert.Equal(t, []string{"1:type", "2:account_id", "2:time"}, got)
	code, _ = postEvents(t, s.IngestorURL, relative(`{"id":"marker","type":"email.opened","contact_id":"c-marker","time":"2026-11-06T10:00:00Z"}`, day0))
	require.Equal(t, http.StatusAccepted, code)
	waitContact(t, s, "c-marker", 1)
	var c api.Contact
	assert.Equal(t, http.StatusNotFound, getJSON(t, s.IngestorURL+"/v1/contacts/c-1", &c), "nothing of the refused batch was published")
}

// TestOutcomesAndEffectivenessEndToEnd: an opportunity and sales feedback
// posted over HTTP are recorded on the contact with its status, and the
// effectiveness report and the model resource are served by the ingestor.
func TestOutcomesAndEffectivenessEndToEnd(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	day0 := recent()
	at := func(t string) string { return relative(t, day0) }
	outcomes := historyNDJSON +
		`{"id":"h-9","type":"opportunity.created","contact_id":"c-42","account_id":"acme.io","time":"2026-11-09T09:00:00Z","source":"crm"}
{"id":"h-10","type":"sales.feedback","contact_id":"c-42","account_id":"acme.io","time":"2026-11-09T10:00:00Z","source":"crm","properties":{"rating":"good","reason":"ready to buy"}}
`
	code, body := postEvents(t, s.IngestorURL, at(outcomes))
	require.Equal(t, http.StatusAccepted, code, body)
	c := waitContact(t, s, "c-42", 9)
	assert.Equal(t, int32(130), c.Score, "outcomes score nothing in the default model")
	require.NotNil(t, c.Outcomes.Opportunity)
	assert.Equal(t, at("2026-11-09T09:00:00Z"), c.Outcomes.Opportunity.Format(time.RFC3339))
	assert.Equal(t, at("2026-11-04T16:00:00Z"), c.Outcomes.FirstMQL.Format(time.RFC3339), "MQL with the webinar (h-5)")
	assert.Equal(t, int32(1), c.Outcomes.FeedbackGood)
	assert.Equal(t, "key_vertical", c.Nurture, "acme.io is in software")
	assert.Equal(t, []string{"analyst report", "meeting request"}, c.Content, "late-stage content")

	var rep report.Effectiveness
	require.Eventually(t, func() bool {
		return getJSON(t, s.IngestorURL+"/v1/reports/effectiveness", &rep) == http.StatusOK && rep.Opportunities == 1
	}, 20*time.Second, 20*time.Millisecond)
	assert.Equal(t, "3", rep.Model)
	assert.Equal(t, int64(2), rep.Contacts)
	assert.Equal(t, int64(1), rep.MQLs)
	assert.Equal(t, report.NewRate(1, 1), rep.MQLToOpp)
	assert.Equal(t, report.NewRate(1, 1), rep.AQLToOpp)
	assert.InDelta(t, 4.0, *rep.DaysMQLToOpp.Median, 0, "MQL on day 2 at 16:00, opportunity on day 7 at 09:00: four whole days")
	assert.Equal(t, int64(1), rep.ByGrade["A"].FeedbackGood)
	assert.Equal(t, http.StatusNotFound, getJSON(t, s.IngestorURL+"/v1/reports/effectiveness?model=9", &rep))
	assert.Equal(t, http.StatusBadRequest, getJSON(t, s.IngestorURL+"/v1/reports/effectiveness?since=yesterday", &rep))

	var acct api.Account
	require.Equal(t, http.StatusOK, getJSON(t, s.IngestorURL+"/v1/accounts/acme.io", &acct))
	assert.Equal(t, int32(1), acct.Outcomes.Opportunities)
	assert.True(t, acct.Outcomes.MQAAtFirstOpportunity, "acme.io became MQA with h-7, before the opportunity")
	assert.Equal(t, at("2026-11-09T09:00:00Z"), acct.Outcomes.FirstOpportunity.Format(time.RFC3339))

	var m api.Model
	require.Equal(t, http.StatusOK, getJSON(t, s.IngestorURL+"/v1/model", &m))
	assert.Equal(t, "3", m.Version)
	assert.Equal(t, "2027-01-23", m.Due.Format(time.DateOnly))
}
