// Package testutil starts what tests need: a real redis-server per test (or
// miniredis when none is installed), an embedded Kafka broker, random name
// prefixes so tests never collide, and a test logger.
package testutil
