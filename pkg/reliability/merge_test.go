package reliability

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/event"
	fp "github.com/leadscore/leads/pkg/failpoint"
)

// TestScorerKilledBetweenTheHomesOfAMerge: anonymous visitors, each on a
// home of its own, are merged into known contacts living elsewhere. The
// scorer is killed after committing the contacts' homes and before the
// visitors' (the order a merge commits in), then restarted: every visitor
// counts once, for its contact, is retired, and every crossing the merges
// cause is published once, as the pure engine says.
func TestScorerKilledBetweenTheHomesOfAMerge(t *testing.T) {
	t.Parallel()
	r := newRig(t, 20, 200)
	end := r.history[len(r.history)-1].Time
	var visits, merges []event.Event
	for i, contact := range r.contacts[:10] {
		anon := fmt.Sprintf("anon:%s-%d", r.prefix, i)
		for j, typ := range []string{"webinar.attended", "web.page_viewed", "web.page_viewed"} {
			visits = append(visits, event.Event{ID: fmt.Sprintf("%s-v%d", anon, j), Type: typ, ContactID: anon,
				Time: end.Add(time.Duration(j+1) * time.Minute), Properties: map[string]any{"url": "https://x.example/pricing"}})
		}
		merges = append(merges, event.Event{ID: "merge:" + anon, Type: event.ContactMerged, ContactID: anon,
			Time: end.Add(time.Hour), Properties: map[string]any{event.MergeInto: contact}})
	}
	before := append(append([]event.Event(nil), r.history...), visits...)
	x0 := pure(t, before)
	x := pure(t, append(before, merges...))
	require.Len(t, x.contacts, len(x0.contacts))

	l := r.lane(t, "merge")
	r.publish(before...)
	p := l.run("scorer", "")
	l.converges(x0, 45*time.Second)
	p.kill()
	r.publish(merges...)
	l.run("scorer", fp.CommitBetweenHomes+":1").killed(30 * time.Second)
	p = l.run("scorer", "")
	l.converges(x, 45*time.Second)
	p.kill()
}
