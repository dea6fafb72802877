-- Commits homes atomically, each with its own version check: one home per
-- call on Redis Cluster (a home's keys share one slot), several elsewhere,
-- which saves the cost of a script call per home.
-- ARGV[1]   number of homes; then per home:
--   number of its keys (its hash, its outbox set, its report deltas,
--     then one ledger per contact whose ledger is written: the next
--     KEYS), expected version,
--   number of fields to set, then (field, value) pairs: states, offset
--     watermarks; the new version is added here,
--   number of fields to delete, then fields (moved-out contacts, report
--     deltas or an outbox of the earlier forms),
--   number of entries to add to the outbox, then the entries,
--   the report deltas: 's' and the deltas to set, 'd' to delete them, or
--     'k' to keep them as they are,
--   then for each ledger key (a packed string, see packed.go): 'a' or
--     'A' (a long ledger), its expected length and lines to append; 'r'
--     and the whole ledger; or 'd' to delete it (the ledger of a contact
--     that left, or emptied).
-- Returns per home {1, new version}, or {0, current version} when another
-- writer committed since the caller loaded it, or {2, current version}
-- when a ledger to append to is not as long as the caller was told
-- (nothing of the home is written either way).
-- Watermarks only move forward: the version check proves nobody applied
-- later offsets since the load.
-- A short ledger ('a') is appended to by reading and setting it whole: it
-- is read once, when its length is checked, before anything is written.
-- APPEND alone would leave a ledger up to twice as large in memory as it
-- is (Redis grows strings ahead). A long ledger ('A') is not read: every
-- string that enters Lua is hashed byte by byte, twice for a ledger read
-- and concatenated, which made a 5 KB ledger cost five times a short one.
-- Its length is checked with STRLEN; it is appended to, then copied
-- (COPY allocates the exact size) over itself. The copy's key shares the
-- ledger's slot, and a contact id's part of a key has no ':', so it is
-- no other key; it does not outlive the call.
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
  i = i + 2
  -- Where this home's arguments end, to skip them on a conflict; and
  -- whether its ledgers to append to are where the caller said.
  local j = i
  j = j + 1 + 2 * tonumber(ARGV[j])
  j = j + 1 + tonumber(ARGV[j])
  j = j + 1 + tonumber(ARGV[j])
  if ARGV[j] == 's' then j = j + 2 else j = j + 1 end
  local astray = false
  local old = {}
  for l = k + 3, k + nkeys - 1 do
    local op = ARGV[j]
    if op == 'a' then
      old[l] = redis.call('GET', KEYS[l])
      if (old[l] and #old[l] or 0) ~= tonumber(ARGV[j + 1]) then
        astray = true
      end
      j = j + 3
    elseif op == 'A' then
      if redis.call('STRLEN', KEYS[l]) ~= tonumber(ARGV[j + 1]) then
        astray = true
      end
      j = j + 3
    elseif op == 'r' then
      j = j + 2
    else
      j = j + 1
    end
  end
  local current = tonumber(redis.call('HGET', home, '_v') or '0')
  if current ~= expected then
    out[h] = {0, current}
  elseif astray then
    out[h] = {2, current}
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
    if ARGV[i] == 's' then
      redis.call('SET', KEYS[k + 2], ARGV[i + 1])
      i = i + 2
    else
      if ARGV[i] == 'd' then
        redis.call('DEL', KEYS[k + 2])
      end
      i = i + 1
    end
    for l = k + 3, k + nkeys - 1 do
      local op = ARGV[i]
      if op == 'a' then
        if old[l] then
          redis.call('SET', KEYS[l], old[l] .. ARGV[i + 2])
        else
          redis.call('SET', KEYS[l], ARGV[i + 2])
        end
        i = i + 3
      elseif op == 'A' then
        local copy = KEYS[l] .. ':new'
        redis.call('APPEND', KEYS[l], ARGV[i + 2])
        redis.call('COPY', KEYS[l], copy, 'REPLACE')
        redis.call('RENAME', copy, KEYS[l])
        i = i + 3
      elseif op == 'r' then
        redis.call('SET', KEYS[l], ARGV[i + 1])
        i = i + 2
      else
        redis.call('DEL', KEYS[l])
        i = i + 1
      end
    end
    out[h] = {1, version}
  end
  i = j
  k = k + nkeys
end
return out
