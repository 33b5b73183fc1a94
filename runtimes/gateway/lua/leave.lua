-- ARGV: ticket, channel, asset_id. A waiter gives up: {2, position it had} if it was still
-- queued; {1, 0} if it had just been granted (the slot is freed and passed on); {0, 0} if gone.
local rank = redis.call('ZRANK', KEYS[2], ARGV[1])
if rank then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  return {2, rank + 1}
end
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  purge()
  admit(ARGV[2], ARGV[3])
  return {1, 0}
end
return {0, 0}
