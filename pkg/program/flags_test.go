package program

import (
	"flag"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// commandFlags builds the FlagSet of every program and scorer subcommand,
// as each builds it to parse its command line.
func commandFlags() map[string]*flag.FlagSet {
	return map[string]*flag.FlagSet{
		"ingestor":              new(ingestorCmd).flags(),
		"scorer":                new(scorerCmd).flags(),
		"decayer":               new(decayerCmd).flags(),
		"scorer backfill":       new(backfillCmd).flags(),
		"scorer compare":        new(compareCmd).flags(),
		"scorer promote":        new(promoteCmd).flags(),
		"scorer report":         new(reportCmd).flags(),
		"scorer model validate": (&modelCmd{sub: "validate"}).flags(),
		"scorer model diff":     (&modelCmd{sub: "diff"}).flags(),
		"scorer model history":  (&modelCmd{sub: "history"}).flags(),
		"scorer model suggest":  new(suggestCmd).flags(),
		"scorer dlq replay":     new(dlqReplayCmd).flags(),
	}
}

func names(fs *flag.FlagSet) []string {
	var out []string
	fs.VisitAll(func(f *flag.Flag) { out = append(out, f.Name) })
	return out
}

// flagClass sorts the flags shared by several commands into what they
// configure, so that a flag added to a group later (another Redis or
// Kafka security setting) is expected wherever its group is.
func flagClass(name string) string {
	switch {
	case strings.HasPrefix(name, "redis-"):
		return "redis"
	case name == "kafka-batch-size" || name == "kafka-batch-timeout" || name == "kafka-compression":
		return "producer"
	case strings.HasPrefix(name, "kafka-"):
		return "kafka"
	case name == "session-timeout" || name == "heartbeat-interval":
		return "group member"
	}
	return name
}

// TestEachSubcommandTakesOnlyTheFlagsItUses: `scorer SUBCOMMAND --help`
// lists, and the subcommand accepts, only the flags that change what it
// does: `scorer report` reads report counters from Redis, so it takes no
// Kafka flag (it listed the Kafka TLS and SASL flags, the topics and
// --http-addr, and silently ignored them).
func TestEachSubcommandTakesOnlyTheFlagsItUses(t *testing.T) {
	t.Parallel()
	// What each command touches: classes of shared flags (see flagClass),
	// then the command's own flags.
	want := map[string][]string{
		"scorer backfill": {"redis", "kafka", "producer", "namespace", "events-topic", "model", "log-level",
			"from", "to", "file", "emit-to", "decay-at", "live-namespace", "replay-batch-size", "replay-workers",
			"progress-interval", "dedupe-window"},
		"scorer compare": {"redis", "json", "limit"},
		"scorer promote": {"redis", "kafka", "namespace", "events-topic", "model", "log-level", "group", "dedupe-window"},
		"scorer report":  {"redis", "namespace", "model-version", "since", "until", "json"},
		// validate reads one file and prints a line: no flag at all.
		"scorer model validate": {},
		"scorer model diff":     {"json"},
		"scorer model history":  {"redis", "namespace", "json"},
		"scorer model suggest": {"kafka", "events-topic", "model", "log-level", "from", "to", "file", "train-until", "out",
			"suggest-version", "mql-per-week", "horizon", "protected", "json", "announce", "redis", "namespace"},
		"scorer dlq replay": {"kafka", "producer", "events-topic", "dlq-topic", "log-level", "from-offset", "filter", "dry-run"},
		// The programs take the contract's common flags; only the scorer
		// is a consumer group member.
		"ingestor": {"redis", "kafka", "producer", "kafka-brokers", "namespace", "events-topic", "transitions-topic", "dlq-topic",
			"model", "http-addr", "log-level", "version", "max-body-bytes", "max-events", "max-decoding-bytes", "retry-after", "tokens-file",
			"segment-mapping"},
		"decayer": {"redis", "kafka", "producer", "kafka-brokers", "namespace", "events-topic", "transitions-topic", "dlq-topic",
			"model", "http-addr", "log-level", "version", "interval", "batch-size", "lease-ttl", "owner", "max-backoff", "workers", "once", "now"},
	}
	sets := commandFlags()
	// Every shared flag any command takes, by class.
	classes := map[string][]string{}
	for _, fs := range sets {
		for _, n := range names(fs) {
			if c := flagClass(n); c != n && !slices.Contains(classes[c], n) {
				classes[c] = append(classes[c], n)
			}
		}
	}
	for cmd, spec := range want {
		expected := map[string]bool{}
		for _, s := range spec {
			if members, ok := classes[s]; ok {
				for _, m := range members {
					expected[m] = true
				}
				continue
			}
			expected[s] = true
		}
		if slices.Contains(spec, "kafka") {
			expected["kafka-brokers"] = true
		}
		got := names(sets[cmd])
		var extra, missing []string
		for _, n := range got {
			if !expected[n] {
				extra = append(extra, "--"+n)
			}
		}
		for n := range expected {
			if !slices.Contains(got, n) {
				missing = append(missing, "--"+n)
			}
		}
		slices.Sort(missing)
		assert.Empty(t, extra, "%s takes flags that change nothing it does", cmd)
		assert.Empty(t, missing, "%s lacks flags it needs", cmd)
	}
}
