package suggest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/leadscore/leads/pkg/model"
)

// Config says what to suggest from.
type Config struct {
	// Model is the current model, whose next version is suggested.
	Model *model.Model
	// TrainUntil splits the history: the fit learns from events before
	// it; the backtest scores contacts first seen at or after it.
	TrainUntil time.Time
	// MQLPerWeek is the MQL volume the suggested threshold keeps over the
	// training period; 0 chooses the threshold with the best F1 there.
	MQLPerWeek float64
	// Version of the suggestion; default: the current one plus one when
	// it is a number, else the current one with ".1" appended.
	Version string
	// Date of the changelog entry (default: today, UTC).
	Date time.Time
	// MinSupport is how many training contacts must have triggered a
	// rule, and MinConverted how many of them reached an opportunity, for
	// the data to support changing it (defaults 30 and 5).
	MinSupport, MinConverted int
	// Protected names attributes, besides DefaultProtected and the model
	// file's protected list, whose rules are flagged for review when the
	// suggestion leaves them points: account-fit rules on such a field,
	// behavior rules that match on such an event property or take their
	// points from it (see protectedTerm for how a name is matched).
	Protected []string
	// Horizon is how long after a contact is first seen its outcome is
	// known (rounded up to whole days); 0 estimates it from the history
	// (see conversionHorizon).
	Horizon time.Duration
	// Lambda is the L2 penalty on standardised weights (default 1).
	Lambda float64
	// Replicates of the bootstrap (default 400); Seed makes it repeatable.
	Replicates int
	Seed       uint64
}

// ErrTooFewOutcomes: the history holds too few opportunities to tell a
// better model from a worse one; nothing is suggested.
var ErrTooFewOutcomes = errors.New("too few outcomes to suggest a model")

// Evidence is what the data say of one rule.
type Evidence struct {
	Section string `json:"section"`
	ID      string `json:"id"`
	// Support: training contacts who triggered the rule (or have the
	// attribute); Converted: those of them that reached an opportunity.
	Support   int     `json:"support"`
	Converted int     `json:"converted"`
	Lift      float64 `json:"lift"`
	// Weight is the fitted change of log-odds per firing (per full
	// firing for stepped points; once for an attribute), with its 95%
	// interval.
	Weight Estimate `json:"weight"`
	// Old and New points (for stepped points, the top step's), the
	// points of the weight (AtEstimate) and of its 95% interval: New is
	// Old when Old lies in the interval, else the interval's end nearest
	// to Old.
	Old        int      `json:"old_points"`
	NewPoints  int      `json:"new_points"`
	AtEstimate int      `json:"points_at_estimate"`
	Interval   [2]int   `json:"points_interval"`
	Supported  bool     `json:"supported"`
	Review     []string `json:"review,omitempty"`
	stepPoints []int
}

// Backtest compares the models on contacts first seen at or after the
// training cutoff.
type Backtest struct {
	Contacts int `json:"contacts"`
	// Current at its threshold, Suggested at the suggested one, and
	// SameVolume: the suggestion at the threshold that gives as many MQLs
	// as the current model among these contacts.
	Current    Metrics `json:"current"`
	Suggested  Metrics `json:"suggested"`
	SameVolume Metrics `json:"same_volume"`
	// AQL counts each model's AQLs among these contacts: the AQL gates
	// stay as they are, but the points they compare change.
	AQL [2]AQLs `json:"aql"`
	// Gain is SameVolume's precision minus Current's, and AUCGain the
	// suggestion's ROC AUC minus the current model's, with their
	// intervals.
	Gain    Estimate `json:"precision_gain_same_volume"`
	AUCGain Estimate `json:"auc_gain"`
}

// AQLs counts the contacts that became AQLs and the hits among them
// (their first opportunity came at or after it).
type AQLs struct {
	AQLs      int     `json:"aqls"`
	Hits      int     `json:"hits"`
	Precision float64 `json:"precision"`
}

func countAQLs(r *replayer, ids []string) AQLs {
	var n AQLs
	for _, id := range ids {
		if st := r.stats[id]; st.aql != 0 {
			n.AQLs++
			n.Hits += b2i(st.opp != 0 && st.aql <= st.opp)
		}
	}
	n.Precision = ratio(float64(n.Hits), float64(n.AQLs))
	return n
}

