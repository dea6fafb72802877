package rescore

import (
	"context"
	"fmt"
	"strings"
	"time"

	json "github.com/goccy/go-json"
	"go.uber.org/zap"

	"github.com/leadscore/leads/pkg/store"
	"github.com/leadscore/leads/pkg/stream"
)

// Promotion records one promote, in the list <live>:promotions.
type Promotion struct {
	Namespace string        `json:"namespace"`
	Previous  string        `json:"previous"`
	At        time.Time     `json:"at"`
	Ends      map[int]int64 `json:"ends"`
}

// Promote makes the backfilled namespace the live one of the programs
// configured with --namespace live, without losing the events that arrive
// meanwhile:
//
//  1. The live scorers' consumer group must be empty (scorers stopped); the
//     ingestors keep accepting events into the topic.
//  2. The backfill catches up from where it ended to the topic's current end.
//  3. The group's committed offsets are set to that end, so the scorers,
//     once started, continue exactly where the backfill stopped.
//  4. The live pointer (store.LiveKey) is set; programs resolve it at start.
//
// Every step can be repeated: a promote that failed half-way is run again.
func Promote(ctx context.Context, bf *Backfill, live, group string) (*Promotion, error) {
	name := bf.Store.Namespace()
	ck, err := bf.loadCheckpoint(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case ck == nil:
		return nil, fmt.Errorf("namespace %s holds no backfill", name)
	case ck.Source != "topic:"+bf.Topic:
		return nil, fmt.Errorf("namespace %s was backfilled from %s: only a backfill of the events topic %s can catch up and go live",
			name, strings.TrimPrefix(ck.Source, "file:"), bf.Topic)
	case !ck.Done:
		return nil, fmt.Errorf("backfill of %s is not finished: run it again to resume", name)
	}
	if err := stream.GroupIdle(ctx, bf.Kafka, group); err != nil {
		return nil, err
	}
	rdb := bf.Store.Client()
	previous, err := store.Resolve(ctx, rdb, live)
	if err != nil {
		return nil, err
	}
	if previous == name {
		return nil, fmt.Errorf("%s is already live", name)
	}
	res, err := bf.FromTopic(ctx, time.Time{}, time.Time{}, true)
	if err != nil {
		return nil, fmt.Errorf("catch up: %w", err)
	}
	bf.Log.Info("backfill caught up", zap.String("namespace", name), zap.Int64("events", res.Events), zap.Any("ends", res.Ends))
	if err := stream.CommitGroupOffsets(ctx, bf.Kafka, group, bf.Topic, res.Ends); err != nil {
		return nil, err
	}
	p := &Promotion{Namespace: name, Previous: previous, At: time.Now().UTC(), Ends: res.Ends}
	rec, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	pipe := rdb.Pipeline() // two slots on a cluster: no MULTI; the pointer is set first
	pipe.Set(ctx, store.LiveKey(live), name, 0)
	pipe.RPush(ctx, live+":promotions", rec)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("set live namespace: %w", err)
	}
	return p, nil
}
