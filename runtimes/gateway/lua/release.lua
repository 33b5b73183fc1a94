-- ARGV: lease id, service_ms (-1: not measured), wait_ms (-1: not measured), channel, asset_id.
-- Frees the slot, folds the request's times into the averages, admits the queue's head.
-- Returns the tickets granted (the caller wakes its own at once, without the message).
redis.call('ZREM', KEYS[1], ARGV[1])
local averages = redis.call('HMGET', KEYS[4], 'svc_ms', 'wait_ms')
local folded = {}
local function fold(field, old, value)
  if value >= 0 then
    old = tonumber(old or '-1')
    folded[#folded + 1] = field
    folded[#folded + 1] = old < 0 and value or math.floor(old * 0.8 + value * 0.2)
  end
end
fold('svc_ms', averages[1], tonumber(ARGV[2]))
fold('wait_ms', averages[2], tonumber(ARGV[3]))
if #folded > 0 then
  redis.call('HSET', KEYS[4], unpack(folded))
end
purge()
return admit(ARGV[4], ARGV[5])
