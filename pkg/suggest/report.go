package suggest

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// Write prints the suggestion for the person who reviews it: the
// backtest, the evidence of every rule, what was left alone, the flags,
// and the rule × version table of `scorer model history`.
func (s *Suggestion) Write(w io.Writer) error {
	fmt.Fprintf(w, "suggested model %s: %d events replayed (%d duplicates skipped, %d refused by the engine)\n", s.Version,
		s.Events, s.Duplicates, s.Refused)
	fmt.Fprintf(w, "trained on the %d contacts first seen at least %d days before the cutoff (%d opportunities; by %d days 99%% of opportunities have come), of %d in the %.1f weeks before it; %.1f points double the odds\n",
		s.Train.Mature, s.Train.HorizonDays, s.Train.Opportunities, s.Train.HorizonDays, s.Train.Contacts, s.Train.Weeks, s.PointsToDouble)
	fmt.Fprintf(w, "MQL threshold %d: %s\n\n", s.Threshold, s.Rule)
	fmt.Fprintf(w, "backtest on the %d contacts first seen from the cutoff on (%d opportunities), 95%% bootstrap intervals:\n",
		s.Test.Contacts, s.Test.Current.Opps)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "model\tMQL enter\tMQLs\tprecision\trecall\tROC AUC\t")
	row := func(name string, m Metrics) {
		pct := func(e Estimate) string { return fmt.Sprintf("%.1f%% [%.1f, %.1f]", 100*e.Value, 100*e.Lo, 100*e.Hi) }
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%.3f [%.3f, %.3f]\t\n", name, m.Threshold, m.MQLs, pct(m.Precision), pct(m.Recall),
			m.AUC.Value, m.AUC.Lo, m.AUC.Hi)
	}
	row("current", s.Test.Current)
	row("suggested", s.Test.Suggested)
	row("suggested, current volume", s.Test.SameVolume)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "precision gain at the current volume: %+.1f points [%+.1f, %+.1f]; ROC AUC gain: %+.3f [%+.3f, %+.3f]\n",
		100*s.Test.Gain.Value, 100*s.Test.Gain.Lo, 100*s.Test.Gain.Hi, s.Test.AUCGain.Value, s.Test.AUCGain.Lo, s.Test.AUCGain.Hi)
	q := s.Test.AQL
	fmt.Fprintf(w, "AQLs (gates unchanged): current %d (precision %.1f%%), suggested %d (precision %.1f%%)\n\n", q[0].AQLs,
		100*q[0].Precision, q[1].AQLs, 100*q[1].Precision)
	fmt.Fprintln(w, "evidence (support: training contacts who triggered the rule; weight: log-odds per firing):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "section\trule\tsupport\tconverted\tlift\tweight [95%]\tpoints\tat weight [95%]\t")
	for _, ev := range s.Evidence {
		pts := fmt.Sprintf("%+d", ev.Old)
		if ev.NewPoints != ev.Old {
			pts += fmt.Sprintf(" → %+d", ev.NewPoints)
		}
		note := ""
		if !ev.Supported {
			note = " (too little data)"
		}
		for _, r := range ev.Review {
			note += " REVIEW: " + r
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.2f\t%+.2f [%+.2f, %+.2f]\t%s\t%+d [%+d, %+d]\t%s\n", ev.Section, ev.ID, ev.Support, ev.Converted,
			ev.Lift, ev.Weight.Value, ev.Weight.Lo, ev.Weight.Hi, pts, ev.AtEstimate, ev.Interval[0], ev.Interval[1], note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(s.Review) > 0 {
		fmt.Fprintln(w, "\nflagged for review:")
		for _, r := range s.Review {
			fmt.Fprintln(w, "  "+r)
		}
	}
	if len(s.Unsupported) > 0 {
		fmt.Fprintln(w, "\nunchanged, the data cannot support a change:")
		for _, u := range s.Unsupported {
			fmt.Fprintln(w, "  "+u)
		}
	}
	fmt.Fprintln(w)
	return s.History.Write(w)
}
