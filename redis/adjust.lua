-- Sets an item's total and its sale's end as an operator's change made
-- them in the store; the difference in total goes to the available units.
-- Setting what the item holds changes nothing, so a repeat is harmless.
--
-- When units come back to a sold-out item, the item id is published on the
-- restock channel: every instance drops its sold-out flag of the item (see
-- soldout.go).
--
-- KEYS: item
-- ARGV: total, end (microseconds since the Unix epoch), item id, restock channel
-- Reply: 'ok', 'item_not_found' when the item is not loaded, or
--        {'below_claims', reserved + sold} when the total is below them.

local itemKey = KEYS[1]
local total, ending, item, channel = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
if #ARGV ~= 4 or not total or not ending then
  return redis.error_reply('ERR adjust: malformed arguments')
end

local counts = redis.call('HMGET', itemKey, 'total', 'available', 'reserved', 'sold')
if not counts[1] then
  return 'item_not_found'
end
local was, available = tonumber(counts[1]), tonumber(counts[2])
local claimed = tonumber(counts[3]) + tonumber(counts[4])
if total < claimed then
  return {'below_claims', claimed}
end
redis.call('HSET', itemKey, 'total', total, 'end', ARGV[2])
local now = redis.call('HINCRBY', itemKey, 'available', total - was)
if available <= 0 and now > 0 then
  redis.call('PUBLISH', channel, item)
end
return 'ok'
