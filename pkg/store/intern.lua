-- Numbers texts in a dictionary (the ledger's labels, labels.go, or the
-- states' texts, texts.go), each once: field '=' .. text holds a text's
-- number, field '<number>' its text, and field '#' the last number given.
-- With a bound, field '#' .. c counts the texts numbered whose first byte
-- is c, and a text past its class's bound is not numbered (0). Field '@'
-- is the dictionary's epoch, set once from ARGV[2] when it has none: a
-- dictionary lost (Redis restarted without its data) numbers again from 1
-- under another epoch, and a process's copy of the numbers is only good
-- for the epoch it was read under.
-- KEYS[1] the dictionary; ARGV[1] the bound per class (0: none), ARGV[2]
-- an epoch for a dictionary without one, ARGV[3..] the texts. Returns the
-- epoch, then their numbers.
local bound = tonumber(ARGV[1])
redis.call('HSETNX', KEYS[1], '@', ARGV[2])
local out = {redis.call('HGET', KEYS[1], '@')}
for i = 3, #ARGV do
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
