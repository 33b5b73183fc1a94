-- ARGV: channel, asset_id, ticket... Admits what it can, then answers each ticket's state:
-- 1 holds a lease, 2 waits (then its position follows), 0 gone (its liveness lapsed).
purge()
admit(ARGV[1], ARGV[2])
local out = {}
for i = 3, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    out[#out + 1] = 1
    out[#out + 1] = 0
  else
    local rank = redis.call('ZRANK', KEYS[2], ARGV[i])
    if rank then
      out[#out + 1] = 2
      out[#out + 1] = rank + 1
    else
      out[#out + 1] = 0
      out[#out + 1] = 0
    end
  end
end
return out
