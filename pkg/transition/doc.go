// Package transition encodes threshold crossings as CloudEvents 1.0
// structured-mode JSON, the shape downstream consumers of the transitions
// topic are written against.
package transition
