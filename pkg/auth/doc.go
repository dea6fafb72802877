// Package auth holds the callers the ingestor trusts: per-source bearer
// tokens for POST /v1/events (each with the event types it may send and a
// rate limit) and read tokens for the read API. Tokens are configured as
// SHA-256 hashes, so the file that lists them grants nothing if it leaks.
package auth
