// Package report measures whether a scoring model is any good: counters per
// model version, kept by the scorer in the same commits as the scores
// (Diff), and the effectiveness report computed from them (Compute):
// conversion of MQLs and AQLs to opportunities, time to convert, results by
// grade and stage, sales feedback, and each rule's lift.
package report
