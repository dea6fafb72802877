-- Clears a home's outbox and report deltas once its crossings are
-- published and its deltas applied, unless another commit has happened
-- since (that commit carried them forward and its writer will publish,
-- apply and clear them).
-- KEYS[1] the home hash; ARGV[1] the version they were written at.
if tonumber(redis.call('HGET', KEYS[1], '_v') or '0') == tonumber(ARGV[1]) then
  return redis.call('HDEL', KEYS[1], '_x', '_r')
end
return 0
