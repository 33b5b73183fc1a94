-- Shared by every queue script (prepended to each). Redis 6.2: no functions, no ZRANGE BYSCORE.
-- KEYS[1] leases (zset: lease id -> expiry ms), KEYS[2] queue (zset: ticket -> arrival number),
-- KEYS[3] queue liveness (zset: ticket -> expiry ms), KEYS[4] stats (hash: max, ttl, svc_ms,
-- wait_ms), KEYS[5] arrival counter.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

-- Expired leases free their slots; tickets whose process stopped heart-beating leave the queue.
local function purge()
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  local dead = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
  for i = 1, #dead do
    redis.call('ZREM', KEYS[2], dead[i])
  end
  if #dead > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  end
end

local function refresh(ttl)
  for i = 1, 4 do
    redis.call('PEXPIRE', KEYS[i], ttl + 60000)
  end
end

-- Turn the queue's head into leases while slots are free; tell the waiters' processes.
-- Returns the tickets granted. An empty queue's key does not exist: one call tells.
local function admit(channel, asset)
  if redis.call('EXISTS', KEYS[2]) == 0 then
    return {}
  end
  local limits = redis.call('HMGET', KEYS[4], 'max', 'ttl')
  local max = tonumber(limits[1] or '0')
  local ttl = tonumber(limits[2] or '10000')
  local free = max - redis.call('ZCARD', KEYS[1])
  if free <= 0 then
    return {}
  end
  local head = redis.call('ZRANGE', KEYS[2], 0, free - 1)
  if #head == 0 then
    return head
  end
  for i = 1, #head do
    redis.call('ZREM', KEYS[2], head[i])
    redis.call('ZREM', KEYS[3], head[i])
    redis.call('ZADD', KEYS[1], now + ttl, head[i])
  end
  refresh(ttl)
  redis.call('PUBLISH', channel, asset .. ' ' .. table.concat(head, ' '))
  return head
end
