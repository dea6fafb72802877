package program

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/leadscore/leads/pkg/app"
	"github.com/leadscore/leads/pkg/flagenv"
	"github.com/leadscore/leads/pkg/stream"
)

// ErrUsage marks a command line a program refuses: an unknown flag,
// subcommand or argument, a flag value that does not parse, or a
// subcommand called with the wrong arguments. Main exits 2 for it.
var ErrUsage = errors.New("usage")

// ExitCode is the status a process exits with when a program returned
// err: 0 for none and for --help and --version, 2 for a usage error (ErrUsage), 1 for
// any other failure; the statuses a flag.ExitOnError FlagSet exits with.
func ExitCode(err error) int {
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp) || errors.Is(err, ErrVersion):
		return 0
	case errors.Is(err, ErrUsage):
		return 2
	default:
		return 1
	}
}

// ParseFlags parses the flags of a command that takes no positional
// arguments, and the LEADS_ variables of those not given. Whatever it
// refuses is a usage error, and so is any positional argument: the flag
// package stops at the first one, so every flag after it would be ignored
// (`scorer bakfill --namespace v2` ran the live scorer on the live
// namespace).
func ParseFlags(fs *flag.FlagSet, args []string) error {
	if err := flagenv.Parse(fs, args); err != nil {
		return usageError(err)
	}
	if fs.NArg() > 0 {
		return &argsError{command: fs.Name(), args: fs.Args()}
	}
	return nil
}

// usageError marks an error of the flag package as a usage error; --help
// stays flag.ErrHelp.
func usageError(err error) error {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUsage, err)
}

// invalidFlags marks what a Validate found as a usage error: values out of
// range, flags that do not go together. A TLS file that does not load is
// no usage error: the command line was understood, the file is at fault.
func invalidFlags(err error) error {
	if err == nil || errors.Is(err, app.ErrRedisTLSLoad) || errors.Is(err, stream.ErrTLSLoad) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUsage, err)
}

// argsError is a positional argument given to a command that takes none.
type argsError struct {
	command string
	args    []string
}

func (e *argsError) Error() string {
	return fmt.Sprintf("%s takes no arguments, got %q: it has no subcommands, and flags begin with -- (%s --help lists them)",
		e.command, e.args[0], e.command)
}

func (e *argsError) Unwrap() error { return ErrUsage }

// command is a subcommand of the scorer: an ops tool that runs once.
type command struct {
	name, summary string
	run           func(context.Context, []string, Options) error
}

// scorerCommands are listed by scorer --help in this order.
var scorerCommands []command

func init() {
	scorerCommands = []command{
		{"backfill", "rescore history (the events topic or an NDJSON file) into a namespace of its own", backfillCommand},
		{"compare", "list the contacts whose MQL, AQL, grade or stage differ between two namespaces", compareCommand},
		{"promote", "make a backfilled namespace live", promoteCommand},
		{"report", "print the effectiveness report of each model version", reportCommand},
		{"model", "validate or diff model files, or print the history of the versions scored with", modelCommand},
		{"dlq", "dlq replay: put dead letters back on the events topic", scorerDLQ},
	}
}

func scorerCommand(name string) (command, bool) {
	for _, c := range scorerCommands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// writeSubcommands lists the scorer's subcommands, after its flags in
// --help and in the error for an unknown one.
func writeSubcommands(w io.Writer) {
	fmt.Fprintln(w, "Subcommands (scorer SUBCOMMAND --help lists the flags of one; without one, scorer runs the live scorer):")
	for _, c := range scorerCommands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
}

// scorerArgsError says what is wrong with the scorer's positional
// arguments: a subcommand after flags, or a word that is no subcommand.
func scorerArgsError(word string) error {
	if _, ok := scorerCommand(word); ok {
		return fmt.Errorf("%w: the subcommand %q comes first, before any flag: scorer %s [flags]", ErrUsage, word, word)
	}
	var list strings.Builder
	writeSubcommands(&list)
	return fmt.Errorf("%w: unknown scorer subcommand %q\n%s", ErrUsage, word, strings.TrimSuffix(list.String(), "\n"))
}

// isHelp reports whether arg asks for help as the flag package
// understands it, for commands that read a word before their flags.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "--h", "-help", "--help":
		return true
	}
	return false
}
