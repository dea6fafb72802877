package model

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"
)

// Review periods: a model is reviewed 60 days after its first version, then
// every 90 days.
const (
	FirstReview = 60 * 24 * time.Hour
	ReviewEvery = 90 * 24 * time.Hour
)

// Review says when a model is due for review.
type Review struct {
	// First is the date of the earliest changelog entry.
	First time.Time `json:"first_version"`
	// Reviewed is the file's reviewed date, if any.
	Reviewed time.Time `json:"reviewed"`
	// Due is First + 60 days until a review after the first version, then
	// the last review + 90 days; zero when the changelog has no date.
	Due time.Time `json:"review_due"`
}

// Overdue reports whether the review is past due at now: the due date
// has ended (dates are whole UTC days).
func (r Review) Overdue(now time.Time) bool {
	return !r.Due.IsZero() && !now.Before(r.Due.AddDate(0, 0, 1))
}

// Review returns the file's review schedule.
func (f *File) Review() Review {
	var r Review
	for _, c := range f.Changelog {
		if !c.Date.IsZero() && (r.First.IsZero() || c.Date.Before(r.First)) {
			r.First = c.Date.Time
		}
	}
	r.Reviewed = f.Reviewed.Time
	switch {
	case r.First.IsZero():
	case r.Reviewed.After(r.First):
		r.Due = r.Reviewed.Add(ReviewEvery)
	default:
		r.Due = r.First.Add(FirstReview)
	}
	return r
}

// History is the multi-column changelog of a model: one row per rule, one
// column per version, the points in each, then the notes of every version.
type History struct {
	Versions []string     `json:"versions"`
	Rows     []HistoryRow `json:"rules"`
	Notes    []Change     `json:"changelog"`
}

// HistoryRow is one rule across versions: its points in each ("" where the
// rule does not exist). A "*" after the points marks a version in which
// something else of the rule (match, cap, reason…) changed.
type HistoryRow struct {
	Section string   `json:"section"`
	ID      string   `json:"id"`
	Points  []string `json:"points"`
}

// NewHistory lines up several versions of a model file, ordered by the date
// of each version's own changelog entry (files without one keep their
// place after the dated ones).
func NewHistory(files []*File) (*History, error) {
	files = slices.Clone(files)
	date := func(f *File) time.Time {
		for _, c := range f.Changelog {
			if c.Version == f.Version {
				return c.Date.Time
			}
		}
		return time.Time{}
	}
	slices.SortStableFunc(files, func(a, b *File) int {
		da, db := date(a), date(b)
		switch {
		case da.IsZero() && db.IsZero():
			return 0
		case da.IsZero():
			return 1
		case db.IsZero():
			return -1
		}
		return da.Compare(db)
	})
	h := &History{}
	rows := map[string]*HistoryRow{}
	var order []string
	row := func(section, id string) *HistoryRow {
		k := section + "\x00" + id
		r, ok := rows[k]
		if !ok {
			r = &HistoryRow{Section: section, ID: id, Points: make([]string, len(files))}
			rows[k] = r
			order = append(order, k)
		}
		return r
	}
	prev := map[string]string{} // rule key → its compact form in the previous version
	for i, f := range files {
		h.Versions = append(h.Versions, f.Version)
		cur := map[string]string{}
		add := func(section, id, points string, whole any) error {
			v, err := compact(whole)
			if err != nil {
				return err
			}
			k := section + "\x00" + id
			cur[k] = v
			if p, ok := prev[k]; ok && p != v && !onlyPointsDiffer(p, v) {
				points += "*"
			}
			row(section, id).Points[i] = points
			return nil
		}
		for _, r := range f.Rules {
			pts := ""
			switch {
			case r.Points != nil:
				pts = strconv.Itoa(*r.Points)
			case r.PointsBy != nil:
				pts = "by " + r.PointsBy.Property
			case r.PointsFrom != "":
				pts = "from " + r.PointsFrom
			}
			if err := add("rules", r.ID, pts, r); err != nil {
				return nil, err
			}
		}
		for _, r := range f.ContactFit.Titles {
			if err := add("titles", r.ID, strconv.Itoa(r.Points), r); err != nil {
				return nil, err
			}
		}
		for _, r := range f.AccountFit {
			if err := add("account_fit", r.ID, strconv.Itoa(r.Points), r); err != nil {
				return nil, err
			}
		}
		for _, t := range []struct {
			id string
			v  int
		}{
			{"mql.enter", f.Thresholds.MQL.Enter}, {"mql.leave", f.Thresholds.MQL.Leave},
			{"mqa.enter", f.Thresholds.MQA.Enter}, {"mqa.leave", f.Thresholds.MQA.Leave},
			{"aql.behavior", f.Thresholds.AQL.Behavior}, {"aql.account", f.Thresholds.AQL.Account},
		} {
			row("thresholds", t.id).Points[i] = strconv.Itoa(t.v)
		}
		prev = cur
		for _, c := range f.Changelog {
			if !slices.ContainsFunc(h.Notes, func(n Change) bool { return n.Version == c.Version && n.What == c.What }) {
				h.Notes = append(h.Notes, c)
			}
		}
	}
	for _, k := range order {
		h.Rows = append(h.Rows, *rows[k])
	}
	rank := map[string]int{"rules": 0, "titles": 1, "account_fit": 2, "thresholds": 3}
	slices.SortStableFunc(h.Rows, func(a, b HistoryRow) int { return rank[a.Section] - rank[b.Section] })
	slices.SortStableFunc(h.Notes, func(a, b Change) int { return a.Date.Compare(b.Date.Time) })
	return h, nil
}

// onlyPointsDiffer reports whether two compact rules differ in points only
// (the table shows that already).
func onlyPointsDiffer(a, b string) bool {
	// The compact forms leave out zero values (prune), so a rule set to 0
	// points has no "points" at all: compare the rules without it.
	var ma, mb map[string]any
	if json.Unmarshal([]byte(a), &ma) != nil || json.Unmarshal([]byte(b), &mb) != nil {
		return a == b
	}
	delete(ma, "points")
	delete(mb, "points")
	return reflect.DeepEqual(ma, mb)
}

// Write prints the table and the notes for people.
func (h *History) Write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "section\trule")
	for _, v := range h.Versions {
		fmt.Fprintf(tw, "\tv%s", v)
	}
	fmt.Fprintln(tw)
	for _, r := range h.Rows {
		fmt.Fprintf(tw, "%s\t%s", r.Section, r.ID)
		for _, p := range r.Points {
			if p == "" {
				p = "—"
			}
			fmt.Fprintf(tw, "\t%s", p)
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\n* the rule changed beyond its points in that version")
	fmt.Fprintln(w, "\nchangelog:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range h.Notes {
		fmt.Fprintf(tw, "v%s\t%s\t%s\t%s", c.Version, c.Date.Format(time.DateOnly), c.Author, c.What)
		if c.Why != "" {
			fmt.Fprintf(tw, " (why: %s)", c.Why)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}
