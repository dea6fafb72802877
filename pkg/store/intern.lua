-- Numbers texts in the ledger label dictionary (see labels.go), each once:
-- field '=' .. text holds a text's number, field '<number>' its text, and
-- field '#' the last number given.
-- KEYS[1] the dictionary; ARGV the texts. Returns their numbers.
local out = {}
for i, text in ipairs(ARGV) do
  local id = redis.call('HGET', KEYS[1], '=' .. text)
  if not id then
    id = redis.call('HINCRBY', KEYS[1], '#', 1)
    redis.call('HSET', KEYS[1], '=' .. text, id, tostring(id), text)
  end
  out[i] = tonumber(id)
end
return out
