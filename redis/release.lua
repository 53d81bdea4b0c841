-- Returns a live reservation's units to stock and frees the user's share of
-- the per-user limit. An order that is not live (released, confirmed or
-- unknown) changes nothing: a sold unit never comes back.
--
-- When the units are the first to come back to a sold-out item, the item id
-- is published on the restock channel: every instance drops its sold-out
-- flag of the item (see soldout.go).
--
-- KEYS: item, orders, held, live, expiry (one hash slot; see keys.go)
-- ARGV: order, item id, restock channel
-- Reply: 'ok', or 'item_not_found' when the item is not loaded.

local itemKey, ordersKey, heldKey, liveKey, expiryKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local order, item, channel = ARGV[1], ARGV[2], ARGV[3]
if #ARGV ~= 3 then
  return redis.error_reply('ERR release: malformed arguments')
end

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
if redis.call('HINCRBY', heldKey, user, -quantity) <= 0 then
  redis.call('HDEL', heldKey, user)
end
redis.call('HINCRBY', itemKey, 'reserved', -quantity)
if redis.call('HINCRBY', itemKey, 'available', quantity) == quantity then
  redis.call('PUBLISH', channel, item)
end
return 'ok'
