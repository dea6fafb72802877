-- Clears what posts are done with, per home (KEYS; one per call on Redis
-- Cluster). ARGV per home: the version the post's commit wrote, the number
-- of crossing ids it published, then the ids.
-- The published entries leave the outbox whatever the version: commits
-- only append to it, so they are still there, and nobody else publishes
-- them. The report deltas ('_r') are cleared only at that version: a later
-- commit carried them forward and its writer applies and clears them. An
-- outbox of the JSON array form written before entries had ids is cleared
-- at its version too.
local a = 1
for _, home in ipairs(KEYS) do
  local version = tonumber(ARGV[a])
  local n = tonumber(ARGV[a + 1])
  local current = tonumber(redis.call('HGET', home, '_v') or '0')
  local x = redis.call('HGET', home, '_x')
  if x and string.sub(x, 1, 1) == '[' then
    if current == version then
      redis.call('HDEL', home, '_x')
    end
  elseif x and n > 0 then
    local drop = {}
    for i = a + 2, a + 1 + n do
      drop[ARGV[i]] = true
    end
    local keep, lines = {}, 0
    for line in string.gmatch(x, '[^\n]+') do
      lines = lines + 1
      if not drop[string.match(line, '^[^ ]*')] then
        keep[#keep + 1] = line
      end
    end
    if #keep == 0 then
      redis.call('HDEL', home, '_x')
    elseif #keep < lines then
      redis.call('HSET', home, '_x', table.concat(keep, '\n') .. '\n')
    end
  end
  if current == version then
    redis.call('HDEL', home, '_r')
  end
  a = a + 2 + n
end
return 0
