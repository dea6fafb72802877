-- Commits one home atomically.
-- KEYS[1]   the home hash
-- KEYS[2..] ledger lists, one per contact with new entries
-- ARGV: expected version, ledger max length,
--       number of fields to set, then (field, value) pairs: states,
--         offset watermarks and the outbox; the new version is added here,
--       number of fields to delete, then fields (moved-out contacts, and
--         the outbox when it is now empty),
--       then for each ledger key: number of entries, then the entries.
-- Returns {1, new version}, or {0, current version} when another writer
-- committed since the caller loaded the home. Watermarks only move forward:
-- the version check proves nobody applied later offsets since the load.
local home = KEYS[1]
local current = tonumber(redis.call('HGET', home, '_v') or '0')
if current ~= tonumber(ARGV[1]) then
  return {0, current}
end
local ledgerMax = tonumber(ARGV[2])
local version = current + 1

-- One HSET for everything, in chunks that fit Lua's stack.
local n = tonumber(ARGV[3])
local i, last = 4, 3 + 2 * n
while i <= last do
  local to = math.min(i + 999, last)
  if to == last then
    redis.call('HSET', home, '_v', version, unpack(ARGV, i, to))
  else
    redis.call('HSET', home, unpack(ARGV, i, to))
  end
  i = to + 1
end
if n == 0 then
  redis.call('HSET', home, '_v', version)
end
n = tonumber(ARGV[i]); i = i + 1
if n > 0 then
  redis.call('HDEL', home, unpack(ARGV, i, i + n - 1))
end
i = i + n
for k = 2, #KEYS do
  n = tonumber(ARGV[i]); i = i + 1
  local len = 0
  local from, stop = i, i + n - 1
  while from <= stop do
    local to = math.min(from + 999, stop)
    len = redis.call('LPUSH', KEYS[k], unpack(ARGV, from, to))
    from = to + 1
  end
  if len > ledgerMax then
    redis.call('LTRIM', KEYS[k], 0, ledgerMax - 1)
  end
  i = i + n
end
return {1, version}
