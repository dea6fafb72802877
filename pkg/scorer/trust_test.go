package scorer

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/stream"
	"github.com/leadscore/leads/pkg/testutil"
)

// log is a partition of the events topic for tests that call Process: it
// hands out offsets in order, as Kafka would to each post of a client.
type log struct {
	t         *testing.T
	partition int
	next      int64
}

func (l *log) records(evs ...event.Event) []stream.Record {
	l.t.Helper()
	recs := make([]stream.Record, len(evs))
	for i := range evs {
		v, err := json.Marshal(&evs[i])
		require.NoError(l.t, err)
		recs[i] = stream.Record{Topic: "e", Partition: l.partition, Offset: l.next, Value: v, Key: []byte(evs[i].Key()),
			Time: evs[i].Time}
		l.next++
	}
	return recs
}

// opened is an email open of contact in account (none when "").
func opened(id, contact, account string, at time.Time) event.Event {
	return event.Event{ID: id, Type: "email.opened", ContactID: contact, AccountID: account, Time: at}
}

func historyOf(t *testing.T, st *store.Store, contact string) []string {
	t.Helper()
	entries, err := st.History(context.Background(), contact, 1000)
	require.NoError(t, err)
	var causes []string
	for _, e := range entries {
		causes = append(causes, e.Cause)
	}
	return causes
}

// TestIDsShapedLikeKeysReachNothingElse: ids holding the characters keys
// are built with ('{', '}', ':') neither break a commit nor share a key with
// another subject: the ledger of contact "k}" in account "evil" and the home
// of account "evil}:l:k" were one key, so every later batch failed with
// WRONGTYPE (in one order) or a commit stopped half way (in the other), and
// contacts "y}:l:z" in "acme" and "z" in "acme}:l:y" shared one history.
func TestIDsShapedLikeKeysReachNothingElse(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	for _, tc := range []struct {
		name  string
		first event.Event
		then  event.Event
	}{
		{"ledger first", opened("h1", "k}", "evil", at), opened("h2", "k2", "evil}:l:k", at)},
		{"home first", opened("h1", "k2", "evil}:l:k", at), opened("h2", "k}", "evil", at)},
		{"shared ledger", opened("h1", "y}:l:z", "acme", at), opened("h2", "z", "acme}:l:y", at)},
		{"contact home", opened("h1", "q}:l:q", "", at), opened("h2", "q", "q}", at)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newScorers(t)
			s, st := f.at("ns", nil, &flakySink{})
			part := &log{t: t}
			require.NoError(t, s.Process(ctx, part.records(tc.first)))
			require.NoError(t, s.Process(ctx, part.records(tc.then)))
			require.NoError(t, s.Process(ctx, part.records(opened("o1", "c-1", "acme.io", at))), "an ordinary contact is scored after them")
			for _, ev := range []event.Event{tc.first, tc.then} {
				c, _, err := st.Contact(ctx, ev.ContactID)
				require.NoError(t, err)
				assert.Equal(t, int32(1), c.Events, "contact %q", ev.ContactID)
				assert.Equal(t, []string{ev.ID}, historyOf(t, st, ev.ContactID), "the history of %q is its own", ev.ContactID)
			}
			c, _, err := st.Contact(ctx, "c-1")
			require.NoError(t, err)
			assert.Equal(t, int32(5), c.Behavior)
		})
	}
}

// TestHostilePairsLeaveOthersUntouched: two subjects with ids drawn to look
// like key syntax, scored before and between an ordinary contact's events,
// change nothing of the ordinary contact: its state and history are those
// of a namespace that never saw them, and each hostile contact's history is
// its own.
func TestHostilePairsLeaveOthersUntouched(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := newScorers(t)
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	n := 0
	rapid.Check(t, func(rt *rapid.T) {
		n++
		ns := "p" + strconv.Itoa(n)
		hostile, _ := f.at(ns+"h", nil, &flakySink{})
		clean, cleanStore := f.at(ns+"c", nil, &flakySink{})
		_, st := f.at(ns+"h", nil, &flakySink{})
		var evs []event.Event
		contacts := map[string]string{}
		for i, sub := range testutil.HostilePair().Draw(rt, "pair") {
			c, a := sub.Contact, sub.Account
			if _, ok := contacts[c]; ok || c == "c-1" {
				continue
			}
			if rapid.IntRange(0, 3).Draw(rt, "without an account") == 0 {
				a = ""
			}
			id := "h" + strconv.Itoa(i)
			contacts[c] = id
			evs = append(evs, opened(id, c, a, at))
		}
		ordinary := []event.Event{opened("o1", "c-1", "acme.io", at), opened("o2", "c-1", "acme.io", at.Add(time.Minute))}
		hp, cp := &log{t: t}, &log{t: t}
		require.NoError(t, hostile.Process(ctx, hp.records(append(evs, ordinary[0])...)))
		require.NoError(t, hostile.Process(ctx, hp.records(ordinary[1])))
		require.NoError(t, clean.Process(ctx, cp.records(ordinary...)))
		want, _, err := cleanStore.Contact(ctx, "c-1")
		require.NoError(t, err)
		got, _, err := st.Contact(ctx, "c-1")
		require.NoError(t, err)
		assert.Equal(t, want, got)
		assert.Equal(t, historyOf(t, cleanStore, "c-1"), historyOf(t, st, "c-1"))
		for c, id := range contacts {
			assert.Equal(t, []string{id}, historyOf(t, st, c), "the history of %q", c)
		}
	})
}
