-- Adds report counter deltas of one model version, each (home, version)
-- once, so deltas carried from commit to commit, or applied again after a
-- crash, count once.
-- KEYS[1] the model version's counters (hash), KEYS[2] the last version
-- applied per home (hash), in the same slot.
-- ARGV: repeated: home, version, number of counters, then (counter, delta)
-- pairs. A home's entries come in ascending version order.
local i = 1
local applied = 0
while i <= #ARGV do
  local home, version, n = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  i = i + 3
  if version > tonumber(redis.call('HGET', KEYS[2], home) or '0') then
    for k = i, i + 2 * n - 1, 2 do
      redis.call('HINCRBY', KEYS[1], ARGV[k], ARGV[k + 1])
    end
    redis.call('HSET', KEYS[2], home, version)
    applied = applied + 1
  end
  i = i + 2 * n
end
return applied
