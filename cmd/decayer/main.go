// Command decayer: see README.md. Every flag can also be set from the
// environment as LEADS_<FLAG_IN_UPPER_SNAKE>; --help lists them.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/leadscore/leads/pkg/program"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := program.Decayer(ctx, os.Args[1:], program.Options{})
	stop()
	code, msg := program.Exit(err)
	if msg != "" {
		fmt.Fprintln(os.Stderr, msg)
	}
	os.Exit(code)
}
