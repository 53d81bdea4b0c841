-- Makes a reservation, or says why not, as one atomic step.
--
-- KEYS: item, orders, held, live, expiry, outbox (one hash slot; see keys.go)
-- ARGV: sale, user, quantity, order, reservedAt, expiresAt
--       (times in microseconds since the Unix epoch),
--       and optionally the order as journaled: when given, a new
--       reservation also appends it to the outbox stream (see journal.go),
--       in the same atomic step, so no acknowledged order is ever without
--       its reservation or the other way round.
--
-- Replies, first element the outcome:
--   {'new', available}                 the reservation asked for was made; the units left
--   {'existing', order, record}        a retry of a live order, or the user's live reservation
--   {'item_not_found'} {'other_sale'} {'not_started'} {'ended'} {'invalid_quantity'}
--   {'quantity_exceeds_limit', limit}
--   {'order_taken'}                    the order id is another user's reservation
--   {'already_purchased', held, limit}
--   {'sold_out', available}
-- The checks come in the order of the embedded inventory, so both refuse a
-- request for the same reason.

local itemKey, ordersKey, heldKey, liveKey, expiryKey, outboxKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local sale, user, order, journaled = ARGV[1], ARGV[2], ARGV[4], ARGV[7]

local function integer(text)
  if text and string.match(text, '^%-?%d+$') then
    return tonumber(text)
  end
  return nil
end

local quantity, reservedAt, expiresAt = integer(ARGV[3]), integer(ARGV[5]), integer(ARGV[6])
if not (quantity and reservedAt and expiresAt) then
  return redis.error_reply('ERR reserve: malformed arguments')
end

local item = redis.call('HMGET', itemKey, 'sale', 'start', 'end', 'limit', 'available')
if not item[1] then
  return {'item_not_found'}
end
if item[1] ~= sale then
  return {'other_sale'}
end
if reservedAt < tonumber(item[2]) then
  return {'not_started'}
end
if reservedAt >= tonumber(item[3]) then
  return {'ended'}
end
local limit = tonumber(item[4])
if quantity < 1 then
  return {'invalid_quantity'}
end
if quantity > limit then
  return {'quantity_exceeds_limit', limit}
end

local retried = redis.call('HGET', ordersKey, order)
if retried then
  if string.match(retried, '^[^:]*:[^:]*:[^:]*:(.*)$') ~= user then
    return {'order_taken'}
  end
  return {'existing', order, retried}
end
local live = redis.call('HGET', liveKey, user)
if live then
  return {'existing', live, redis.call('HGET', ordersKey, live)}
end

local held = tonumber(redis.call('HGET', heldKey, user) or 0)
if held + quantity > limit then
  return {'already_purchased', held, limit}
end
local available = tonumber(item[5])
if quantity > available then
  return {'sold_out', available}
end

redis.call('HINCRBY', itemKey, 'available', -quantity)
redis.call('HINCRBY', itemKey, 'reserved', quantity)
redis.call('HINCRBY', heldKey, user, quantity)
redis.call('HSET', liveKey, user, order)
redis.call('HSET', ordersKey, order, ARGV[3] .. ':' .. ARGV[5] .. ':' .. ARGV[6] .. ':' .. user)
redis.call('ZADD', expiryKey, ARGV[6], order)
if journaled then
  redis.call('XADD', outboxKey, '*', 'order', journaled)
end
return {'new', available - quantity}
