-- Replaces the whole state of one item with a snapshot of the durable store.
--
-- KEYS: item, orders, held, live, expiry (one hash slot; see keys.go)
-- ARGV: item id, restock channel,
--       sale, total, perUserLimit, start, end, soldUsers,
--       then soldUsers pairs (user, soldUnits),
--       then one 5-tuple per live reservation
--       (order, user, quantity, reservedAt, expiresAt).
--
-- The caller has checked the snapshot against the inventory's rules. The
-- script still reads every argument before its first write, so that one it
-- cannot read changes nothing.
--
-- The item id is published on the restock channel after every load, not
-- only one that gives stock: a load replaces the item's holders too, so
-- every instance drops what it learned of the item (see soldout.go).

local itemKey, ordersKey, heldKey, liveKey, expiryKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local item, channel = ARGV[1], ARGV[2]

local function integer(text)
  if text and string.match(text, '^%-?%d+$') then
    return tonumber(text)
  end
  return nil
end

local total, soldUsers = integer(ARGV[4]), integer(ARGV[8])
if not (total and integer(ARGV[5]) and integer(ARGV[6]) and integer(ARGV[7]) and soldUsers) then
  return redis.error_reply('ERR load: malformed item arguments')
end
local firstClaim = 9 + 2 * soldUsers
if firstClaim - 1 > #ARGV or (#ARGV - firstClaim + 1) % 5 ~= 0 then
  return redis.error_reply('ERR load: wrong number of arguments')
end

local sold, reserved = 0, 0
for i = 9, firstClaim - 1, 2 do
  local units = integer(ARGV[i + 1])
  if not units then
    return redis.error_reply('ERR load: malformed sold units')
  end
  sold = sold + units
end
for i = firstClaim, #ARGV, 5 do
  local quantity = integer(ARGV[i + 2])
  if not (quantity and integer(ARGV[i + 3]) and integer(ARGV[i + 4])) then
    return redis.error_reply('ERR load: malformed reservation')
  end
  reserved = reserved + quantity
end
local available = total - sold - reserved
if available < 0 then
  return redis.error_reply('ERR load: more units claimed than the item has')
end

redis.call('DEL', itemKey, ordersKey, heldKey, liveKey, expiryKey)
redis.call('HSET', itemKey,
  'sale', ARGV[3], 'total', ARGV[4], 'limit', ARGV[5], 'start', ARGV[6], 'end', ARGV[7],
  'available', available, 'reserved', reserved, 'sold', sold)
for i = 9, firstClaim - 1, 2 do
  if integer(ARGV[i + 1]) > 0 then
    redis.call('HINCRBY', heldKey, ARGV[i], ARGV[i + 1])
  end
end
for i = firstClaim, #ARGV, 5 do
  local order, user, quantity, reservedAt, expiresAt = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  redis.call('HSET', ordersKey, order, quantity .. ':' .. reservedAt .. ':' .. expiresAt .. ':' .. user)
  redis.call('ZADD', expiryKey, expiresAt, order)
  redis.call('HINCRBY', heldKey, user, quantity)
  -- A user's first reservation is the one a double click returns, should
  -- the store hold two.
  redis.call('HSETNX', liveKey, user, order)
end
redis.call('PUBLISH', channel, item)
return 'ok'
