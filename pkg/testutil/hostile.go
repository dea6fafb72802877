package testutil

import (
	"strings"

	"pgregory.net/rapid"
)

// HostileID draws ids made mostly of the characters Redis keys are built
// with, so that forged separators and hash tags are tried far more often
// than a uniform draw would.
func HostileID() *rapid.Generator[string] {
	return rapid.Custom(func(t *rapid.T) string {
		parts := rapid.SliceOfN(rapid.SampledFrom([]string{
			"{", "}", ":", "*", "%", "%7B", "%3A", ":l:", "}:l:", "a:", "c:", "{a:", "x", "k", "é", "_v", "o:1",
		}), 1, 6).Draw(t, "parts")
		return strings.Join(parts, "")
	})
}

// Subject is a contact and its account ("" for none).
type Subject struct{ Contact, Account string }

// HostilePair draws two subjects whose ids are forged from each other the
// way an attacker would to land on the other's keys if keys were built by
// plain concatenation ("ns:{a:<account>}" for a home, and
// "ns:{a:<account>}:l:<contact>" for a ledger): contact "k}" in account
// "evil" against account "evil}:l:k"; contacts "y}:l:z" in "acme" and "z"
// in "acme}:l:y"; or pieces of both put together at random.
func HostilePair() *rapid.Generator[[2]Subject] {
	return rapid.Custom(func(t *rapid.T) [2]Subject {
		u, v, w := HostileID().Draw(t, "u"), HostileID().Draw(t, "v"), HostileID().Draw(t, "w")
		switch rapid.IntRange(0, 2).Draw(t, "shape") {
		case 0: // a home on a ledger
			return [2]Subject{{u + "}", v}, {w, v + "}:l:" + u}}
		case 1: // a ledger on a ledger
			return [2]Subject{{u + "}:l:" + w, v}, {w, v + "}:l:" + u}}
		}
		pieces := []string{"}:l:", ":l:", "}", "{", ":", "a:", "c:", u, v, w}
		forge := func(label string) string {
			var b strings.Builder
			for range rapid.IntRange(1, 4).Draw(t, label) {
				b.WriteString(rapid.SampledFrom(pieces).Draw(t, label))
			}
			return b.String()
		}
		return [2]Subject{{forge("c1"), forge("a1")}, {forge("c2"), forge("a2")}}
	})
}
