-- before reports whether a comes before b as Redis orders sorted set
-- members of one score, byte by byte (Lua's < follows the locale). It
-- begins the scripts that compare members (rank.lua, walk.lua).
local function before(a, b)
  local n = math.min(#a, #b)
  for k = 1, n do
    local x, y = a:byte(k), b:byte(k)
    if x ~= y then
      return x < y
    end
  end
  return #a < #b
end

