package flagenv

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// EnvName is the environment variable of a flag: --kafka-brokers is
// LEADS_KAFKA_BROKERS.
func EnvName(flagName string) string {
	return "LEADS_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(flagName))
}

// commandLineOnly are the flags no variable sets: --version asks a
// question, and a LEADS_VERSION left in an environment would make every
// program print its version and exit instead of running.
var commandLineOnly = map[string]bool{"version": true}

// Parse parses args, then sets every flag not given on the command line from
// its environment variable, when that is set (even to ""). It also sets
// fs.Usage so --help names the variables. An invalid value is an error
// naming the variable.
func Parse(fs *flag.FlagSet, args []string) error {
	return parse(fs, args, os.LookupEnv)
}

func parse(fs *flag.FlagSet, args []string, lookup func(string) (string, bool)) error {
	SetUsage(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || commandLineOnly[f.Name] {
			return
		}
		name := EnvName(f.Name)
		if v, ok := lookup(name); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("environment variable %s=%q: %w", name, v, err))
			}
		}
	})
	return errors.Join(errs...)
}

// SetUsage sets fs.Usage so --help names the variables, for callers that
// parse fs themselves before Parse.
func SetUsage(fs *flag.FlagSet) { fs.Usage = func() { usage(fs) } }

func usage(fs *flag.FlagSet) {
	out := fs.Output()
	fmt.Fprintf(out, "Usage of %s (every flag can also be set by the environment variable shown):\n", fs.Name())
	fs.VisitAll(func(f *flag.Flag) {
		typ, help := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if typ != "" {
			line += " " + typ
		}
		if !commandLineOnly[f.Name] {
			line += "  [$" + EnvName(f.Name) + "]"
		}
		switch f.DefValue {
		case "", "0", "0s", "false":
		default:
			line += fmt.Sprintf(" (default %q)", f.DefValue)
		}
		fmt.Fprintf(out, "%s\n      %s\n", line, strings.ReplaceAll(help, "\n", "\n      "))
	})
}
