// Package stream is the only place that speaks Kafka (through kafka-go): a
// synchronous, acks=all publisher; a consumer-group source that hands out
// batches and commits them; topic creation; and dead-lettering. The rest of
// the project sees only its own Record type.
package stream
