// Package segment is the ingestor's Segment-compatible intake: the calls of
// Segment's HTTP tracking API (and RudderStack's, the same), as its server
// SDKs send them, become events of the catalogue by a mapping file, and go
// through the same authentication, limits, validation and publish as
// POST /v1/events. A message's messageId is its event's id, so an SDK's
// retry scores once.
package segment
