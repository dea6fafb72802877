-- Commits homes atomically, each with its own version check: one home per
-- call on Redis Cluster (a home's keys share one slot), several elsewhere,
-- which saves the cost of a script call per home.
-- ARGV[1]   number of homes; then per home:
--   number of its keys (its hash, its outbox set, then one ledger list per
--     contact with new entries: the next KEYS), expected version, ledger
--     max length,
--   number of fields to set, then (field, value) pairs: states, offset
--     watermarks, report deltas; the new version is added here,
--   number of fields to delete, then fields (moved-out contacts, the
--     report deltas when none are left, an outbox of the earlier form),
--   number of entries to add to the outbox, then the entries,
--   then for each ledger key: the number of entries to add, the entries
--     (oldest first), the number of entries to put after them (a moving
--     contact's ledger from its old home, newest first), those entries;
--     or -1 to delete the key (the ledger of a contact that left).
-- Returns per home {1, new version}, or {0, current version} when another
-- writer committed since the caller loaded it (nothing of it is written).
-- Watermarks only move forward: the version check proves nobody applied
-- later offsets since the load.
-- push runs cmd on key with the n arguments from ARGV[from] on, in
-- chunks that fit Lua's stack, and returns the last reply (0 for none).
local function push(cmd, key, from, n)
  local reply, stop = 0, from + n - 1
  while from <= stop do
    local to = math.min(from + 999, stop)
    reply = redis.call(cmd, key, unpack(ARGV, from, to))
    from = to + 1
  end
  return reply
end

local out = {}
local i, k = 2, 1
for h = 1, tonumber(ARGV[1]) do
  local nkeys = tonumber(ARGV[i])
  local home = KEYS[k]
  local expected = tonumber(ARGV[i + 1])
  local ledgerMax = tonumber(ARGV[i + 2])
  i = i + 3
  -- Where this home's arguments end, to skip them on a conflict.
  local j = i
  j = j + 1 + 2 * tonumber(ARGV[j])
  j = j + 1 + tonumber(ARGV[j])
  j = j + 1 + tonumber(ARGV[j])
  for _ = 3, nkeys do
    local n = tonumber(ARGV[j])
    if n < 0 then
      j = j + 1
    else
      j = j + 1 + n
      j = j + 1 + tonumber(ARGV[j])
    end
  end
  local current = tonumber(redis.call('HGET', home, '_v') or '0')
  if current ~= expected then
    out[h] = {0, current}
  else
    local version = current + 1
    -- One HSET for everything, in chunks that fit Lua's stack.
    local n = tonumber(ARGV[i])
    local from, last = i + 1, i + 2 * n
    while from <= last do
      local to = math.min(from + 999, last)
      if to == last then
        redis.call('HSET', home, '_v', version, unpack(ARGV, from, to))
      else
        redis.call('HSET', home, unpack(ARGV, from, to))
      end
      from = to + 1
    end
    if n == 0 then
      redis.call('HSET', home, '_v', version)
    end
    i = last + 1
    n = tonumber(ARGV[i]); i = i + 1
    if n > 0 then
      redis.call('HDEL', home, unpack(ARGV, i, i + n - 1))
    end
    i = i + n
    n = tonumber(ARGV[i]); i = i + 1
    push('SADD', KEYS[k + 1], i, n)
    i = i + n
    for l = k + 2, k + nkeys - 1 do
      n = tonumber(ARGV[i]); i = i + 1
      if n < 0 then
        redis.call('DEL', KEYS[l])
      else
        local len = push('LPUSH', KEYS[l], i, n)
        i = i + n
        n = tonumber(ARGV[i]); i = i + 1
        if n > 0 then
          len = push('RPUSH', KEYS[l], i, n)
        end
        i = i + n
        if len > ledgerMax then
          redis.call('LTRIM', KEYS[l], 0, ledgerMax - 1)
        end
      end
    end
    out[h] = {1, version}
  end
  i = j
  k = k + nkeys
end
return out
