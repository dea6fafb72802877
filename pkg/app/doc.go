// Package app holds what the three programs share: the common flags, the
// zap logger, loading the scoring model, the Redis client, and the HTTP
// server with /healthz, /readyz and /metrics and its orderly shutdown.
package app
