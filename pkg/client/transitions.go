package client

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/leadscore/leads/pkg/retry"
	"github.com/leadscore/leads/pkg/stream"
	"github.com/leadscore/leads/pkg/transition"
)

// Transitions reads the transitions topic as a member of the consumer
// group and calls handle with each crossing, in order per subject. A
// batch's offsets are committed once handle returned nil for all of it:
// at least once, so after a crash or a rebalance handle may see a crossing
// again, with the same ID (dedupe on it). It returns when ctx ends, or
// with the first error of handle or of a record that is no CloudEvent.
func Transitions(ctx context.Context, kafka stream.Config, group, topic string, log *zap.Logger,
	handle func(context.Context, transition.CloudEvent) error) error {
	if log == nil {
		log = zap.NewNop()
	}
	c := stream.NewConsumer(kafka, group, topic, log)
	defer c.Close()
	b := retry.Backoff(100*time.Millisecond, 10*time.Second)
	for {
		recs, err := c.FetchBatch(ctx, 1000, 5*time.Millisecond)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			wait := b.NextBackOff()
			log.Warn("fetching transitions failed; retrying", zap.Duration("in", wait), zap.Error(err))
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
			continue
		}
		b.Reset()
		for _, r := range recs {
			var ce transition.CloudEvent
			if err := json.Unmarshal(r.Value, &ce); err != nil {
				return fmt.Errorf("transition at %s/%d@%d is no CloudEvent: %w", r.Topic, r.Partition, r.Offset, err)
			}
			if err := handle(ctx, ce); err != nil {
				return err
			}
		}
		if err := c.Commit(ctx, recs); err != nil && ctx.Err() == nil {
			return fmt.Errorf("commit transitions offsets: %w", err)
		}
	}
}
