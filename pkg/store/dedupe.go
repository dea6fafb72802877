package store

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Event ids are deduplicated per partition of the events topic (an event
// and its retries carry the same key, so they land on the same partition),
// over buckets of ingest time as long as the window: an event is checked
// against the ids of its own bucket and of the one before, so a retry
// within the window of the first copy is always found, one later than
// twice the window never, and one in between depending on where the
// buckets fall. Ingest time is the record's time (the ingestor's clock when
// it published), so a replay of the topic decides exactly as the live run
// did. Each bucket is spread over dedupeShards small hashes: Redis keeps a
// hash of up to 128 entries as a listpack, about 24 bytes an id (a 16-byte
// hash and the offset), so memory grows with the events of a window, not
// with contacts. Buckets are deleted once two buckets newer have begun on
// their partition, and expire in any case (see Dedupe).

const dedupeShards = 256

var (
	//go:embed dedupe.lua
	dedupeLua    string
	dedupeScript = redis.NewScript(dedupeLua)
)

// Delivery is one event as delivered: its id, where it was read, and when
// it was ingested.
type Delivery struct {
	ID        string
	Partition int32
	Offset    int64
	At        time.Time
}

// DedupeBucket is the bucket of an ingest time for a window.
func DedupeBucket(at time.Time, window time.Duration) int64 {
	return at.UnixMilli() / window.Milliseconds()
}

func (s *Store) dedupeKey(partition int32, bucket int64, shard byte) string {
	return s.ns + ":dd:{" + strconv.Itoa(int(partition)) + "}:" + strconv.FormatInt(bucket, 10) + ":" + strconv.Itoa(int(shard))
}

// marksPerCall bounds one script call, so that it does not hold Redis long.
const marksPerCall = 1000

// Dedupe marks the deliveries' ids as seen and reports which are
// duplicates: ids first seen at another offset of the partition, within
// the window. A delivery seen before at its own offset (a redelivery) is
// not a duplicate, so calling Dedupe again for the same records, after a
// crash or a retry, gives the same answer. A bucket's shards expire twice
// the window plus an hour after their first mark, so that a live run keeps
// them as long as they are read and a replay of old history does not keep
// them forever.
func (s *Store) Dedupe(ctx context.Context, window time.Duration, ds []Delivery) ([]bool, error) {
	dup := make([]bool, len(ds))
	if len(ds) == 0 {
		return dup, nil
	}
	ttl := (2*window + time.Hour).Milliseconds()
	byPartition := map[int32][]int{}
	for i := range ds {
		byPartition[ds[i].Partition] = append(byPartition[ds[i].Partition], i)
	}
	type call struct {
		idx []int
		cmd *redis.Cmd
	}
	var calls []call
	err := s.runScript(ctx, dedupeScript, "dedupe event ids", func(pipe redis.Pipeliner) {
		calls = calls[:0]
		for p, idx := range byPartition {
			for from := 0; from < len(idx); from += marksPerCall {
				chunk := idx[from:min(from+marksPerCall, len(idx))]
				keys := make([]string, 0, 2*len(chunk))
				args := make([]any, 0, 1+2*len(chunk))
				args = append(args, ttl)
				for _, i := range chunk {
					h := sha256.Sum256([]byte(ds[i].ID))
					b := DedupeBucket(ds[i].At, window)
					keys = append(keys, s.dedupeKey(p, b, h[16]), s.dedupeKey(p, b-1, h[16]))
					args = append(args, string(h[:16]), ds[i].Offset)
				}
				calls = append(calls, call{idx: chunk, cmd: dedupeScript.EvalSha(ctx, pipe, keys, args...)})
			}
		}
	})
	if err != nil {
		return nil, err
	}
	for _, c := range calls {
		res, err := c.cmd.Int64Slice()
		if err != nil || len(res) != len(c.idx) {
			return nil, fmt.Errorf("dedupe event ids: unexpected reply %v: %w", c.cmd.Val(), err)
		}
		for j, i := range c.idx {
			dup[i] = res[j] == 1
		}
	}
	return dup, nil
}

var unmarkScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0`)

// Unmark forgets the ids of deliveries that were not applied (set aside
// to the DLQ), so that the same events posted again, or replayed from the
// DLQ, are not taken for duplicates. Only marks of these very deliveries
// (partition and offset) are removed.
func (s *Store) Unmark(ctx context.Context, window time.Duration, ds []Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	return s.runScript(ctx, unmarkScript, "unmark event ids", func(pipe redis.Pipeliner) {
		for _, d := range ds {
			h := sha256.Sum256([]byte(d.ID))
			unmarkScript.EvalSha(ctx, pipe, []string{s.dedupeKey(d.Partition, DedupeBucket(d.At, window), h[16])}, string(h[:16]), d.Offset)
		}
	})
}

// ForgetDeliveries deletes a partition's dedupe bucket: the scorer calls
// it once a bucket two newer has begun there, when no event of it can be
// checked against it any more.
func (s *Store) ForgetDeliveries(ctx context.Context, partition int32, bucket int64) error {
	keys := make([]string, dedupeShards)
	for i := range dedupeShards {
		keys[i] = s.dedupeKey(partition, bucket, byte(i))
	}
	// One hash tag, so one slot: one call on Redis Cluster too.
	if err := s.rdb.Unlink(ctx, keys...).Err(); err != nil {
		return fmt.Errorf("forget dedupe bucket %d of partition %d: %w", bucket, partition, err)
	}
	return nil
}
