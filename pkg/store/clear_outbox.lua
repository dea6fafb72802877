-- Clears homes' report deltas (and those or an outbox in the forms
-- written in the home's hash before) once applied and published, unless
-- another commit has happened since: that commit carried them forward and
-- its writer will apply and clear them.
-- KEYS per home its hash then its report deltas (one home per call on
-- Redis Cluster); ARGV[i] the version the i-th home's deltas were written
-- at. Returns how many homes were cleared.
local cleared = 0
for i, version in ipairs(ARGV) do
  local home = KEYS[2 * i - 1]
  if tonumber(redis.call('HGET', home, '_v') or '0') == tonumber(version) then
    redis.call('HDEL', home, '_x', '_r')
    redis.call('DEL', KEYS[2 * i])
    cleared = cleared + 1
  end
end
return cleared
