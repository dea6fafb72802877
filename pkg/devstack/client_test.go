package devstack

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/client"
	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/openapi/openapitest"
	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/stream"
	"github.com/leadscore/leads/pkg/testutil"
	"github.com/leadscore/leads/pkg/transition"
)

// TestTheGoClientPostsReadsAndConsumes: the client posts a contact's
// events under ids shaped like paths and queries, reads the contact, its
// ledger, its account, the leaderboard, the model and the report back as
// typed values, and consumes the transitions the events caused.
func TestTheGoClientPostsReadsAndConsumes(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := client.New(s.IngestorURL, client.WithHTTPClient(openapitest.Client(t).Client))
	const contact, account = "c/1?x=#%2F", "acme.io/../x"
	at := time.Now().UTC().Add(-time.Hour)
	evs := []event.Event{
		{ID: "go-a", Type: "account.updated", AccountID: account, Time: at, Properties: map[string]any{"employees": 5000.0, "industry": "software"}},
		{ID: "go-1", Type: "contact.updated", ContactID: contact, AccountID: account, Time: at,
			Properties: map[string]any{"title": "VP Engineering", "email": "ada@acme.io"}},
		{ID: "go-2", Type: "meeting.booked", ContactID: contact, AccountID: account, Time: at.Add(time.Minute)},
		{ID: "go-3", Type: "webinar.attended", ContactID: contact, AccountID: account, Time: at.Add(2 * time.Minute)},
	}
	n, err := c.Post(ctx, evs...)
	require.NoError(t, err)
	assert.Equal(t, len(evs), n)

	var got *client.Contact
	require.Eventually(t, func() bool {
		got, err = c.Contact(ctx, contact)
		return err == nil && got.Events == 3
	}, 30*time.Second, 20*time.Millisecond, "%v", err)
	assert.Equal(t, contact, got.ContactID)
	assert.Equal(t, account, got.AccountID)
	hist, err := c.History(ctx, contact, 10)
	require.NoError(t, err)
	require.NotEmpty(t, hist)
	assert.Equal(t, got.Score, hist[0].Score, "the newest line's score is the contact's")
	acct, err := c.Account(ctx, account)
	require.NoError(t, err)
	assert.Equal(t, account, acct.AccountID)
	board, err := c.Leaderboard(ctx, "contact", 5)
	require.NoError(t, err)
	assert.Contains(t, board, client.Ranked{ID: contact, Score: int64(got.Score)})
	m, err := c.Model(ctx)
	require.NoError(t, err)
	assert.Equal(t, got.ModelVersion, m.Version)
	_, err = c.Effectiveness(ctx, "", "", "")
	require.NoError(t, err)
	_, err = c.Contact(ctx, "nobody")
	assert.True(t, client.NotFound(err), "%v", err)

	var mu sync.Mutex
	seen := map[string]transition.CloudEvent{}
	done := make(chan error, 1)
	consumeCtx, stop := context.WithCancel(ctx)
	go func() {
		done <- client.Transitions(consumeCtx, stream.Config{Brokers: s.Brokers}, testutil.Prefix(t)+"-client", s.TransitionsTopic,
			nil, func(_ context.Context, ce transition.CloudEvent) error {
				mu.Lock()
				defer mu.Unlock()
				seen[ce.ID] = ce
				return nil
			})
	}()
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, ce := range seen {
			if ce.Subject == contact && ce.Type == "lead.became_mql" {
				return true
			}
		}
		return false
	}, 30*time.Second, 20*time.Millisecond, "the contact's MQL crossing, typed")
	stop()
	require.NoError(t, <-done)
}

// TestAContactIsFoundByItsEmailAndRedisHoldsNoAddress: a contact.updated
// with an email makes the contact readable by its address, in any case and
// with spaces around; no key or value in Redis holds the address.
func TestAContactIsFoundByItsEmailAndRedisHoldsNoAddress(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	ctx := context.Background()
	c := client.New(s.IngestorURL, client.WithHTTPClient(openapitest.Client(t).Client))
	at := time.Now().UTC().Add(-time.Hour)
	_, err := c.Post(ctx,
		event.Event{ID: "em-1", Type: "contact.updated", ContactID: "c-mail", Time: at,
			Properties: map[string]any{"email": " Grace.Hopper@Navy.example ", "title": "Rear Admiral"}},
		event.Event{ID: "em-2", Type: "webinar.attended", ContactID: "c-mail", Time: at.Add(time.Minute)})
	require.NoError(t, err)
	var got *client.Contact
	require.Eventually(t, func() bool {
		got, err = c.ContactByEmail(ctx, "grace.hopper@navy.example")
		return err == nil && got.Events == 2
	}, 30*time.Second, 20*time.Millisecond, "%v", err)
	assert.Equal(t, "c-mail", got.ContactID)
	_, err = c.ContactByEmail(ctx, "grace@navy.example")
	assert.True(t, client.NotFound(err), "%v", err)

	rdb := redis.NewClient(&redis.Options{Addr: s.RedisAddr})
	defer rdb.Close()
	keys, err := rdb.Keys(ctx, "*").Result()
	require.NoError(t, err)
	require.NotEmpty(t, keys)
	for _, k := range keys {
		typ, err := rdb.Type(ctx, k).Result()
		require.NoError(t, err)
		held := []string{k}
		switch typ {
		case "string":
			held = append(held, rdb.Get(ctx, k).Val())
		case "hash":
			for f, v := range rdb.HGetAll(ctx, k).Val() {
				held = append(held, f, v)
			}
		case "set":
			held = append(held, rdb.SMembers(ctx, k).Val()...)
		case "zset":
			held = append(held, rdb.ZRange(ctx, k, 0, -1).Val()...)
		case "list":
			held = append(held, rdb.LRange(ctx, k, 0, -1).Val()...)
		case "none": // gone since KEYS (an outbox cleared)
		default:
			t.Errorf("key %s of type %s not read", k, typ)
		}
		for _, v := range held {
			assert.NotContains(t, strings.ToLower(v), "hopper@navy", "key %s (%s)", k, typ)
		}
	}
}

// TestTheHourlyTalliesCountIntakeAndTransitions: the events a client
// posts and the transitions they cause are counted in this hour's
// tallies, which the console's overview draws.
func TestTheHourlyTalliesCountIntakeAndTransitions(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	ctx := context.Background()
	code, body := postEvents(t, s.IngestorURL, relative(historyNDJSON, recent()))
	require.Equal(t, 202, code, body)
	rdb := redis.NewClient(&redis.Options{Addr: s.RedisAddr})
	defer rdb.Close()
	st := store.New(rdb, "leads")
	// This hour and the one before (a test running across the hour).
	sum := func(what string) int64 {
		counts, err := st.Hourly(ctx, what, time.Now(), 2)
		require.NoError(t, err)
		return counts[0] + counts[1]
	}
	require.Eventually(t, func() bool {
		return sum(store.TallyIntake) == int64(strings.Count(historyNDJSON, "\n")) && sum(store.TallyTransitions) > 0
	}, 30*time.Second, 50*time.Millisecond, "the history's events and its crossings counted")
}
