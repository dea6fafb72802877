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

-- Calls cmd on key with ARGV[from..from+n-1], in chunks that fit Lua's stack.
local function bulk(cmd, key, from, n)
  local last = from + n - 1
  local ret = 0
  while from <= last do
    local to = math.min(from + 999, last)
    ret = redis.call(cmd, key, unpack(ARGV, from, to))
    from = to + 1
  end
  return ret
end

local i = 4
-- Watermarks: the version check proves nobody applied later offsets since
-- the load, so they only move forward.
local n = tonumber(ARGV[i]); i = i + 1
if n > 0 then bulk('HSET', home, i, 2 * n) end
i = i + 2 * n
n = tonumber(ARGV[i]); i = i + 1
if n > 0 then bulk('HSET', home, i, 2 * n) end
i = i + 2 * n
n = tonumber(ARGV[i]); i = i + 1
if n > 0 then bulk('HDEL', home, i, n) end
i = i + n
for k = 2, #KEYS do
  n = tonumber(ARGV[i]); i = i + 1
  if bulk('LPUSH', KEYS[k], i, n) > ledgerMax then
    redis.call('LTRIM', KEYS[k], 0, ledgerMax - 1)
  end
  i = i + n
end
if outbox == '' then
  redis.call('HDEL', home, '_x')
else
  redis.call('HSET', home, '_x', outbox)
end
local version = current + 1
redis.call('HSET', home, '_v', version)
return {1, version}
