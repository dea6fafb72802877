// Package testutil starts what tests need: a real redis-server per test (or
// miniredis when none is installed), a Kafka broker (an embedded one per
// test, or a shared Apache Kafka broker when LEADS_IT_KAFKA asks for it),
// random name prefixes so tests never collide, and a test logger.
package testutil
