-- Commits one home atomically.
-- KEYS[1]   the home hash
-- KEYS[2..] ledger lists, one per contact with new entries
-- ARGV: expected version, ledger max length, outbox ('' clears it),
--       number of watermarks, then (field, offset) pairs,
--       number of fields to set, then (field, value) pairs,
--       number of fields to delete, then fields,
--       then for each ledger key: number of entries, then the entries.
-- Returns {1, new version}, or {0, current version} when another writer
-- committed since the caller loaded the home.
local home = KEYS[1]
local current = tonumber(redis.call('HGET', home, '_v') or '0')
if current ~= tonumber(ARGV[1]) then
  return {0, current}
end
local ledgerMax = tonumber(ARGV[2])
local outbox = ARGV[3]
local i = 4
local n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  local field, offset = ARGV[i], tonumber(ARGV[i + 1])
  local seen = tonumber(redis.call('HGET', home, field) or '-1')
  if offset > seen then
    redis.call('HSET', home, field, offset)
  end
  i = i + 2
end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  redis.call('HSET', home, ARGV[i], ARGV[i + 1])
  i = i + 2
end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  redis.call('HDEL', home, ARGV[i])
  i = i + 1
end
for k = 2, #KEYS do
  n = tonumber(ARGV[i]); i = i + 1
  for _ = 1, n do
    redis.call('LPUSH', KEYS[k], ARGV[i])
    i = i + 1
  end
  redis.call('LTRIM', KEYS[k], 0, ledgerMax - 1)
end
if outbox == '' then
  redis.call('HDEL', home, '_x')
else
  redis.call('HSET', home, '_x', outbox)
end
local version = current + 1
redis.call('HSET', home, '_v', version)
return {1, version}
