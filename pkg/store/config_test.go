package store

import (
	"context"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/embedded"
)

// TestListpackValueIsReadOrSaidUnreadable: the store reads the setting
// Redis runs with (the embedded redis-server's is the one asked for); a
// server that does not tell it (miniredis, like a managed Redis with
// CONFIG disabled) is reported as such, not as a value.
func TestListpackValueIsReadOrSaidUnreadable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	assert.Equal(t, HashMaxListpackValue, embedded.HashMaxListpackValue, "the embedded redis-server runs with what the store asks")
	s := newStore(t)
	v, err := s.ListpackValue(ctx)
	if err == nil { // redis-server, not miniredis
		assert.Equal(t, HashMaxListpackValue, v)
		require.NoError(t, s.Client().ConfigSet(ctx, "hash-max-listpack-value", "64").Err())
		v, err = s.ListpackValue(ctx)
		require.NoError(t, err)
		assert.Equal(t, 64, v)
	}

	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { rdb.Close() })
	_, err = New(rdb, "x").ListpackValue(ctx)
	require.ErrorIs(t, err, ErrConfigUnreadable)
}
