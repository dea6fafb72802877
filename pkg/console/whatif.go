package console

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/leadscore/leads/pkg/api"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
)

// whatIf is a contact under another registered model version.
type whatIf struct {
	Version                         string
	Score, Behavior, Fit            int32
	Grade, Stage, Nurture           string
	MQL, AQL, Dormant               bool
	Gates                           [3]bool
	Changes                         []scoring.Entry
	Repriced                        []repriced
	RepricedDelta, BehaviorRepriced int32
}

// repriced is a ledger line whose rule gives other points under the
// other version.
type repriced struct {
	Rule, Reason string
	Points, Then int32
}

// whatIf is what the scorer would make of the contact if it ran version v
// now: the engine of v re-derives what a model change re-derives (title
// points and AQL's title gate, the account's fit, decay under v's settings,
// grade, stage, MQL, AQL, nurture), exactly as the scorer does when it
// meets a contact last scored under another version. Behavior points
// already earned stay as they were earned; the ledger lines whose rule v
// prices otherwise are listed with what v would have given, the part a
// backfill with v would change on top.
func (c *Console) whatIf(r *http.Request, id string, history []api.Entry, v string) (*whatIf, *pageError) {
	vs, _, perr := c.versions(r)
	if perr != nil {
		return nil, perr
	}
	var mv *model.Model
	var names []string
	for _, m := range vs {
		names = append(names, m.Version)
		if m.Version == v {
			mv = m
		}
	}
	if mv == nil {
		return nil, &pageError{Status: http.StatusBadRequest, Field: "model",
			Message: "model must be a registered model version (" + strings.Join(names, ", ") + "), not " + strconv.Quote(v) + "."}
	}
	sc, home, err := c.r.Contact(r.Context(), id)
	if err != nil {
		return nil, storeError("contact "+strconv.Quote(id), err)
	}
	acct := &scoring.Account{}
	if aid := scoring.AccountOfHome(home); aid != "" {
		if acct, err = c.r.Account(r.Context(), aid); errors.Is(err, store.ErrNotFound) {
			acct = &scoring.Account{ID: aid}
		} else if err != nil {
			return nil, storeError("account", err)
		}
	}
	a, k := acct.Clone(), sc.Clone()
	engine := scoring.New(mv)
	var res scoring.Result
	now := c.now()
	engine.Decay(a, k, now, &res)
	engine.Refresh(a, k, "what-if:"+v, now, &res)
	t, b, ag := engine.Gates(a, k)
	out := &whatIf{Version: v, Score: k.Score(), Behavior: k.Behavior, Fit: k.Fit, Grade: k.Grade, Stage: k.Stage.String(),
		Nurture: k.Nurture, MQL: k.MQL, AQL: k.AQL, Dormant: k.Dormant, Gates: [3]bool{t, b, ag}, Changes: res.Ledger}
	rules := map[string]model.Rule{}
	for _, rule := range mv.Rules {
		rules[rule.ID] = rule
	}
	for _, e := range history {
		if e.Kind != scoring.KindBehavior {
			continue
		}
		rule, ok := rules[e.Rule]
		switch {
		case !ok:
			out.Repriced = append(out.Repriced, repriced{Rule: e.Rule, Reason: e.Reason, Points: e.Points, Then: 0})
		case rule.PointsBy == nil && rule.PointsFrom == "" && int32(rule.Points) != e.Points && e.Points == int32(c.pointsOf(e.Rule)):
			// Only lines that got their rule's full points: a capped or
			// partial line says nothing of what v would give.
			out.Repriced = append(out.Repriced, repriced{Rule: e.Rule, Reason: e.Reason, Points: e.Points, Then: int32(rule.Points)})
		}
	}
	for _, p := range out.Repriced {
		out.RepricedDelta += p.Then - p.Points
	}
	out.BehaviorRepriced = out.Behavior + out.RepricedDelta
	return out, nil
}

// pointsOf is a rule's fixed points in the model in use.
func (c *Console) pointsOf(rule string) int {
	for _, r := range c.m.Rules {
		if r.ID == rule {
			return r.Points
		}
	}
	return 0
}
