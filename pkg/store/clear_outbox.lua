-- Clears homes' outboxes and report deltas once their crossings are
-- published and their deltas applied, unless another commit has happened
-- since (that commit carried them forward and its writer will publish,
-- apply and clear them).
-- KEYS the home hashes (one per call on Redis Cluster); ARGV[i] the version
-- KEYS[i]'s were written at. Returns how many homes were cleared.
local cleared = 0
for i, home in ipairs(KEYS) do
  if tonumber(redis.call('HGET', home, '_v') or '0') == tonumber(ARGV[i]) then
    redis.call('HDEL', home, '_x', '_r')
    cleared = cleared + 1
  end
end
return cleared
