package program

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// programs are the commands the README's configuration table must list
// every flag of; the subcommands may leave out a flag a program takes with
// the same default (`scorer report --redis-addr`).
var programs = []string{"ingestor", "scorer", "decayer"}

// TestREADMEListsEveryFlagWithItsDefault reads the tables of README.md's
// "Configuration" section and checks every flag of every program against
// them: each has a row naming the program with the code's default, and no
// row names a flag a program does not take. A subcommand's flag needs a
// row naming the subcommand unless a program takes it with the same
// default. A row is
//
//	| `--flag`[, `--other`] | programs | default | meaning |
//
// where programs is "all" (ingestor, scorer, decayer) or a comma list of
// commands ("scorer, scorer backfill"), and the default is the first
// `quoted` word of its cell, else "none" for an empty default or "off" for
// false; durations compare by value (`1m` is 1m0s).
func TestREADMEListsEveryFlagWithItsDefault(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	rows := configurationRows(t, string(readme))
	// hostDependent defaults cannot be written down: the README describes
	// them instead.
	hostDependent := map[string]bool{"owner": true}

	sets := commandFlags()
	for _, cmd := range slices.Sorted(maps.Keys(sets)) {
		fs := sets[cmd]
		fs.VisitAll(func(f *flag.Flag) {
			row, ok := rows[key{cmd, f.Name}]
			if !ok && !slices.Contains(programs, cmd) {
				for _, p := range programs {
					if pf := sets[p].Lookup(f.Name); pf != nil && pf.DefValue == f.DefValue {
						row, ok = rows[key{p, f.Name}]
						break
					}
				}
			}
			if !ok {
				t.Errorf("README.md's configuration table has no row for --%s of %s (default %q): add `--%s` to a row naming %s",
					f.Name, cmd, f.DefValue, f.Name, cmd)
				return
			}
			if hostDependent[f.Name] {
				return
			}
			if !sameDefault(row.def, f.DefValue) {
				t.Errorf("README.md line %d: --%s of %s has the default %q in the table, but %q in the code",
					row.line, f.Name, cmd, row.def, f.DefValue)
			}
		})
	}
	for k, row := range rows {
		fs, ok := sets[k.cmd]
		if !ok {
			t.Errorf("README.md line %d: --%s is listed for %q, which is no program or subcommand", row.line, k.flag, k.cmd)
			continue
		}
		if fs.Lookup(k.flag) == nil {
			t.Errorf("README.md line %d: --%s is listed for %s, which does not take it", row.line, k.flag, k.cmd)
		}
	}
}

type key struct{ cmd, flag string }

type row struct {
	line int
	def  string
}

var (
	flagRef   = regexp.MustCompile("`--([a-z0-9-]+)`")
	quotedDef = regexp.MustCompile("`([^`]*)`")
)

// configurationRows parses the tables of README's Configuration section.
func configurationRows(t *testing.T, readme string) map[key]row {
	t.Helper()
	rows := map[key]row{}
	in := false
	for i, line := range strings.Split(readme, "\n") {
		switch {
		case strings.HasPrefix(line, "## "):
			in = line == "## Configuration"
			continue
		case !in || !strings.HasPrefix(line, "| `--"):
			continue
		}
		cells := strings.Split(line, "|")
		require.GreaterOrEqual(t, len(cells), 5, "README.md line %d: want | flags | programs | default | meaning |", i+1)
		flags := flagRef.FindAllStringSubmatch(cells[1], -1)
		require.NotEmpty(t, flags, "README.md line %d", i+1)
		var cmds []string
		for _, c := range strings.Split(strings.ReplaceAll(cells[2], "`", ""), ",") {
			if c = strings.TrimSpace(c); c == "all" {
				cmds = append(cmds, programs...)
			} else {
				cmds = append(cmds, c)
			}
		}
		def := strings.TrimSpace(cells[3])
		if m := quotedDef.FindStringSubmatch(def); m != nil {
			def = m[1]
		} else if w := strings.Fields(def); len(w) > 0 && (w[0] == "none" || strings.HasPrefix(w[0], "none")) {
			def = ""
		} else if len(w) > 0 && strings.HasPrefix(w[0], "off") {
			def = "false"
		}
		for _, f := range flags {
			for _, c := range cmds {
				k := key{c, f[1]}
				if prev, dup := rows[k]; dup {
					t.Errorf("README.md lines %d and %d both list --%s for %s", prev.line, i+1, f[1], c)
				}
				rows[k] = row{line: i + 1, def: def}
			}
		}
	}
	require.NotEmpty(t, rows, "README.md has no configuration table under \"## Configuration\"")
	return rows
}

func sameDefault(readme, code string) bool {
	if readme == code {
		return true
	}
	a, errA := time.ParseDuration(readme)
	b, errB := time.ParseDuration(code)
	return errA == nil && errB == nil && a == b
}

func TestSameDefault(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		readme, code string
		same         bool
	}{{"1m", "1m0s", true}, {"24h", "24h0m0s", true}, {"10000", "500", false}, {"", "", true}, {"1s", "1m0s", false},
		{"lz4", "lz4", true}} {
		assert.Equal(t, tt.same, sameDefault(tt.readme, tt.code), fmt.Sprint(tt))
	}
}

// TestDocsDoNotCallTheSubcommandsPlanned: docs/model.md said backfill,
// compare and promote were "planned and do not exist yet" long after they
// shipped. No paragraph of the docs may call a scorer subcommand planned.
func TestDocsDoNotCallTheSubcommandsPlanned(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../../docs/*.md")
	require.NoError(t, err)
	files = append(files, "../../README.md")
	stale := regexp.MustCompile(`(?i)\bplanned\b|not exist yet|not yet implemented|coming soon`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, para := range strings.Split(string(b), "\n\n") {
			para = strings.ReplaceAll(strings.Join(strings.Fields(para), " "), "`", "")
			if !stale.MatchString(para) {
				continue
			}
			for _, c := range scorerCommands {
				assert.NotContains(t, para, "scorer "+c.name, "%s calls a subcommand that exists planned:\n%s", f, para)
			}
		}
	}
}
