-- Puts the pre-queue in line in the draw's order, ahead of everyone who
-- comes later. The order is computed by the caller (flashsale-draw-v1
-- needs HMAC-SHA256, which Redis's Lua lacks) from the pre-queue it read;
-- this script installs it only if that is still the whole pre-queue, so
-- that a join or leave in between is never lost. Installing a draw twice
-- changes nothing: every instance computes the same order.
--
-- KEYS: line, tickets, prequeue, waiting, seen (see waitingroom.go)
-- ARGV: the pre-queue's ticket ids, first drawn first
-- Reply: 'drawn', or 'changed' when the pre-queue is no longer the one
--        the order was drawn over.

local lineKey, ticketsKey, prequeueKey, waitingKey, seenKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]

if redis.call('HGET', lineKey, 'drawn') == '1' then
  return 'drawn'
end
local n = #ARGV
if redis.call('HLEN', prequeueKey) ~= n then
  return 'changed'
end
local users = {}
for i, id in ipairs(ARGV) do
  users[i] = redis.call('HGET', prequeueKey, id)
  if not users[i] then
    return 'changed'
  end
end
local start = redis.call('HGET', lineKey, 'start')
for i, user in ipairs(users) do
  -- Place numbers below zero: everyone who joins later gets one above.
  redis.call('ZADD', waitingKey, i - 1 - n, user)
  redis.call('ZADD', seenKey, start, user)
  local record = redis.call('HGET', ticketsKey, user)
  redis.call('HSET', ticketsKey, user, 'waiting' .. string.sub(record, #'pre_queue' + 1))
end
redis.call('HSET', lineKey, 'drawn', '1')
return 'drawn'
