// Package eventtest builds request bodies for tests of the event decoder and
// the HTTP edge: hostile shapes that cost a naive decoder far more memory
// than their size, and the largest shapes the limits still accept.
package eventtest
