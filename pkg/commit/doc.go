// Package commit is the write path shared by the scorer, the decayer and
// replay: it loads homes for a workspace, commits every changed home with the
// versioned Lua script, publishes the outbox of crossings as CloudEvents,
// clears it, and writes the derived keys (contact index, leaderboards, the
// due index of the decayer). Each step is safe to repeat after a crash.
package commit
