-- ARGV: ttl_ms, id... Extends this process's leases and queue tickets (whichever each id is).
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], 'XX', now + ttl, ARGV[i])
  redis.call('ZADD', KEYS[3], 'XX', now + ttl, ARGV[i])
end
refresh(ttl)
return #ARGV - 1
