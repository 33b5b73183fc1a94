-- ARGV: ticket, max_concurrency, max_queue, ttl_ms, channel, asset_id. KEYS[6]: the
-- authorization generation, read in the same round trip (the gateway's token check).
-- Returns {1, 0, svc_ms, generation} granted at once, {2, position, svc_ms, generation}
-- queued (1 = next), {0, queued, svc_ms, generation} refused: the queue is full.
local ttl = tonumber(ARGV[4])
purge()
local stats = redis.call('HMGET', KEYS[4], 'max', 'ttl', 'svc_ms')
if stats[1] ~= ARGV[2] or stats[2] ~= ARGV[4] then -- the policy is written when it changed
  redis.call('HSET', KEYS[4], 'max', ARGV[2], 'ttl', ARGV[4])
end
admit(ARGV[5], ARGV[6])
local svc = tonumber(stats[3] or '0')
local generation = tonumber(redis.call('GET', KEYS[6]) or '0')
local queued = redis.call('ZCARD', KEYS[2])
if queued == 0 and redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
  refresh(ttl)
  return {1, 0, svc, generation}
end
if queued >= tonumber(ARGV[3]) then
  return {0, queued, svc, generation}
end
local seq = redis.call('INCR', KEYS[5])
redis.call('PEXPIRE', KEYS[5], 86400000)
redis.call('ZADD', KEYS[2], seq, ARGV[1])
redis.call('ZADD', KEYS[3], now + ttl, ARGV[1])
refresh(ttl)
return {2, queued + 1, svc, generation}
