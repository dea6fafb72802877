// Package scorer is the scoring service: it consumes batches of events,
// applies the engine to the homes they touch, commits each home atomically in
// Redis, publishes the crossings as CloudEvents, and only then commits the
// Kafka offsets. Every step is safe to repeat after a crash.
package scorer
