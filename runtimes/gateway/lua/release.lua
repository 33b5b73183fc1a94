-- ARGV: lease id, service_ms (-1: not measured), wait_ms (-1: not measured), channel, asset_id.
-- Frees the slot, folds the request's times into the averages, admits the queue's head.
-- Returns the tickets granted (the caller wakes its own at once, without the message).
redis.call('ZREM', KEYS[1], ARGV[1])
local function fold(field, value)
  if value >= 0 then
    local old = tonumber(redis.call('HGET', KEYS[4], field) or '-1')
    if old < 0 then
      redis.call('HSET', KEYS[4], field, value)
    else
      redis.call('HSET', KEYS[4], field, math.floor(old * 0.8 + value * 0.2))
    end
  end
end
fold('svc_ms', tonumber(ARGV[2]))
fold('wait_ms', tonumber(ARGV[3]))
purge()
return admit(ARGV[4], ARGV[5])
