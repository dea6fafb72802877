package suggest

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/stream"
)

// TopicSource reads the events topic from the first record at or after
// from (zero: the beginning) to the end it had when the source was made,
// leaving out records after until (when not zero), merged across
// partitions in order of record time as `scorer backfill` replays them.
// Each replay reads the same records; records that are not valid events
// are skipped, as a backfill sends them to its dead letters.
func TopicSource(ctx context.Context, cfg stream.Config, topic string, from, until time.Time, log *zap.Logger) (Source, error) {
	spans, err := stream.Spans(ctx, cfg, topic, from)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, fn func(*event.Event) error) error {
		return stream.ReadSpans(ctx, cfg, topic, spans, until, 10000, log, func(recs []stream.Record) error {
			for i := range recs {
				var ev event.Event
				if Decode(recs[i].Value, &ev) != nil {
					continue
				}
				if err := fn(&ev); err != nil {
					return err
				}
			}
			return nil
		})
	}, nil
}
