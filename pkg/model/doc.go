// Package model reads, validates and compiles the scoring-model file: the
// versioned YAML that says how many points each event and each fit attribute
// is worth, the thresholds, the stages and the decay. The built-in default
// model reproduces the numbers practitioners use (see docs/model.md).
package model
