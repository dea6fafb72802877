// Package event defines the input event that marketing tools send, its
// validation rules from the contract, and the codecs that read one event, a
// JSON array or NDJSON. It does no I/O beyond the reader it is given.
package event
