// Package reliability holds process-level fault tests: the real scorer,
// ingestor and decayer binaries, a real redis-server and the embedded
// Kafka broker, killed, paused and cut off at chosen or random points.
// docs/reliability.md lists each fault and the test that proves it. The
// package has no code of its own.
package reliability
