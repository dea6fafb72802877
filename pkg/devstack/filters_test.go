package devstack

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/client"
	"github.com/leadscore/leads/pkg/demo"
	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/openapi/openapitest"
	"github.com/leadscore/leads/pkg/store"
)

// TestFilteredLeaderboardsHoldExactlyTheContactsWithTheValue: demo
// traffic over 300 contacts; the contact leaderboard filtered by each
// grade, stage, nurture category, MQL and AQL lists exactly the contacts
// whose resource has that value, by score. Then some contacts change
// title (and so fit and grade): they leave the boards of their old values.
// Every two filters of different fields list the contacts with both.
func TestFilteredLeaderboardsHoldExactlyTheContactsWithTheValue(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := client.New(s.IngestorURL, client.WithHTTPClient(openapitest.Client(t).Client))
	gen := demo.New(21, 300, time.Now().UTC().Add(-48*time.Hour), "flt-")
	evs := append(gen.Accounts(), gen.Next(3000, 10*time.Second)...)
	for i := 0; i < len(evs); i += 1000 {
		_, err := c.Post(ctx, evs[i:min(i+1000, len(evs))]...)
		require.NoError(t, err)
	}
	// Each contact's events, to know when all are scored.
	ids := map[string]int32{}
	for _, ev := range evs {
		if ev.ContactID != "" {
			ids[ev.ContactID]++
		}
	}
	check := func() {
		t.Helper()
		require.Eventually(t, func() bool {
			for id, n := range ids {
				if got, err := c.Contact(ctx, id); err != nil || got.Events != n {
					return false
				}
			}
			return true
		}, 30*time.Second, 50*time.Millisecond, "every event scored")
		// Every contact's values, as its resource says.
		want := map[string][]string{}
		score := map[string]int64{}
		for id := range ids {
			ct, err := c.Contact(ctx, id)
			if client.NotFound(err) {
				continue
			}
			require.NoError(t, err)
			score[id] = int64(ct.Score)
			for _, kv := range [][2]string{{"grade", ct.Grade}, {"stage", ct.Stage}, {"nurture", ct.Nurture}} {
				if kv[1] != "" {
					want[kv[0]+"="+kv[1]] = append(want[kv[0]+"="+kv[1]], id)
				}
			}
			if ct.MQL {
				want["mql=true"] = append(want["mql=true"], id)
			}
			if ct.AQL {
				want["aql=true"] = append(want["aql=true"], id)
			}
		}
		require.Contains(t, want, "mql=true", "the traffic makes MQLs")
		for filter, members := range want {
			q, err := url.ParseQuery(filter + "&limit=1000")
			require.NoError(t, err)
			var board struct {
				Items []client.Ranked `json:"items"`
			}
			require.Equal(t, 200, getJSON(t, s.IngestorURL+"/v1/leaderboard?"+q.Encode(), &board), filter)
			var got []string
			for i, it := range board.Items {
				got = append(got, it.ID)
				assert.Equal(t, score[it.ID], it.Score, "%s: %s's score", filter, it.ID)
				if i > 0 {
					assert.GreaterOrEqual(t, board.Items[i-1].Score, it.Score, "%s: by score", filter)
				}
			}
			slices.Sort(got)
			slices.Sort(members)
			assert.Equal(t, members, got, filter)
		}
		// Two filters of different fields: the contacts with both values.
		for f1, m1 := range want {
			for f2, m2 := range want {
				if strings.Split(f1, "=")[0] >= strings.Split(f2, "=")[0] {
					continue
				}
				var both []string
				for _, id := range m1 {
					if slices.Contains(m2, id) {
						both = append(both, id)
					}
				}
				var fs []store.Filter
				for _, f := range []string{f1, f2} {
					field, value, _ := strings.Cut(f, "=")
					fs = append(fs, store.Filter{Field: field, Value: value})
				}
				board, err := c.Filtered(ctx, fs, 1000, "") // the Go client's way to ask
				require.NoError(t, err, f1+"&"+f2)
				assert.True(t, board.Complete, "%s&%s: boards that are not full lose nothing", f1, f2)
				got := []string{}
				for _, it := range board.Items {
					got = append(got, it.ID)
				}
				slices.Sort(got)
				slices.Sort(both)
				assert.Equal(t, append([]string{}, both...), got, f1+"&"+f2)
			}
		}
	}
	check()

	// The MQA count is the accounts whose resource says MQA.
	accounts := map[string]bool{}
	for _, ev := range evs {
		if ev.AccountID != "" {
			accounts[ev.AccountID] = true
		}
	}
	var mqa int64
	for id := range accounts {
		a, err := c.Account(ctx, id)
		require.NoError(t, err)
		if a.MQA {
			mqa++
		}
	}
	require.NotZero(t, mqa, "the traffic makes MQAs")
	rdb := redis.NewClient(&redis.Options{Addr: s.RedisAddr})
	defer rdb.Close()
	count, err := store.New(rdb, "leads").MQACount(ctx)
	require.NoError(t, err)
	assert.Equal(t, mqa, count, "MQA accounts now")

	// Titles that change fit: the contacts leave their old grade's board.
	var changes []event.Event
	n := 0
	for id := range ids {
		if n == 20 {
			break
		}
		n++
		changes = append(changes, event.Event{ID: "retitle-" + id, Type: "contact.updated", ContactID: id,
			Time: time.Now().UTC().Add(-time.Minute), Properties: map[string]any{"title": "Intern"}})
	}
	_, err = c.Post(ctx, changes...)
	require.NoError(t, err)
	for _, ev := range changes {
		ids[ev.ContactID]++
	}
	check()
}
