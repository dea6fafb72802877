package store

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"pgregory.net/rapid"

	"github.com/leadscore/leads/pkg/testutil"
)

// clusterTag is the part of a key Redis Cluster hashes: the text between
// the first '{' and the next '}', when not empty; else the whole key.
func clusterTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

// TestNoTwoSubjectsShareAKey: whatever their ids hold, the keys of
// different homes and contacts differ, a home's keys hash to one slot, and
// every key can be read back to the ids it was built from.
func TestNoTwoSubjectsShareAKey(t *testing.T) {
	t.Parallel()
	s := &Store{ns: "leads"}
	rapid.Check(t, func(t *rapid.T) {
		type subject struct{ kind, home, contact string }
		var subjects []testutil.Subject
		for range rapid.IntRange(1, 3).Draw(t, "pairs") {
			pair := testutil.HostilePair().Draw(t, "pair")
			subjects = append(subjects, pair[:]...)
		}
		owner := map[string]subject{}
		claim := func(key string, by subject) {
			if prev, ok := owner[key]; ok && prev != by {
				t.Fatalf("%q is the key of %+v and of %+v", key, prev, by)
			}
			owner[key] = by
		}
		for _, sub := range subjects {
			contact, home := sub.Contact, "c:"+sub.Contact
			if sub.Account != "" {
				home = "a:" + sub.Account
			}
			homeKey, ledger, outbox := s.HomeKey(home), s.ledgerKey(home, contact), s.outboxKey(home)
			claim(homeKey, subject{kind: "home", home: home})
			claim(outbox, subject{kind: "outbox", home: home})
			claim(ledger, subject{kind: "ledger", home: home, contact: contact})
			assert.Equal(t, clusterTag(homeKey), clusterTag(ledger), "a home's keys share a slot")
			assert.Equal(t, clusterTag(homeKey), clusterTag(outbox), "a home's keys share a slot")
			got, err := homeOfTag(clusterTag(homeKey))
			assert.NoError(t, err)
			assert.Equal(t, home, got)
			for _, fixed := range []string{s.indexKey(contact), s.LeaderboardKey("contact"), s.DueKey(DueShard(contact)),
				s.outboxIndexKey(), s.ReportKey(contact)} {
				if _, ok := owner[fixed]; ok {
					t.Fatalf("%q is a home's or a ledger's key", fixed)
				}
			}
		}
	})
}
