-- Marks event ids as seen, or finds them seen, for one partition of the
-- events topic (all KEYS share its hash tag). Per event: KEYS[2i-1] is the
-- shard of its id in the bucket of its ingest time, KEYS[2i] the same
-- shard in the bucket before; ARGV[1] is the TTL (ms) of a new shard, then
-- per event the id's hash and the event's offset.
-- A shard maps hashes to the offset of the first record that carried the
-- id. An event is a duplicate when its id is mapped to another offset: a
-- record redelivered (the same offset) is not, so marking before the
-- event is applied is safe across crashes. Returns 1 per duplicate, else 0.
local ttl = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS / 2 do
  local cur, prev = KEYS[2 * i - 1], KEYS[2 * i]
  local id, offset = ARGV[2 * i], ARGV[2 * i + 1]
  local first = redis.call('HGET', prev, id)
  if not first then
    if redis.call('HSETNX', cur, id, offset) == 1 then
      if redis.call('HLEN', cur) == 1 then
        redis.call('PEXPIRE', cur, ttl)
      end
      first = offset
    else
      first = redis.call('HGET', cur, id)
    end
  end
  if first == offset then out[i] = 0 else out[i] = 1 end
end
return out
