package report_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/program"
	"github.com/leadscore/leads/pkg/report"
	"github.com/leadscore/leads/pkg/rescore"
	"github.com/leadscore/leads/pkg/scorer"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/stream"
	"github.com/leadscore/leads/pkg/testutil"
)

var t0 = time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)

func at(days float64) time.Time { return t0.Add(time.Duration(days * 24 * float64(time.Hour))) }

// knownHistory is 50 contacts whose outcomes are known:
//   - 0–39 reach MQL on day 0 (85 points); 40–49 do not (20 points);
//   - 0–9 get an opportunity 1–10 days after (so 10 of 40 MQLs: 25%),
//     and 40–41, never MQL, one on day 3: 12 opportunities;
//   - 0–3 are won and 4–5 lost (4 of 12 won);
//   - webinar attended by 0–14: 10 of its 15 converted, 2 of the other 35;
//   - careers page seen by 20–27: none converted;
//   - sales feedback good for 0–2, bad for 40.
func knownHistory() []event.Event {
	var evs []event.Event
	add := func(typ string, c int, when time.Time, p map[string]any) {
		evs = append(evs, event.Event{ID: fmt.Sprintf("%s-%d-%d", typ, c, len(evs)), Type: typ, ContactID: fmt.Sprintf("c-%02d", c),
			Time: when, Properties: p})
	}
	for c := range 50 {
		pts := 85.0
		if c >= 40 {
			pts = 20
		}
		add("score.adjusted", c, at(0), map[string]any{"points": pts, "reason": "import"})
	}
	for c := range 15 {
		add("webinar.attended", c, at(0.05), nil)
	}
	for c := 20; c < 28; c++ {
		add("web.page_viewed", c, at(0.1), map[string]any{"url": "https://leads.example/careers"})
	}
	for c := range 10 {
		add("opportunity.created", c, at(float64(c+1)), nil)
	}
	add("opportunity.created", 40, at(3), nil)
	add("opportunity.created", 41, at(3), nil)
	for c := range 3 {
		add("sales.feedback", c, at(5), map[string]any{"rating": "good", "reason": "budget confirmed"})
	}
	add("sales.feedback", 40, at(5), map[string]any{"rating": "bad"})
	for c := range 4 {
		add("deal.won", c, at(20), nil)
	}
	add("deal.lost", 4, at(20), nil)
	add("deal.lost", 5, at(20), nil)
	return evs
}

func newStore(t testing.TB) *store.Store {
	t.Helper()
	rdb := testutil.RedisClient(t)
	return store.New(rdb, testutil.Prefix(t))
}

func f(v float64) *float64 { return &v }

func TestEffectivenessOfAKnownHistory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStore(t)
	bf := &rescore.Backfill{Log: testutil.Logger(t), Store: st, Engine: scoring.New(model.Default()), BatchSize: 37}
	_, err := bf.FromFile(ctx, testutil.WriteNDJSON(t, t.TempDir(), knownHistory()))
	require.NoError(t, err)
	fields, err := st.Report(ctx, model.Default().Version)
	require.NoError(t, err)
	r, err := report.Compute(model.Default().Version, fields, "", "")
	require.NoError(t, err)

	assert.Equal(t, int64(50), r.Contacts)
	assert.Equal(t, int64(50), r.Seen)
	assert.Equal(t, int64(40), r.MQLs)
	assert.Equal(t, int64(12), r.Opportunities)
	assert.Equal(t, report.Rate{Count: 10, Of: 40, Rate: f(0.25)}, r.MQLToOpp)
	assert.Equal(t, report.Rate{Count: 4, Of: 12, Rate: f(4.0 / 12)}, r.OppToWon)
	assert.Equal(t, int64(2), r.Lost)
	assert.Equal(t, report.Days{N: 10, Median: f(5), P90: f(9)}, r.DaysMQLToOpp)
	assert.Equal(t, report.Rate{}, r.AQLToOpp, "no AQLs without accounts")
	assert.Equal(t, int64(3), r.ByGrade["F"].FeedbackGood)
	assert.Equal(t, int64(1), r.ByGrade["F"].FeedbackBad)
	assert.Equal(t, int64(12), r.ByGrade["F"].Opportunities)

	lift := map[string]report.Lift{}
	for _, l := range r.Rules {
		lift[l.Rule] = l
	}
	web := lift["webinar-attended"]
	assert.Equal(t, int64(15), web.Triggered)
	assert.Equal(t, int64(10), web.Converted)
	require.NotNil(t, web.Lift)
	assert.InDelta(t, (10.0/15)/(2.0/35), *web.Lift, 1e-9, "a rule on most converting contacts lifts")
	assert.Greater(t, *web.Lift, 1.0)
	careers := lift["careers"]
	assert.Equal(t, int64(8), careers.Triggered)
	require.NotNil(t, careers.Lift)
	assert.Zero(t, *careers.Lift, "a rule on no converting contact")
	assert.Equal(t, int64(50), lift["manual"].Triggered)
	assert.Nil(t, lift["manual"].Lift, "a rule on every contact cannot be compared")

	later, err := report.Compute(model.Default().Version, fields, at(1).Format(time.DateOnly), at(2).Format(time.DateOnly))
	require.NoError(t, err)
	assert.Zero(t, later.MQLs, "the MQLs were on day 0")
	assert.Equal(t, int64(2), later.Opportunities, "the opportunities of days 1 and 2")

	var out bytes.Buffer
	require.NoError(t, r.Write(&out))
	assert.Contains(t, out.String(), "MQL → opportunity  10/40 = 25.0%  days: median 5, p90 9 (n=10)")
}

