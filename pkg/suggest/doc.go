// Package suggest proposes the next version of a scoring model from the
// history it scored: it replays the events through the pure engine,
// fits how much each rule's firings and each fit attribute moved the odds
// of an opportunity, and writes a model file whose changelog gives every
// change its evidence. It never promotes anything: the suggestion is
// backtested on later history and left for a person to review, backfill,
// compare and promote.
package suggest
