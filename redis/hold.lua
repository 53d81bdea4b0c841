-- Takes a lock or lease for its holder, or extends it when the holder
-- already has it, as one atomic step: no holder ever takes over another's
-- lock between a read and a write.
--
-- KEYS: the lock
-- ARGV: holder, ttl in milliseconds
--
-- Replies 1 when the holder has the lock for ttl from now, 0 when another
-- holder has it.

local lock, holder = KEYS[1], ARGV[1]
local ttl = tonumber(ARGV[2])
if not (ttl and ttl >= 1 and ttl == math.floor(ttl)) or holder == '' then
  return redis.error_reply('ERR hold: malformed arguments')
end

local current = redis.call('GET', lock)
if current == false then
  redis.call('SET', lock, holder, 'PX', ttl)
  return 1
end
if current == holder then
  redis.call('PEXPIRE', lock, ttl)
  return 1
end
return 0