// failingSink fails its first publish, like a Kafka outage after the Redis
// commit.
type failingSink struct{ fail bool }

func (s *failingSink) Publish(context.Context, ...stream.Record) error {
	if s.fail {
		s.fail = false
		return errors.New("kafka down")
	}
	return nil
}

// TestCountersCountOnceWhateverIsRetried: a batch committed whose post
// failed leaves its deltas pending in the home; the next commit of that home
// carries them, and the counters count them once. Replaying everything
// again changes nothing.
func TestCountersCountOnceWhateverIsRetried(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStore(t)
	sink := &failingSink{fail: true}
	s, err := scorer.New(scorer.Config{EventsTopic: "e", TransitionsTopic: "t", DLQTopic: "d", BatchSize: 100}, testutil.Logger(t),
		nil, sink, st, scoring.New(model.Default()), nil)
	require.NoError(t, err)
	evs := knownHistory()
	recs := make([]stream.Record, len(evs))
	for i := range evs {
		b, err := json.Marshal(evs[i])
		require.NoError(t, err)
		recs[i] = stream.Record{Topic: "e", Partition: 0, Offset: int64(i), Value: b}
	}
	require.Error(t, s.Process(ctx, recs[:60]), "the post fails after the commit")
	require.NoError(t, s.Process(ctx, recs[60:]))
	require.NoError(t, s.Process(ctx, recs), "a full redelivery")
	fields, err := st.Report(ctx, model.Default().Version)
	require.NoError(t, err)
	r, err := report.Compute(model.Default().Version, fields, "", "")
	require.NoError(t, err)
	assert.Equal(t, int64(50), r.Contacts)
	assert.Equal(t, int64(40), r.MQLs)
	assert.Equal(t, int64(12), r.Opportunities)
	assert.Equal(t, report.Rate{Count: 10, Of: 40, Rate: f(0.25)}, r.MQLToOpp)
}

func TestReportCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStore(t)
	bf := &rescore.Backfill{Log: testutil.Logger(t), Store: st, Engine: scoring.New(model.Default())}
	_, err := bf.FromFile(ctx, testutil.WriteNDJSON(t, t.TempDir(), knownHistory()))
	require.NoError(t, err)
	addr := st.Client().(*redis.Client).Options().Addr
	run := func(args ...string) string {
		var out bytes.Buffer
		require.NoError(t, program.Scorer(ctx, append([]string{"report", "--redis-addr=" + addr, "--namespace=" + st.Namespace()}, args...),
			program.Options{Logger: testutil.Logger(t), Stdout: &out}))
		return out.String()
	}
	table := run()
	assert.Contains(t, table, "MQL → opportunity  10/40 = 25.0%")
	assert.Regexp(t, `webinar-attended\s+15\s+10\s+66.7%\s+5.7%\s+11.67`, table)
	var reps []report.Effectiveness
	require.NoError(t, json.Unmarshal([]byte(run("--json", "--since="+at(1).Format(time.DateOnly))), &reps))
	require.Len(t, reps, 1)
	assert.Zero(t, reps[0].MQLs)
	assert.Equal(t, int64(12), reps[0].Opportunities)
}

// TestComputeRefusesAWindowThatEndsBeforeItStarts: since later than until
// gave an empty report, as if nothing had happened; it is refused, naming
// both, and so is a date that is no day of the calendar.
func TestComputeRefusesAWindowThatEndsBeforeItStarts(t *testing.T) {
	t.Parallel()
	fields := map[string]string{"2026-11-20|mql": "1"}
	for _, w := range []struct{ since, until, want string }{
		{"2026-12-01", "2026-11-01", `since "2026-12-01" is later than until "2026-11-01"`},
		{"2026-11-31", "", `since: want a day YYYY-MM-DD, got "2026-11-31"`},
		{"", "20261130", `until: want a day YYYY-MM-DD, got "20261130"`},
	} {
		_, err := report.Compute("3", fields, w.since, w.until)
		assert.ErrorContains(t, err, w.want, "%+v", w)
	}
	r, err := report.Compute("3", fields, "2026-11-20", "2026-11-20")
	require.NoError(t, err, "a one-day window")
	assert.Equal(t, int64(1), r.MQLs)
}
