package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/bits"
	"strconv"
	"sync"
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
// did.
//
// An id is kept as the first 8 bytes of its SHA-256, an integer member of
// one of dedupeShards sets per bucket: Redis keeps a set of up to 512
// integers as an intset, 8 bytes a member found by binary search, so memory
// grows with the events of a window, not with contacts, and one SMISMEMBER
// or SADD per shard serves a whole batch. Ids are marked once their events
// are committed (SeenBefore, then MarkSeen): a crash in between leaves the
// events unmarked, and their redelivery, which the homes' offset
// watermarks skip, marks them, before any later copy on the partition is
// read. Buckets are deleted once two buckets newer have begun on their
// partition, and expire in any case.

const dedupeShards = 1024

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

func (s *Store) dedupeKey(partition int32, bucket int64, shard int) string {
	return s.ns + ":dd:{" + strconv.Itoa(int(partition)) + "}:" + strconv.FormatInt(bucket, 10) + ":" + strconv.Itoa(shard)
}

// idMember is the member an id is kept as, and its shard.
func idMember(id string) (string, int) {
	h := sha256.Sum256([]byte(id))
	return strconv.FormatInt(int64(binary.BigEndian.Uint64(h[:8])), 10), int(binary.BigEndian.Uint16(h[8:10]) % dedupeShards)
}

// SeenBefore reports which deliveries carry an id marked in their
// partition within the window (see MarkSeen). Copies within ds itself are
// the caller's to find.
func (s *Store) SeenBefore(ctx context.Context, window time.Duration, ds []Delivery) ([]bool, error) {
	seen := make([]bool, len(ds))
	if len(ds) == 0 {
		return seen, nil
	}
	type group struct {
		idx     []int
		members []any
	}
	groups := map[string]*group{}
	var order []string
	for i := range ds {
		m, shard := idMember(ds[i].ID)
		b := DedupeBucket(ds[i].At, window)
		for _, key := range []string{s.dedupeKey(ds[i].Partition, b, shard), s.dedupeKey(ds[i].Partition, b-1, shard)} {
			g := groups[key]
			if g == nil {
				g = &group{}
				groups[key] = g
				order = append(order, key)
			}
			g.idx, g.members = append(g.idx, i), append(g.members, m)
		}
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.BoolSliceCmd, len(order))
	for n, key := range order {
		cmds[n] = pipe.SMIsMember(ctx, key, groups[key].members...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("look up event ids: %w", err)
	}
	for n, key := range order {
		for j, in := range cmds[n].Val() {
			if in {
				seen[groups[key].idx[j]] = true
			}
		}
	}
	return seen, nil
}

// MarkSeen marks the deliveries' ids in their partition and bucket. A
// bucket's sets expire twice the window plus an hour after this store
// first marks them, so that a live run keeps them while they are read and
// a replay of old history does not keep them forever.
func (s *Store) MarkSeen(ctx context.Context, window time.Duration, ds []Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	type set struct {
		partition int32
		bucket    int64
		shard     int
	}
	members := map[set][]any{}
	var order []set
	for i := range ds {
		m, shard := idMember(ds[i].ID)
		k := set{ds[i].Partition, DedupeBucket(ds[i].At, window), shard}
		if _, ok := members[k]; !ok {
			order = append(order, k)
		}
		members[k] = append(members[k], m)
	}
	ttl := 2*window + time.Hour
	pipe := s.rdb.Pipeline()
	var expiring []set
	for _, k := range order {
		key := s.dedupeKey(k.partition, k.bucket, k.shard)
		pipe.SAdd(ctx, key, members[k]...)
		if s.expiring.first(k.partition, k.bucket, k.shard) {
			pipe.PExpire(ctx, key, ttl)
			expiring = append(expiring, k)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		for _, k := range expiring {
			s.expiring.unset(k.partition, k.bucket, k.shard)
		}
		return fmt.Errorf("mark event ids: %w", err)
	}
	return nil
}

// expiring remembers, per partition and bucket, the dedupe sets this store
// gave an expiry, so that each gets one once, not once per batch. It keeps
// the newest three buckets of a partition, the ones still marked or read:
// the older ones are deleted or expire (see Store.ForgetDeliveries).
type expiring struct {
	mu         sync.Mutex
	partitions map[int32]map[int64]*[dedupeShards / 64]uint64
}

// first reports whether the set of partition, bucket and shard is new to
// it, and remembers it.
func (e *expiring) first(partition int32, bucket int64, shard int) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.partitions == nil {
		e.partitions = map[int32]map[int64]*[dedupeShards / 64]uint64{}
	}
	buckets := e.partitions[partition]
	if buckets == nil {
		buckets = map[int64]*[dedupeShards / 64]uint64{}
		e.partitions[partition] = buckets
	}
	shards := buckets[bucket]
	if shards == nil {
		shards = new([dedupeShards / 64]uint64)
		buckets[bucket] = shards
		for b := range buckets {
			if b < bucket-2 {
				delete(buckets, b)
			}
		}
	}
	if shards[shard/64]&(1<<(shard%64)) != 0 {
		return false
	}
	shards[shard/64] |= 1 << (shard % 64)
	return true
}

// unset forgets one set, whose expiry was not given after all.
func (e *expiring) unset(partition int32, bucket int64, shard int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if shards := e.partitions[partition][bucket]; shards != nil {
		shards[shard/64] &^= 1 << (shard % 64)
	}
}

// forget forgets a whole bucket of a partition.
func (e *expiring) forget(partition int32, bucket int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.partitions[partition], bucket)
}

// size is how many sets it remembers.
func (e *expiring) size() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, buckets := range e.partitions {
		for _, shards := range buckets {
			for _, w := range shards {
				n += bits.OnesCount64(w)
			}
		}
	}
	return n
}

// ForgetDeliveries deletes a partition's dedupe bucket: the scorer calls
// it once a bucket two newer has begun there, when no event of it can be
// checked against it any more.
func (s *Store) ForgetDeliveries(ctx context.Context, partition int32, bucket int64) error {
	keys := make([]string, dedupeShards)
	for i := range dedupeShards {
		keys[i] = s.dedupeKey(partition, bucket, i)
	}
	s.expiring.forget(partition, bucket)
	// One hash tag, so one slot: one call on Redis Cluster too.
	if err := s.rdb.Unlink(ctx, keys...).Err(); err != nil {
		return fmt.Errorf("forget dedupe bucket %d of partition %d: %w", bucket, partition, err)
	}
	return nil
}
