-- Reads a leaderboard from a place down: up to ARGV[6] entries after the
-- place (score ARGV[1], id ARGV[2]; the place itself too when ARGV[3] is
-- "1") and above the end (score ARGV[4], id ARGV[5]; none when ARGV[4] is
-- ""), in the board's order: score, then id, descending. Reading by rank
-- in one call keeps the reads of a walk apart from concurrent writes, and
-- finds its place among thousands of equal scores without reading them.
-- Returns id, score, id, score, ... (before.lua comes first.)
local board = KEYS[1]
local ps, pid, incl = ARGV[1], ARGV[2], ARGV[3] == '1'
local es, eid = ARGV[4], ARGV[5]
local count = tonumber(ARGV[6])

-- The first rank after the place: past every higher score, then a binary
-- search among the entries of the place's score (ids descending).
local start = 0
if ps ~= '' then
  local lo = redis.call('ZCOUNT', board, '(' .. ps, '+inf')
  local hi = lo + redis.call('ZCOUNT', board, ps, ps)
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    local m = redis.call('ZREVRANGE', board, mid, mid)[1]
    -- Is m still before (above) the place?
    local above = before(pid, m) or (incl == false and m == pid)
    if above then
      lo = mid + 1
    else
      hi = mid
    end
  end
  start = lo
end

local got = redis.call('ZREVRANGE', board, start, start + count - 1, 'WITHSCORES')
if es == '' then
  return got
end
local e = tonumber(es)
local out = {}
for k = 1, #got, 2 do
  local s = tonumber(got[k + 1])
  -- Stop at the end and below it.
  if s < e or (s == e and not before(eid, got[k])) then
    break
  end
  out[#out + 1] = got[k]
  out[#out + 1] = got[k + 1]
end
return out
