-- Writes scores to leaderboards, trims each to its top size, and keeps
-- each board's lost mark: the highest entry, in the board's order (score,
-- then id, descending), of the contacts or accounts that belong on the
-- board but are not on it. Anything not on the board is at or below the
-- mark, so the board is exact above it (see Store.Lost).
--
-- KEYS: for each board, the board and its lost mark (a sorted set of one
-- entry). ARGV: for each board in turn, its size, then the number of
-- entries to add and their score, id pairs; the number of entries to
-- update only (ZADD XX) and their pairs: those not on the board stay off
-- it, lost; then a score and id lost without being written, or "" and "".
-- Returns, for each board, its entry at rank size from the top (when it
-- is full) as score, id or "", "", then the mark as score, id or "", "".
-- (before.lua comes first.) Outside Redis Cluster one call writes every
-- board a batch touches; on a cluster, one call per board, since a call's
-- keys share a slot.

-- rank writes one board whose arguments begin at ARGV[base], and returns
-- its four results and where the next board's arguments begin.
local function rank(board, lost, base)
  local o = base - 1
  local size = tonumber(ARGV[o + 1])

  local mark = redis.call('ZRANGE', lost, 0, 0, 'WITHSCORES')
  local ms, mm = nil, nil
  if #mark == 2 then
    mm, ms = mark[1], tonumber(mark[2])
  end
  local raised = false

  local function raise(s, m)
    s = tonumber(s)
    if ms == nil or s > ms or (s == ms and before(mm, m)) then
      ms, mm, raised = s, m, true
    end
  end

  -- ZADD of count pairs from the board's argument from, a few hundred at a time (unpack
  -- has a limit).
  local function zadd(flag, from, count)
    local done = 0
    while done < count do
      local n = math.min(500, count - done)
      local args = {}
      if flag then
        args[1] = flag
      end
      for j = 0, n - 1 do
        local p = from + 2 * (done + j)
        args[#args + 1] = ARGV[o + p]
        args[#args + 1] = ARGV[o + p + 1]
      end
      redis.call('ZADD', board, unpack(args))
      done = done + n
    end
  end

  local function trim()
    local n = redis.call('ZCARD', board)
    if n > size then
      local gone = redis.call('ZRANGE', board, n - size - 1, n - size - 1, 'WITHSCORES')
      raise(gone[2], gone[1])
      redis.call('ZREMRANGEBYRANK', board, 0, n - size - 1)
    end
  end

  -- Updates first, so that the trims below see every score as written.
  local adds = tonumber(ARGV[o + 2])
  local i = 3 + 2 * adds
  local updates = tonumber(ARGV[o + i])
  local from = i + 1
  local done = 0
  while done < updates do
    local n = math.min(500, updates - done)
    local members = {}
    for j = 0, n - 1 do
      members[j + 1] = ARGV[o + from + 2 * (done + j) + 1]
    end
    local on = redis.call('ZMSCORE', board, unpack(members))
    for j = 1, n do
      if not on[j] then
        raise(ARGV[o + from + 2 * (done + j - 1)], members[j])
      end
    end
    done = done + n
  end
  zadd('XX', from, updates)
  i = from + 2 * updates

  -- Adds, trimmed as they go: a board of up to 64 entries then never holds
  -- more than 128, and stays a listpack, which Redis does not go back to
  -- once a sorted set has passed 128 entries.
  local added = 0
  while added < adds do
    local n = math.min(adds - added, 500, math.max(size, 128 - redis.call('ZCARD', board)))
    zadd(nil, 3 + 2 * added, n)
    added = added + n
    trim()
  end

  if ARGV[o + i] ~= '' then
    raise(ARGV[o + i], ARGV[o + i + 1])
  end

  trim()
  if raised then
    redis.call('DEL', lost)
    redis.call('ZADD', lost, ms, mm)
  end

  local out = {'', '', '', ''}
  local floor = redis.call('ZRANGE', board, -size, -size, 'WITHSCORES')
  if #floor == 2 then
    out[1], out[2] = floor[2], floor[1]
  end
  if ms ~= nil then
    out[3], out[4] = tostring(ms), mm
  end
  return out, i + 2
end

local out = {}
local base = 1
for k = 1, #KEYS, 2 do
  local r, n = rank(KEYS[k], KEYS[k + 1], base)
  for j = 1, 4 do
    out[#out + 1] = r[j]
  end
  base = base + n - 1
end
return out
