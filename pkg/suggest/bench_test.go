package suggest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"

	"github.com/leadscore/leads/pkg/model"
)

// BenchmarkSuggest suggests from a synthetic history of
// LEADS_SUGGEST_CONTACTS contacts (default 100,000: about 1.1 million
// events; 1,000,000 makes about 10.8 million), generated as it is read,
// and reports the rate over both replays, the process's peak resident
// memory, and what the suggestion found (how many of the weights' 95%
// intervals cover the generator's effects, the backtest):
//
//	go test ./pkg/suggest -run '^$' -bench Suggest -benchtime 1x
//	LEADS_SUGGEST_CONTACTS=1000000 go test ./pkg/suggest -run '^$' -bench Suggest -benchtime 1x -timeout 30m
func BenchmarkSuggest(b *testing.B) {
	n := 100000
	if v, err := strconv.Atoi(os.Getenv("LEADS_SUGGEST_CONTACTS")); err == nil && v > 0 {
		n = v
	}
	syn := NewSynthetic(n, 1)
	var s *Suggestion
	for b.Loop() {
		var err error
		s, err = Suggest(context.Background(), Config{Model: model.Default(), TrainUntil: syn.TrainUntil(), Seed: 1, Date: testDate,
			Replicates: 200}, syn.Source())
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(s.Events), "events")
	b.ReportMetric(float64(s.Events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		b.ReportMetric(float64(ru.Maxrss)/1024, "maxRSS-MB")
	}
	w, bl, c, r := weightOf(s, "webinar-attended"), weightOf(s, "blog"), weightOf(s, "careers"), weightOf(s, "webinar-registered")
	b.Logf("weights: webinar %+.3f [%+.3f, %+.3f] blog %+.3f [%+.3f, %+.3f] careers %+.3f [%+.3f, %+.3f] registered %+.3f [%+.3f, %+.3f]",
		w.Weight.Value, w.Weight.Lo, w.Weight.Hi, bl.Weight.Value, bl.Weight.Lo, bl.Weight.Hi, c.Weight.Value, c.Weight.Lo, c.Weight.Hi,
		r.Weight.Value, r.Weight.Lo, r.Weight.Hi)
	var fitted, covered int
	var missed []string
	for _, ev := range s.Evidence {
		if ev.Weight.Lo == ev.Weight.Hi {
			continue // not fitted
		}
		fitted++
		if truth := syn.Effects[effectOf[ev.ID]]; ev.Weight.Lo <= truth && truth <= ev.Weight.Hi {
			covered++
		} else {
			missed = append(missed, fmt.Sprintf("%s %+.3f [%+.3f, %+.3f] for %+.3f", ev.ID, ev.Weight.Value, ev.Weight.Lo, ev.Weight.Hi, truth))
		}
	}
	b.Logf("95%% intervals covering the true effect: %d of %d; missed: %v (horizon %d days, %d of %d training contacts)", covered, fitted,
		missed, s.Train.HorizonDays, s.Train.Mature, s.Train.Contacts)
	b.Logf("points: webinar %d → %d, blog %d → %d, careers %d → %d, registered %d → %d", w.Old, w.NewPoints, bl.Old, bl.NewPoints,
		c.Old, c.NewPoints, r.Old, r.NewPoints)
	t := s.Test
	b.Logf("held out %d contacts, %d opportunities: current at %d: %d MQLs precision %.4f [%.4f, %.4f] recall %.4f AUC %.4f [%.4f, %.4f]; "+
		"same volume at %d: %d MQLs precision %.4f [%.4f, %.4f] recall %.4f AUC %.4f [%.4f, %.4f]; gain %+.4f [%+.4f, %+.4f]; "+
		"AUC gain %+.4f [%+.4f, %+.4f]; suggested at %d: %d MQLs precision %.4f recall %.4f; AQLs %d → %d (precision %.4f → %.4f)",
		t.Contacts, t.Current.Opps, t.Current.Threshold, t.Current.MQLs, t.Current.Precision.Value, t.Current.Precision.Lo, t.Current.Precision.Hi,
		t.Current.Recall.Value, t.Current.AUC.Value, t.Current.AUC.Lo, t.Current.AUC.Hi,
		t.SameVolume.Threshold, t.SameVolume.MQLs, t.SameVolume.Precision.Value, t.SameVolume.Precision.Lo, t.SameVolume.Precision.Hi,
		t.SameVolume.Recall.Value, t.SameVolume.AUC.Value, t.SameVolume.AUC.Lo, t.SameVolume.AUC.Hi, t.Gain.Value, t.Gain.Lo, t.Gain.Hi,
		t.AUCGain.Value, t.AUCGain.Lo, t.AUCGain.Hi, t.Suggested.Threshold, t.Suggested.MQLs, t.Suggested.Precision.Value,
		t.Suggested.Recall.Value, t.AQL[0].AQLs, t.AQL[1].AQLs, t.AQL[0].Precision, t.AQL[1].Precision)
}