// Suggestion is a suggested model with its evidence.
type Suggestion struct {
	File     []byte       `json:"-"`
	Model    *model.Model `json:"-"`
	Version  string       `json:"version"`
	Evidence []Evidence   `json:"evidence"`
	// Unsupported names the rules left unchanged because the data cannot
	// support a change, with why; Review the flags for a person.
	Unsupported []string `json:"unsupported"`
	// Consistent names the supported rules left unchanged because their
	// points lie within the interval the data give them.
	Consistent []string `json:"consistent"`
	Review     []string `json:"review"`
	// PointsPerLogOdds is the scale from weights to points;
	// PointsToDouble the points that double the odds.
	PointsPerLogOdds float64        `json:"points_per_log_odds"`
	PointsToDouble   float64        `json:"points_to_double_odds"`
	Threshold        int            `json:"mql_enter"`
	SameVolumeAt     int            `json:"same_volume_mql_enter"`
	Rule             string         `json:"threshold_rule"`
	Train            Cohort         `json:"train"`
	Test             Backtest       `json:"backtest"`
	Events           int64          `json:"events"`
	Duplicates       int64          `json:"duplicates"`
	Refused          int64          `json:"refused"`
	History          *model.History `json:"history"`
}

// Cohort sums up the training contacts.
type Cohort struct {
	Contacts int `json:"contacts"`
	// HorizonDays is the age by which 99% of the opportunities have come
	// (PlateauDays: the oldest age the estimate looks at); Mature counts
	// the contacts first seen at least that long before the cutoff, whose
	// outcome is known: the fit learns from them, and Opportunities are
	// theirs.
	HorizonDays   int `json:"horizon_days"`
	PlateauDays   int `json:"plateau_days"`
	Mature        int `json:"mature_contacts"`
	Opportunities int `json:"opportunities"`
	// MQLs under the current model at its threshold.
	CurrentMQLs int     `json:"current_mqls"`
	Weeks       float64 `json:"weeks"`
}

func (c *Config) defaults() {
	if c.MinSupport == 0 {
		c.MinSupport = 30
	}
	if c.MinConverted == 0 {
		c.MinConverted = 5
	}
	if c.Lambda == 0 {
		c.Lambda = 1
	}
	if c.Replicates == 0 {
		c.Replicates = 400
	}
	if c.Date.IsZero() {
		c.Date = time.Now().UTC()
	}
	if c.Version == "" {
		if n, err := strconv.Atoi(c.Model.Version); err == nil {
			c.Version = strconv.Itoa(n + 1)
		} else {
			c.Version = c.Model.Version + ".1"
		}
	}
}

