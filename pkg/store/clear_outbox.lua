-- Clears homes' report deltas (and an outbox in the JSON array form written
-- before outboxes were sets) once applied and published, unless another
-- commit has happened since: that commit carried them forward and its
-- writer will apply and clear them.
-- KEYS the home hashes (one per call on Redis Cluster); ARGV[i] the version
-- KEYS[i]'s deltas were written at. Returns how many homes were cleared.
local cleared = 0
for i, home in ipairs(KEYS) do
  if tonumber(redis.call('HGET', home, '_v') or '0') == tonumber(ARGV[i]) then
    redis.call('HDEL', home, '_x', '_r')
    cleared = cleared + 1
  end
end
return cleared
