package deploy

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/devstack"
	"github.com/leadscore/leads/pkg/testutil"
)

const (
	alertsFile    = "monitoring/alerts.yaml"
	dashboardFile = "monitoring/dashboard.json"
)

// promql parses as Prometheus does by default.
var promql = parser.NewParser(parser.Options{})

func parseRules(t *testing.T) *rulefmt.RuleGroups {
	t.Helper()
	groups, errs := rulefmt.ParseFile(alertsFile, false, model.UTF8Validation, promql, slog.New(slog.DiscardHandler))
	require.Empty(t, errs, "the alert rules parse with Prometheus's own parser")
	return groups
}

// dashboard is what the tests read of the Grafana dashboard.
type dashboard struct {
	Title  string
	Panels []struct {
		Title   string
		Targets []struct{ Expr string }
	}
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	require.NoError(t, err)
	var d dashboard
	require.NoError(t, json.Unmarshal(raw, &d))
	return d
}

// monitoringQueries are every PromQL expression of the alert rules and the
// dashboard, by where they stand.
func monitoringQueries(t *testing.T) map[string]string {
	t.Helper()
	groups := parseRules(t)
	out := map[string]string{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			out["alert "+r.Alert] = r.Expr
		}
	}
	for _, p := range readDashboard(t).Panels {
		for i, target := range p.Targets {
			// Grafana's interval variable is a duration to PromQL.
			out["panel "+p.Title+" #"+string(rune('A'+i))] = strings.ReplaceAll(target.Expr, "$__rate_interval", "5m")
		}
	}
	return out
}

// TestAlertRulesAreComplete: the rules parse with Prometheus's rule parser
// and every one pages, warns or opens a ticket with a summary saying what
// is wrong and a description saying where to look.
func TestAlertRulesAreComplete(t *testing.T) {
	t.Parallel()
	groups := parseRules(t)
	var names []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			names = append(names, r.Alert)
			assert.Contains(t, []string{"page", "warn", "ticket"}, r.Labels["severity"], r.Alert)
			assert.NotEmpty(t, r.Annotations["summary"], r.Alert)
			assert.NotEmpty(t, r.Annotations["description"], r.Alert)
		}
	}
	for _, want := range []string{"LeadsNotReady", "LeadsScorerNotConsuming", "LeadsScorerLagGrowing", "LeadsOldestEventTooOld",
		"LeadsDeadLetters", "LeadsModelReviewOverdue"} {
		assert.Contains(t, names, want, "the issue's alerts: scorer not consuming, lag or age growing, DLQ rate, not ready, review overdue")
	}
}

// TestDashboardQueriesParse: every panel of the dashboard has a query, and
// every query is PromQL.
func TestDashboardQueriesParse(t *testing.T) {
	t.Parallel()
	d := readDashboard(t)
	require.NotEmpty(t, d.Panels)
	for _, p := range d.Panels {
		require.NotEmpty(t, p.Targets, p.Title)
	}
	for where, q := range monitoringQueries(t) {
		_, err := promql.ParseExpr(q)
		assert.NoError(t, err, "%s: %s", where, q)
	}
}

// TestMonitoringAsksOnlyForMetricsTheProgramsExport runs the dev stack
// with demo traffic, reads the three programs' /metrics, and checks that
// every metric an alert rule or a dashboard panel names is there: a
// renamed metric breaks this test, not the dashboard in production.
func TestMonitoringAsksOnlyForMetricsTheProgramsExport(t *testing.T) {
	t.Parallel()
	wanted := map[string][]string{} // metric → where it is asked for
	for where, q := range monitoringQueries(t) {
		expr, err := promql.ParseExpr(q)
		require.NoError(t, err, where)
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok {
				wanted[vs.Name] = append(wanted[vs.Name], where)
			}
			return nil
		})
	}
	scrape := startStack(t)
	// Series labelled by what happened (a status, an event type) appear
	// with the first demo events: wait for them, a while.
	var exported map[string]bool
	deadline := time.Now().Add(30 * time.Second)
	for {
		exported = scrape()
		missing := 0
		for name := range wanted {
			if !exported[name] {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for name, where := range wanted {
		assert.True(t, exported[name], "%s asked for by %v: no program exports it", name, where)
	}
}

// startStack starts the dev stack with demo traffic and returns a function
// that reads the three programs' /metrics and returns the names of every
// series they serve (histograms with their _bucket, _sum and _count).
func startStack(t *testing.T) func() map[string]bool {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	up := make(chan devstack.Stack, 1)
	done := make(chan error, 1)
	go func() {
		done <- devstack.Run(ctx, devstack.Config{Brokers: testutil.RealKafka(t), Prefix: testutil.Prefix(t) + ".",
			IngestorAddr: "127.0.0.1:0", ScorerAddr: "127.0.0.1:0", DecayerAddr: "127.0.0.1:0", Partitions: 2, LogLevel: "warn",
			DemoRate: 200, DemoContacts: 50}, testutil.Logger(t), func(s devstack.Stack) { up <- s })
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
	var s devstack.Stack
	select {
	case s = <-up:
	case err := <-done:
		t.Fatalf("stack failed: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("stack did not start within 30s")
	}
	return func() map[string]bool {
		names := map[string]bool{}
		for _, url := range []string{s.IngestorURL, s.ScorerURL, s.DecayerURL} {
			resp, err := http.Get(url + "/metrics")
			require.NoError(t, err)
			tp := expfmt.NewTextParser(model.UTF8Validation)
			mfs, err := tp.TextToMetricFamilies(resp.Body)
			resp.Body.Close()
			require.NoError(t, err, url)
			for name, mf := range mfs {
				names[name] = true
				if slices.Contains([]string{"HISTOGRAM", "SUMMARY"}, mf.GetType().String()) {
					names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
				}
			}
		}
		return names
	}
}