// Suggest replays the history under the current model, fits the weight of
// every rule on the training period, writes the next version and
// backtests it against the current one on the later period. It returns an
// error wrapping ErrTooFewOutcomes, saying how many there were and how
// many it needs, when the history cannot tell.
func Suggest(ctx context.Context, cfg Config, src Source) (*Suggestion, error) {
	cfg.defaults()
	cur := cfg.Model
	cols := newColumns(cur)
	a, err := replayHistory(ctx, cur, cols, cfg.TrainUntil, src)
	if err != nil {
		return nil, err
	}
	horizon := -1
	if cfg.Horizon > 0 {
		horizon = int((cfg.Horizon + day*time.Second - 1) / (day * time.Second))
	}
	l := learn(a, cols, cfg.TrainUntil, horizon)
	// Ten outcomes per fitted weight (the usual events-per-variable rule
	// for logistic regression; a rule that no training contact triggered
	// has no weight to fit: the fit gives it 0 and the suggestion leaves
	// it as it is) to fit; thirty in the later period to tell the models
	// apart.
	need := 10 * l.fitted
	if l.opps < need || l.testOpps < 30 {
		return nil, fmt.Errorf("%w: %d opportunities among the %d contacts first seen at least %d days (the horizon) before %s, whose outcome is known "+
			"(the fit of their %d weights needs %d), %d among %d seen from then on (the backtest needs 30)",
			ErrTooFewOutcomes, l.opps, len(l.mature), l.horizon, cfg.TrainUntil.Format(time.RFC3339), l.fitted, need, l.testOpps, len(l.test))
	}
	fit, err := fitLogistic(l.x, l.y, cols.n, cfg.Lambda)
	if err != nil {
		return nil, err
	}
	until := cfg.TrainUntil.Unix()
	s := &Suggestion{Version: cfg.Version, Events: a.events, Duplicates: a.duplicates, Refused: a.refused}
	s.Evidence = evidence(cols, l.x, l.y, fit, cfg)
	s.scale(cols, cfg)
	s.flagProtected(cols, protectedTerms(cur, cfg.Protected))
	e := edits{version: cfg.Version, points: map[string]map[int]int{}, steps: map[int][]int{}}
	for j, ev := range s.Evidence {
		if !ev.Supported || ev.NewPoints == ev.Old {
			continue
		}
		sec, idx := cols.sections[j], cols.index[j]
		if ev.stepPoints != nil {
			e.steps[idx] = ev.stepPoints
			continue
		}
		if e.points[sec] == nil {
			e.points[sec] = map[int]int{}
		}
		e.points[sec][idx] = ev.NewPoints
	}
	// Replay under the new points (threshold as it is: where the scores
	// peak does not depend on it), then choose the threshold.
	e.mqlEnter, e.mqlLeave = cur.MQL.Enter, cur.File.Thresholds.MQL.Leave
	draft, err := s.build(cur, e, cfg)
	if err != nil {
		return nil, err
	}
	b := newReplayer(draft, nil, cfg.TrainUntil)
	if err := b.run(ctx, src); err != nil {
		return nil, fmt.Errorf("replay under the suggestion: %w", err)
	}
	b.w = nil
	trainOut := func(r *replayer) []outcome {
		out := make([]outcome, len(l.train))
		for i, id := range l.train {
			st := r.stats[id]
			o := outcome{Opp: l.yAll[i], Ever: st.train, Before: st.train}
			if o.Opp {
				o.Before = st.before
			}
			out[i] = o
		}
		return out
	}
	testOut := func(r *replayer) []outcome {
		out := make([]outcome, len(l.test))
		for i, id := range l.test {
			st := r.stats[id]
			out[i] = outcome{Opp: st.opp != 0, Ever: st.ever, Before: st.before}
		}
		return out
	}
	curTrain, newTrain := trainOut(a), trainOut(b)
	weeks := float64(until-a.first) / (7 * 24 * 3600)
	s.Train = Cohort{Contacts: len(l.train), Opportunities: l.opps, CurrentMQLs: int(count(curTrain, float64(cur.MQL.Enter), nil).mqls),
		Weeks: math.Round(weeks*10) / 10, HorizonDays: l.horizon, PlateauDays: l.plateau, Mature: len(l.mature)}
	if cfg.MQLPerWeek > 0 {
		s.Threshold = volumeThreshold(newTrain, cfg.MQLPerWeek*weeks)
		s.Rule = fmt.Sprintf("the threshold that gave %.0f MQLs a week over the %.1f training weeks", cfg.MQLPerWeek, weeks)
	} else {
		known := make([]outcome, len(l.mature))
		for k, i := range l.mature {
			known[k] = newTrain[i]
		}
		s.Threshold = bestF1(known)
		s.Rule = "the threshold with the best F1 (MQL precision and recall) over the training contacts whose outcome is known"
	}
	curTest, newTest := testOut(a), testOut(b)
	// Equal volume on the held-out contacts themselves: this threshold is
	// a device of the comparison, chosen from scores alone (no outcome).
	// A threshold matching the training period's volume need not match
	// here, where contacts are followed for less time, and the two models
	// need not lose the same share of MQLs to that (on the synthetic
	// history of 20,000 contacts it gave 12% fewer MQLs than the current
	// model's).
	s.SameVolumeAt = volumeThreshold(newTest, count(curTest, float64(cur.MQL.Enter), nil).mqls)
	ms, gain, aucGain := evaluate([][]outcome{curTest, newTest, newTest}, []int{cur.MQL.Enter, s.Threshold, s.SameVolumeAt},
		cfg.Replicates, cfg.Seed)
	s.Test = Backtest{Contacts: len(l.test), Current: ms[0], Suggested: ms[1], SameVolume: ms[2], Gain: gain[1],
		AUCGain: aucGain[1], AQL: [2]AQLs{countAQLs(a, l.test), countAQLs(b, l.test)}}
	if q := s.Test.AQL; math.Abs(float64(q[1].AQLs-q[0].AQLs)) > 0.25*float64(max(q[0].AQLs, 1)) {
		s.Review = append(s.Review, fmt.Sprintf("thresholds aql: unchanged (behavior %d, account %d), but under the suggested points %d held-out contacts became AQLs instead of %d (precision %.1f%% → %.1f%%): the gates compare points that changed",
			cur.AQL.Behavior, cur.AQL.Account, q[1].AQLs, q[0].AQLs, 100*q[0].Precision, 100*q[1].Precision))
	}
	e.mqlEnter = s.Threshold
	if e.mqlLeave != 0 {
		e.mqlLeave = max(1, s.Threshold-(cur.MQL.Enter-cur.MQL.Leave))
	}
	e.change = s.changelog(cur, cfg)
	s.Model, err = s.build(cur, e, cfg)
	if err != nil {
		return nil, err
	}
	s.File = s.Model.Source
	s.History, err = model.NewHistory([]*model.File{&cur.File, &s.Model.File})
	return s, err
}

