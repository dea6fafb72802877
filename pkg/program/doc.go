// Package program wires the three programs (ingestor, scorer, decayer) from
// their flags: logger, clients, services, HTTP server and orderly shutdown.
// The cmd mains call it with os.Args, and the one-command dev stack calls it
// in-process, so both run exactly the same code.
package program
