-- Clears a home's outbox once its crossings are published, unless another
-- commit has happened since (that commit carried them forward and its
-- writer will publish and clear them).
-- KEYS[1] the home hash; ARGV[1] the version the outbox was written at.
if tonumber(redis.call('HGET', KEYS[1], '_v') or '0') == tonumber(ARGV[1]) then
  return redis.call('HDEL', KEYS[1], '_x')
end
return 0
