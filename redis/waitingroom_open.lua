-- Opens a sale's waiting room, or changes the settings and window of one
-- already open, keeping its places and figures.
--
-- KEYS: line (see waitingroom.go)
-- ARGV: start, end, opens (times in microseconds since the Unix epoch),
--       admit per minute, max active, session, abandon (microseconds),
--       order, overbook, seed (hex)
-- Reply: 'ok', or 'seed_differs' when the line was opened with another
--        seed, which was committed to and cannot change.

local lineKey = KEYS[1]
local seed = redis.call('HGET', lineKey, 'seed')
if seed and seed ~= ARGV[10] then
  return 'seed_differs'
end
if not seed then
  redis.call('HSET', lineKey, 'seed', ARGV[10], 'drawn', '0', 'soldout', '0', 'paused', '0',
    'lasttick', '0', 'carry', '0', 'admitted_total', '0', 'abandoned', '0', 'seq', '0')
end
redis.call('HSET', lineKey, 'start', ARGV[1], 'end', ARGV[2], 'opens', ARGV[3], 'admit', ARGV[4],
  'max', ARGV[5], 'session', ARGV[6], 'abandon', ARGV[7], 'order', ARGV[8], 'overbook', ARGV[9])
return 'ok'
