-- Reads an item's live reservations whose deadline is at or before now,
-- earliest first, ties by order id (the sorted set's own order). Read-only.
--
-- KEYS: item, orders, held, live, expiry (one hash slot; see keys.go)
-- ARGV: now (microseconds since the Unix epoch), limit
-- Reply: {} for an item that is not loaded, else
--        {sale, order1, record1, order2, record2, ...}

local itemKey, ordersKey, expiryKey = KEYS[1], KEYS[2], KEYS[5]

local sale = redis.call('HGET', itemKey, 'sale')
if not sale then
  return {}
end
local reply = {sale}
local due = redis.call('ZRANGE', expiryKey, '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, ARGV[2])
for _, order in ipairs(due) do
  reply[#reply + 1] = order
  reply[#reply + 1] = redis.call('HGET', ordersKey, order)
end
return reply
