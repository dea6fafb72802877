// Package scorer is the scoring service. A Processor takes a batch of event
// records through the write cycle (package commit): it dead-letters what
// cannot be scored, applies the rest once by offset and by event id, and
// commits each home atomically in Redis. The Scorer fetches batches,
// delivers each processed batch's crossings as CloudEvents, and only then
// commits the Kafka offsets. Every step is safe to repeat after a crash.
package scorer
