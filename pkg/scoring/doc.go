// Package scoring is the pure scoring engine: it applies one event, a decay
// or an account change to a contact's and its account's state under a model,
// and returns the ledger entries that explain the change and the threshold
// crossings it caused. It does no I/O and reads no clock: time comes from the
// event or the caller, so replaying history gives the same answer as living it.
package scoring
