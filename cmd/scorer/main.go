// Command scorer: see README.md. Every flag can also be set from the
// environment as LEADS_<FLAG_IN_UPPER_SNAKE>; --help lists them.
package main

import "github.com/leadscore/leads/pkg/program"

func main() { program.Main(program.Scorer) }