// replayHistory replays the history under the current model, keeping
// what each contact did (see contactStats), not the states.
func replayHistory(ctx context.Context, cur *model.Model, cols *columns, until time.Time, src Source) (*replayer, error) {
	a := newReplayer(cur, cols, until)
	if err := a.run(ctx, src); err != nil {
		return nil, fmt.Errorf("replay under model %s: %w", cur.Version, err)
	}
	a.w = nil
	return a, nil
}

// learning is what a fit learns from: the training contacts (first seen
// before the cutoff) and the later ones, by id; whether each training
// contact had an opportunity before the cutoff (yAll); and the rows of
// the mature ones, first seen at least the horizon before it, whose
// outcome is known (x, y; see horizon.go).
type learning struct {
	train, test      []string
	yAll             []bool
	horizon, plateau int
	mature           []int // indexes into train
	x                []float32
	y                []bool
	// opps: opportunities among the mature contacts; testOpps: among
	// the later ones; fitted: columns that are not constant.
	opps, testOpps, fitted int
}

// learn sets out what the replay learned for a fit. horizon is in days;
// -1 estimates it (conversionHorizon).
func learn(a *replayer, cols *columns, trainUntil time.Time, horizon int) *learning {
	until := trainUntil.Unix()
	l := &learning{}
	ids := slices.Sorted(func(yield func(string) bool) {
		for id := range a.stats {
			if !yield(id) {
				return
			}
		}
	})
	for _, id := range ids {
		if a.stats[id].first < until {
			l.train = append(l.train, id)
		} else {
			l.test = append(l.test, id)
			l.testOpps += b2i(a.stats[id].opp != 0)
		}
	}
	l.yAll = make([]bool, len(l.train))
	firsts, opps := make([]int64, len(l.train)), make([]int64, len(l.train))
	for i, id := range l.train {
		st := a.stats[id]
		firsts[i], opps[i] = st.first, st.opp
		l.yAll[i] = st.opp != 0 && st.opp < until
	}
	l.horizon, l.plateau = conversionHorizon(firsts, opps, until)
	if horizon >= 0 {
		l.horizon = horizon
	}
	for i := range l.train {
		if until-firsts[i] >= int64(l.horizon)*day {
			l.mature = append(l.mature, i)
		}
	}
	p := cols.n
	l.x = make([]float32, len(l.mature)*p)
	l.y = make([]bool, len(l.mature))
	for k, i := range l.mature {
		st := a.stats[l.train[i]]
		row := l.x[k*p : (k+1)*p]
		copy(row, st.feat)
		if st.title > 0 {
			row[cols.title+int(st.title)-1] = 1
		}
		for j := range cols.n - cols.account {
			if st.account&(1<<j) != 0 {
				row[cols.account+j] = 1
			}
		}
		l.y[k] = l.yAll[i]
		l.opps += b2i(l.y[k])
	}
	l.fitted = varying(l.x, p)
	return l
}

