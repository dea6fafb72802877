// Package api serves the read API from Redis: a contact with its score,
// grade, stage and AQL gates; its ledger (why the score is what it is); an
// account; and leaderboards. It is mounted on the ingestor's HTTP server.
package api
