package scorer

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/stream"
	"github.com/leadscore/leads/pkg/testutil"
)

// BenchmarkMergeVisitorWith1000Events: an anonymous visitor with 1,000
// scored events is merged into a known contact of an account, through the
// scorer's whole write cycle on a real redis-server (load, apply, commit
// both homes, deliver); then the contact's history is read, the visitor's
// ledger with it. Each op merges a visitor of its own; the visitors are
// scored outside the timer. Reports the merge, the history read, and for
// scale one ordinary event alone through the same cycle.
func BenchmarkMergeVisitorWith1000Events(b *testing.B) {
	rdb := testutil.RedisClient(b)
	st := store.New(rdb, testutil.Prefix(b))
	s, err := New(Config{EventsTopic: "e", TransitionsTopic: "t", DLQTopic: "d", BatchSize: 500, MaxBackoff: time.Second},
		zap.NewNop(), nil, &flakySink{}, st, scoring.New(model.Default()), nil)
	require.NoError(b, err)
	ctx := context.Background()
	offset := int64(0)
	process := func(evs ...event.Event) {
		for from := 0; from < len(evs); from += 500 {
			var recs []stream.Record
			for i := from; i < min(from+500, len(evs)); i++ {
				v, err := json.Marshal(&evs[i])
				require.NoError(b, err)
				offset++
				recs = append(recs, stream.Record{Topic: "e", Partition: 0, Offset: offset, Value: v})
			}
			require.NoError(b, s.Process(ctx, recs))
		}
	}
	start := time.Now().Add(-30 * 24 * time.Hour).Truncate(time.Hour)
	kinds := []event.Event{{Type: "web.page_viewed", Properties: map[string]any{"url": "https://x.example/pricing"}},
		{Type: "web.page_viewed", Properties: map[string]any{"url": "https://x.example/blog/a"}},
		{Type: "email.opened"}, {Type: "webinar.attended"}, {Type: "content.downloaded", Properties: map[string]any{"asset_type": "whitepaper"}}}
	var merge, history, single time.Duration
	for n := range b.N {
		b.StopTimer()
		anon, known := fmt.Sprintf("anon:v-%d", n), fmt.Sprintf("u-%d", n)
		evs := make([]event.Event, 0, 1010)
		for i := range 1000 {
			k := kinds[i%len(kinds)]
			evs = append(evs, event.Event{ID: fmt.Sprintf("%s-%d", anon, i), Type: k.Type, ContactID: anon,
				Time: start.Add(time.Duration(i) * 40 * time.Minute), Properties: k.Properties})
		}
		for i := range 10 {
			evs = append(evs, event.Event{ID: fmt.Sprintf("%s-%d", known, i), Type: "email.clicked", ContactID: known,
				AccountID: "acme.example", Time: start.Add(time.Duration(i) * time.Hour)})
		}
		process(evs[:len(evs)-1]...)
		t := time.Now()
		process(evs[len(evs)-1]) // one event alone, for scale
		single += time.Since(t)
		b.StartTimer()
		t0 := time.Now()
		process(event.Event{ID: "merge:" + anon, Type: event.ContactMerged, ContactID: anon, Time: start.Add(28 * 24 * time.Hour),
			Properties: map[string]any{event.MergeInto: known}})
		t1 := time.Now()
		h, err := st.History(ctx, known, store.DefaultLedgerMax)
		require.NoError(b, err)
		merge += t1.Sub(t0)
		history += time.Since(t1)
		b.StopTimer()
		c, _, err := st.Contact(ctx, known)
		require.NoError(b, err)
		require.Equal(b, []string{anon}, c.Merged)
		require.Len(b, h, store.DefaultLedgerMax)
		b.StartTimer()
	}
	b.ReportMetric(float64(merge.Microseconds())/float64(b.N), "merge-µs/op")
	b.ReportMetric(float64(history.Microseconds())/float64(b.N), "history-µs/op")
	b.ReportMetric(float64(single.Microseconds())/float64(b.N), "one-event-µs/op")
}