// build writes and compiles the suggested file.
func (s *Suggestion) build(cur *model.Model, e edits, cfg Config) (*model.Model, error) {
	if e.change.Version == "" {
		e.change = model.Change{Version: cfg.Version, Date: model.Date{Time: cfg.Date}, Author: "scorer model suggest", What: "draft"}
	}
	src, err := rewrite(cur.Source, e)
	if err != nil {
		return nil, fmt.Errorf("write the suggestion: %w", err)
	}
	m, err := model.Parse(src)
	if err != nil {
		return nil, fmt.Errorf("the suggestion does not validate (a bug): %w", err)
	}
	return m, nil
}

// varying counts the columns of x (rows of p) that are not constant.
func varying(x []float32, p int) int {
	k := 0
	for j := range p {
		for i := p + j; i < len(x); i += p {
			if x[i] != x[j] {
				k++
				break
			}
		}
	}
	return k
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// evidence sums up each column: support, lift, weight, and whether the
// data support changing it.
func evidence(cols *columns, x []float32, y []bool, fit *logistic, cfg Config) []Evidence {
	p := cols.n
	out := make([]Evidence, p)
	total, totalPos := len(y), 0
	for _, v := range y {
		totalPos += b2i(v)
	}
	for j := range p {
		ev := &out[j]
		ev.Section, ev.ID = cols.sections[j], cols.names[j]
		for i := range y {
			if x[i*p+j] > 0 {
				ev.Support++
				ev.Converted += b2i(y[i])
			}
		}
		with := float64(ev.Converted) / math.Max(float64(ev.Support), 1)
		without := float64(totalPos-ev.Converted) / math.Max(float64(total-ev.Support), 1)
		if without > 0 {
			ev.Lift = math.Round(with/without*100) / 100
		}
		b, se := fit.Beta[j], fit.SE[j]
		ev.Weight = Estimate{Value: b, Lo: b - 1.96*se, Hi: b + 1.96*se}
		ev.Supported = ev.Support >= cfg.MinSupport && ev.Converted >= cfg.MinConverted
	}
	return out
}

// scale turns weights into points: the strongest positive behavior rule
// keeps the current model's largest positive behavior points, so the
// point range stays the one people know, and every weight (fit too) is
// multiplied by the same factor: the score stays a sum on one scale.
func (s *Suggestion) scale(cols *columns, cfg Config) {
	m := cols.m
	old := func(j int) int {
		switch cols.sections[j] {
		case "titles":
			return m.Titles[cols.index[j]].Points
		case "account_fit":
			return m.AccountFit[cols.index[j]].Points
		}
		r := m.Rules[cols.index[j]]
		if r.PointsBy != nil {
			return int(cols.stepMax[j])
		}
		return r.Points
	}
	maxPts, maxW := 0, 0.0
	for j := range cols.title {
		maxPts = max(maxPts, old(j))
		if s.Evidence[j].Supported {
			maxW = max(maxW, s.Evidence[j].Weight.Value)
		}
	}
	k := 20 / math.Ln2 // 20 points double the odds, when nothing is positive
	if maxPts > 0 && maxW > 0 {
		k = float64(maxPts) / maxW
	}
	s.PointsPerLogOdds = math.Round(k*100) / 100
	s.PointsToDouble = math.Round(k*math.Ln2*10) / 10
	clamp := func(v float64) int { return int(max(-1000, min(1000, math.Round(v)))) }
	for j := range s.Evidence {
		ev := &s.Evidence[j]
		ev.Old = old(j)
		ev.NewPoints = ev.Old
		ev.Interval = [2]int{clamp(k * ev.Weight.Lo), clamp(k * ev.Weight.Hi)}
		ev.AtEstimate = clamp(k * ev.Weight.Value)
		if !ev.Supported {
			s.Unsupported = append(s.Unsupported, fmt.Sprintf("%s %s: %d contacts triggered it, %d of them converted (a change needs %d and %d)",
				ev.Section, ev.ID, ev.Support, ev.Converted, cfg.MinSupport, cfg.MinConverted))
			continue
		}
		if ev.Interval[0] <= ev.Old && ev.Old <= ev.Interval[1] {
			// The data agree with the points as they are: no churn.
			s.Consistent = append(s.Consistent, fmt.Sprintf("%s %s %+d (points [%+d, %+d])", ev.Section, ev.ID, ev.Old,
				ev.Interval[0], ev.Interval[1]))
			continue
		}
		// The data rule the points out: the nearest points they allow,
		// the smallest change that agrees with them. Jumping to the
		// estimate instead moved a rule whose points lay just outside its
		// interval by half the interval's width or more, and a rule of
		// small effect there or back from one history to the next.
		ev.NewPoints = ev.Interval[0]
		if ev.Old > ev.Interval[1] {
			ev.NewPoints = ev.Interval[1]
		}
		if cols.sections[j] == "rules" {
			if r := m.Rules[cols.index[j]]; r.PointsBy != nil && ev.NewPoints != ev.Old {
				for _, st := range r.PointsBy.Steps {
					ev.stepPoints = append(ev.stepPoints, clamp(float64(st.Points)*float64(ev.NewPoints)/cols.stepMax[j]))
				}
			}
		}
		if ev.Old != 0 && ev.NewPoints != 0 && (ev.Old > 0) != (ev.NewPoints > 0) {
			ev.Review = append(ev.Review, fmt.Sprintf("points flip sign (%+d → %+d)", ev.Old, ev.NewPoints))
		}
	}
	for _, r := range m.Rules {
		if r.PointsFrom != "" {
			s.Unsupported = append(s.Unsupported, fmt.Sprintf("rules %s: takes its points from the event (%s), set by people", r.ID, r.PointsFrom))
		}
	}
}

// flagProtected flags every rule that keys on a protected attribute (see
// protectedKeys) and that the suggestion leaves points, changed or not:
// the suggested model scores people by it.
func (s *Suggestion) flagProtected(cols *columns, terms []string) {
	for j := range s.Evidence {
		ev := &s.Evidence[j]
		keys := protectedKeys(cols, j, terms)
		if ev.NewPoints == 0 || len(keys) == 0 {
			continue
		}
		what := strings.Join(keys, ", ")
		if cols.sections[j] == "rules" {
			what = "events by " + what
		}
		change := fmt.Sprintf("%+d → %+d", ev.Old, ev.NewPoints)
		if ev.NewPoints == ev.Old {
			change = fmt.Sprintf("%+d, unchanged", ev.Old)
		}
		ev.Review = append(ev.Review, fmt.Sprintf("scores %s, a protected attribute (%s)", what, change))
	}
	for _, ev := range s.Evidence {
		for _, r := range ev.Review {
			s.Review = append(s.Review, ev.Section+" "+ev.ID+": "+r)
		}
	}
}

// volumeThreshold is the threshold whose MQL count over xs is closest to
// target (the higher one on a tie), at least 1.
func volumeThreshold(xs []outcome, target float64) int {
	h := histogram(xs)
	best, bestDiff := 1, math.Inf(1)
	var mqls float64
	for _, v := range h.values {
		mqls += h.mqls[v]
		if d := math.Abs(mqls - target); d < bestDiff {
			best, bestDiff = v, d
		}
	}
	return max(best, 1)
}

// bestF1 is the threshold with the highest F1 over xs, at least 1.
func bestF1(xs []outcome) int {
	h := histogram(xs)
	var opps float64
	for _, x := range xs {
		opps += float64(b2i(x.Opp))
	}
	best, bestF := 1, -1.0
	var mqls, hits float64
	for _, v := range h.values {
		mqls, hits = mqls+h.mqls[v], hits+h.hits[v]
		if f := 2 * hits / (mqls + opps); f > bestF {
			best, bestF = v, f
		}
	}
	return max(best, 1)
}

// hist counts, per integer score, the MQLs whose peak is exactly it and
// the hits whose peak before the opportunity is; values descend, so that
// a running sum is the count at a threshold of that value.
type hist struct {
	values     []int
	mqls, hits map[int]float64
}

func histogram(xs []outcome) hist {
	h := hist{mqls: map[int]float64{}, hits: map[int]float64{}}
	for _, x := range xs {
		if !math.IsInf(x.Ever, -1) {
			h.mqls[int(x.Ever)]++
		}
		if x.Opp && !math.IsInf(x.Before, -1) {
			h.hits[int(x.Before)]++
		}
	}
	seen := map[int]bool{}
	for v := range h.mqls {
		seen[v] = true
	}
	for v := range h.hits {
		seen[v] = true
	}
	for v := range seen {
		h.values = append(h.values, v)
	}
	slices.Sort(h.values)
	slices.Reverse(h.values)
	return h
}

// changelog writes the entry of the suggested version: every change with
// its evidence, what was left alone and why, the backtest, and the flags.
func (s *Suggestion) changelog(cur *model.Model, cfg Config) model.Change {
	var what []string
	for _, ev := range s.Evidence {
		if !ev.Supported || ev.NewPoints == ev.Old {
			continue
		}
		line := fmt.Sprintf("%s %s: %+d → %+d (support %d contacts, %d converted, lift %.2f; weight %+.2f log-odds [%+.2f, %+.2f]; points %+d [%+d, %+d])",
			ev.Section, ev.ID, ev.Old, ev.NewPoints, ev.Support, ev.Converted, ev.Lift, ev.Weight.Value, ev.Weight.Lo, ev.Weight.Hi,
			ev.AtEstimate, ev.Interval[0], ev.Interval[1])
		if len(ev.Review) > 0 {
			line += "; REVIEW: " + strings.Join(ev.Review, ", ")
		}
		what = append(what, line)
	}
	what = append(what, fmt.Sprintf("thresholds mql.enter: %d → %d (%s)", cur.MQL.Enter, s.Threshold, s.Rule))
	if len(s.Consistent) > 0 {
		what = append(what, "unchanged, the data agree with their points: "+strings.Join(s.Consistent, ", "))
	}
	for _, u := range s.Unsupported {
		what = append(what, "unchanged, the data cannot support a change: "+u)
	}
	t := s.Test
	pct := func(e Estimate) string { return fmt.Sprintf("%.1f%% [%.1f, %.1f]", 100*e.Value, 100*e.Lo, 100*e.Hi) }
	num := func(e Estimate) string { return fmt.Sprintf("%.3f [%.3f, %.3f]", e.Value, e.Lo, e.Hi) }
	why := fmt.Sprintf("Suggested by scorer model suggest from model %s: an L2-regularised logistic regression of reaching an opportunity on each rule's firings and each fit attribute, over the %d contacts first seen at least %d days (by when 99%% of opportunities have come) before %s (%d opportunities; %d contacts first seen later, whose outcome is not known yet, were left out), scaled at %.1f points per unit of log-odds (%.1f points double the odds). "+
		"Backtest on the %d contacts first seen from then on (%d opportunities), 95%% bootstrap intervals: current model at %d: %d MQLs, precision %s, recall %s, ROC AUC %s; "+
		"suggestion at %d: %d MQLs, precision %s, recall %s, ROC AUC %s (gain %s); at the current model's volume (%d): %d MQLs, precision %s, recall %s, precision gain %s; AQLs, the gates unchanged: %d (precision %.1f%%) → %d (%.1f%%). Not reviewed: review, backfill, compare, then promote.",
		cur.Version, s.Train.Mature, s.Train.HorizonDays, cfg.TrainUntil.Format(time.RFC3339), s.Train.Opportunities, s.Train.Contacts-s.Train.Mature,
		s.PointsPerLogOdds, s.PointsToDouble,
		t.Contacts, t.Current.Opps, t.Current.Threshold, t.Current.MQLs, pct(t.Current.Precision), pct(t.Current.Recall), num(t.Current.AUC),
		t.Suggested.Threshold, t.Suggested.MQLs, pct(t.Suggested.Precision), pct(t.Suggested.Recall), num(t.Suggested.AUC), num(t.AUCGain),
		t.SameVolume.Threshold, t.SameVolume.MQLs, pct(t.SameVolume.Precision), pct(t.SameVolume.Recall), pct(t.Gain),
		t.AQL[0].AQLs, 100*t.AQL[0].Precision, t.AQL[1].AQLs, 100*t.AQL[1].Precision)
	if len(s.Review) > 0 {
		why += " Flagged for review: " + strings.Join(s.Review, "; ") + "."
	}
	return model.Change{Version: cfg.Version, Date: model.Date{Time: cfg.Date}, Author: "scorer model suggest",
		What: strings.Join(what, "\n"), Why: why}
}
