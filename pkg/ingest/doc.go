// Package ingest is the ingestor's HTTP service: POST /v1/events decodes
// one event, an array or NDJSON, validates every event, and answers 202 only
// after the whole batch is durably published; any invalid event refuses the
// batch with per-item reasons and publishes nothing. Other intake APIs
// (Intake: Segment's tracking API) get the same guarantees, limits and
// source checks. The program mounts it beside its health, readiness and
// metrics (app.Health) and the read API.
package ingest
