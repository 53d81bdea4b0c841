-- Turns a live reservation's units into sold units. An order that is not
-- live (confirmed, released or unknown) changes nothing.
--
-- KEYS: item, orders, held, live, expiry (one hash slot; see keys.go)
-- ARGV: order
-- Reply: 'ok', or 'item_not_found' when the item is not loaded.

local itemKey, ordersKey, liveKey, expiryKey = KEYS[1], KEYS[2], KEYS[4], KEYS[5]
local order = ARGV[1]

if redis.call('EXISTS', itemKey) == 0 then
  return 'item_not_found'
end
local record = redis.call('HGET', ordersKey, order)
if not record then
  return 'ok'
end
local quantity, user = string.match(record, '^(%d+):[^:]*:[^:]*:(.*)$')
quantity = tonumber(quantity)

redis.call('HDEL', ordersKey, order)
redis.call('ZREM', expiryKey, order)
if redis.call('HGET', liveKey, user) == order then
  redis.call('HDEL', liveKey, user)
end
-- The units stay in the user's held count: the per-user limit counts sold
-- units too.
redis.call('HINCRBY', itemKey, 'reserved', -quantity)
redis.call('HINCRBY', itemKey, 'sold', quantity)
return 'ok'
