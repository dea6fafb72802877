-- Numbers texts in a dictionary (the ledger's labels, labels.go, or the
-- states' texts, texts.go), each once: field '=' .. text holds a text's
-- number, field '<number>' its text, and field '#' the last number given.
-- With a bound, field '#' .. c counts the texts numbered whose first byte
-- is c, and a text past its class's bound is not numbered (0).
-- KEYS[1] the dictionary; ARGV[1] the bound per class (0: none), ARGV[2..]
-- the texts. Returns their numbers.
local bound = tonumber(ARGV[1])
local out = {}
for i = 2, #ARGV do
  local text = ARGV[i]
  local id = redis.call('HGET', KEYS[1], '=' .. text)
  if not id and bound > 0 then
    local class = '#' .. string.sub(text, 1, 1)
    if tonumber(redis.call('HGET', KEYS[1], class) or '0') >= bound then
      id = 0
    else
      redis.call('HINCRBY', KEYS[1], class, 1)
    end
  end
  if not id then
    id = redis.call('HINCRBY', KEYS[1], '#', 1)
    redis.call('HSET', KEYS[1], '=' .. text, id, tostring(id), text)
  end
  out[i - 1] = tonumber(id)
end
return out
