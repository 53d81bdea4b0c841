-- Reads what the sold-out fast path needs to answer an item locally: that
-- nothing is available, and who holds units of it (a live reservation or
-- confirmed units) at this same instant. While nothing is available no new
-- holder can appear, so the set can only shrink until stock returns, and a
-- user outside it is refused with sold_out by the reserve script.
--
-- KEYS: item, orders, held, live, expiry (one hash slot; see keys.go)
-- ARGV: none
-- Reply: nil when the item is not loaded or has units available; else the
--        ids of the users holding units of it, maybe none.

local itemKey, heldKey = KEYS[1], KEYS[3]

local available = redis.call('HGET', itemKey, 'available')
if not available or tonumber(available) ~= 0 then
  return false
end
return redis.call('HKEYS', heldKey)
