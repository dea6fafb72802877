// Package commit is the write cycle shared by the scorer, the decayer and a
// backfill: Load reads the homes a batch needs, the caller applies it in a
// workspace, Commit writes every changed home with the versioned Lua script
// (its new crossings in its outbox) and the derived keys, and Deliver
// publishes the crossings as CloudEvents and then clears the outbox. Cycle
// redoes a batch after a conflict or a home it lacked. Each step is safe to
// repeat after a crash, and each crossing is published once on a run
// without faults: which outbox entries a post publishes is decided in one
// place, Committer.publishes.
package commit
