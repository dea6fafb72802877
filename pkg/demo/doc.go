// Package demo generates realistic marketing traffic: accounts with
// firmographics, contacts with titles and profiles, and engagement whose
// intensity varies by persona, so that a few contacts become MQL and AQL and
// others go cold. The run command and the benchmarks use it.
package demo
