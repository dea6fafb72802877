// Package store keeps scoring state in Redis. A home (an account with its
// contacts, or a contact without one) is one hash whose keys share a hash
// tag, committed by one Lua script that checks the home's version (fencing a
// zombie consumer), advances per-partition offset watermarks (dedupe of
// redelivered messages) and writes the outbox of crossings to publish.
package store
