// Package embedded starts the infrastructure the one-command stack and the
// tests run in-process or as children: a Kafka-protocol broker (kfake) and a
// Redis (a real redis-server on a free loopback port when one is on PATH,
// else miniredis).
package embedded
