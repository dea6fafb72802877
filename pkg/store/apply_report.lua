-- Adds report counter deltas of one model version, each (home, version)
-- once, so deltas carried from commit to commit, or applied again after a
-- crash, count once.
-- KEYS[1] the model version's counters (hash), KEYS[2] the last version
-- applied per home (hash), in the same slot.
-- ARGV: repeated: home, version, number of counters, then (counter, delta)
-- pairs. A home's entries come in ascending version order.
-- The deltas of all homes are summed first: one HINCRBY per counter, one
-- HMGET and one HSET for the versions, in chunks that fit Lua's stack.
local entries, homes, seen = {}, {}, {}
local i = 1
while i <= #ARGV do
  local home, n = ARGV[i], tonumber(ARGV[i + 2])
  entries[#entries + 1] = {home, tonumber(ARGV[i + 1]), i + 3, n}
  if not seen[home] then
    seen[home] = true
    homes[#homes + 1] = home
  end
  i = i + 3 + 2 * n
end
local last = {}
for from = 1, #homes, 1000 do
  local to = math.min(from + 999, #homes)
  local got = redis.call('HMGET', KEYS[2], unpack(homes, from, to))
  for k = from, to do
    last[homes[k]] = tonumber(got[k - from + 1] or '0')
  end
end
local sums, counters, moved, applied = {}, {}, {}, 0
for _, e in ipairs(entries) do
  local home, version, at, n = e[1], e[2], e[3], e[4]
  if version > last[home] then
    for k = at, at + 2 * n - 1, 2 do
      local c = ARGV[k]
      if sums[c] == nil then
        sums[c] = 0
        counters[#counters + 1] = c
      end
      sums[c] = sums[c] + tonumber(ARGV[k + 1])
    end
    last[home] = version
    moved[home] = true
    applied = applied + 1
  end
end
for _, c in ipairs(counters) do
  if sums[c] ~= 0 then
    redis.call('HINCRBY', KEYS[1], c, sums[c])
  end
end
local sets = {}
for _, home in ipairs(homes) do
  if moved[home] then
    sets[#sets + 1] = home
    sets[#sets + 1] = last[home]
    if #sets >= 1000 then
      redis.call('HSET', KEYS[2], unpack(sets))
      sets = {}
    end
  end
end
if #sets > 0 then
  redis.call('HSET', KEYS[2], unpack(sets))
end
return applied
