// Package decay is the decayer service: it finds contacts whose next decay
// step or dormancy is due through a sharded sorted-set index (never by
// scanning all contacts), decays them with the engine and commits them with
// the same versioned write as the scorer, so a decay and an event for one
// contact never lose either update.
package decay
