-- Every step of a sale's waiting room but opening it and making the draw,
-- each one atomic. They share the rules below (when a place expires, what
-- a ticket reads), so they live in one script: the embedded room
-- (memory/waitingroom.go) follows the same rules step for step.
--
-- KEYS: line, tickets, prequeue, waiting, seen, admitted, unreserved
--       (one hash slot; see waitingroom.go for what each holds)
-- ARGV: op, now (microseconds since the Unix epoch), then per op:
--   join     user, ticket id for a new place
--   ticket   user
--   leave    user
--   reserved user
--   admit    available units, random seed (for the random order),
--            most expiries of each kind (flashsale.ExpiriesPerTick),
--            '1' while the sale is paused, else '0'
--   stats
--   adjust   admit per minute or '', max active or '', paused '1', '0' or ''
--   entries
--
-- Replies, first element the outcome, every element a string:
--   {'no_waiting_room'}
--   {'undrawn'}        the start has come and the pre-queue awaits its draw,
--                      which the caller makes (waitingroom_draw.lua) before
--                      asking again
--   {'sold_out'} {'queue_not_open', opens} {'ended'} {'not_found'}
--   {'ticket', created, sold out, status, ticket id, position, admitted at, expires at}
--   {'ok'}
--   {'admitted', expires at, user, ticket id, user, ticket id, ...}
--   {'stats', waiting, pre-queue, admitted total, active, unreserved,
--             abandoned, admit per minute, max active, paused, sold out}
--   {'entries', drawn, ticket id, ...}

local lineKey, ticketsKey, prequeueKey, waitingKey, seenKey, admittedKey, unreservedKey =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local op, nowText = ARGV[1], ARGV[2]
local now = tonumber(nowText)

-- Integers are written out whole: concatenating a Lua number would print
-- a time in microseconds with 14 significant digits.
local function int(n)
  return string.format('%d', n)
end

local line = redis.call('HMGET', lineKey, 'start', 'end', 'opens', 'abandon', 'session', 'drawn', 'soldout')
if not line[1] then
  return {'no_waiting_room'}
end
local start, finish, opens, abandon, session =
  tonumber(line[1]), tonumber(line[2]), tonumber(line[3]), tonumber(line[4]), tonumber(line[5])
local drawn, soldOut = line[6] == '1', line[7] == '1'

-- The start calls for the draw before anything else happens to the line.
if not drawn and now >= start then
  if redis.call('HLEN', prequeueKey) > 0 then
    return {'undrawn'}
  end
  redis.call('HSET', lineKey, 'drawn', '1')
  drawn = true
end

-- A ticket record, in the tickets hash under its user id, is
-- "status:ticket id:admitted at:expires at:reserved". The status is
-- pre_queue, waiting, admitted or expired; sold_out is read from the line.
local function load(user)
  local record = redis.call('HGET', ticketsKey, user)
  if not record then
    return nil
  end
  local status, id, admittedAt, expiresAt, reserved = string.match(record, '^([^:]*):([^:]*):([^:]*):([^:]*):([^:]*)$')
  return {status = status, id = id, admittedAt = tonumber(admittedAt), expiresAt = tonumber(expiresAt), reserved = reserved == '1'}
end

local function save(user, t)
  local reserved = '0'
  if t.reserved then
    reserved = '1'
  end
  redis.call('HSET', ticketsKey, user, t.status .. ':' .. t.id .. ':' .. int(t.admittedAt) .. ':' .. int(t.expiresAt) .. ':' .. reserved)
end

-- vacate takes the user out of the line or the admission slot.
local function vacate(user, t)
  if t.status == 'waiting' then
    redis.call('ZREM', waitingKey, user)
    redis.call('ZREM', seenKey, user)
  elseif t.status == 'admitted' then
    redis.call('ZREM', admittedKey, user)
    redis.call('SREM', unreservedKey, user)
    redis.call('ZREM', seenKey, user)
  end
end

local function expire(user, t, abandoned)
  vacate(user, t)
  t.status = 'expired'
  save(user, t)
  if abandoned then
    redis.call('HINCRBY', lineKey, 'abandoned', 1)
  end
end

-- settle expires the ticket if its admission has ended, or if its user,
-- who must keep being seen (the seen set holds exactly those), has not
-- been for abandon microseconds since the start.
local function settle(user, t)
  if t.status == 'admitted' and now >= t.expiresAt then
    expire(user, t, false)
  elseif now >= start then
    local seen = redis.call('ZSCORE', seenKey, user)
    if seen and now - tonumber(seen) >= abandon then
      expire(user, t, true)
    end
  end
end

-- see records that the user is still here, if the user must be seen.
local function see(user)
  redis.call('ZADD', seenKey, 'XX', 'GT', nowText, user)
end

local function ticket(user, t, created)
  local position = 0
  if t.status == 'waiting' then
    position = redis.call('ZRANK', waitingKey, user) + 1
  end
  local soldOutFlag = '0'
  if soldOut then
    soldOutFlag = '1'
  end
  return {'ticket', created, soldOutFlag, t.status, t.id, int(position), int(t.admittedAt), int(t.expiresAt)}
end

if op == 'join' then
  local user, id = ARGV[3], ARGV[4]
  if soldOut then
    return {'sold_out'}
  end
  local t = load(user)
  if t then
    settle(user, t)
    if t.status ~= 'expired' then
      see(user)
      return ticket(user, t, '0')
    end
  end
  if now < opens then
    return {'queue_not_open', line[3]}
  end
  if now >= finish then
    return {'ended'}
  end
  -- An expired place is replaced: the user goes to the back.
  t = {id = id, admittedAt = 0, expiresAt = 0, reserved = false}
  if drawn then
    t.status = 'waiting'
    redis.call('ZADD', waitingKey, redis.call('HINCRBY', lineKey, 'seq', 1), user)
    redis.call('ZADD', seenKey, int(math.max(now, start)), user)
  else
    t.status = 'pre_queue'
    redis.call('HSET', prequeueKey, id, user)
  end
  save(user, t)
  return ticket(user, t, '1')
end

if op == 'ticket' then
  local user = ARGV[3]
  local t = load(user)
  if not t then
    return {'not_found'}
  end
  settle(user, t)
  see(user)
  return ticket(user, t, '0')
end

if op == 'leave' then
  local user = ARGV[3]
  local t = load(user)
  if not t then
    return {'not_found'}
  end
  if t.status == 'pre_queue' then
    -- Only before the draw: from the start the draw's entries are what
    -- they were at the start.
    redis.call('HDEL', prequeueKey, t.id)
  end
  vacate(user, t)
  redis.call('HDEL', ticketsKey, user)
  return {'ok'}
end

if op == 'reserved' then
  local user = ARGV[3]
  local t = load(user)
  if t then
    settle(user, t)
    if t.status == 'admitted' and not t.reserved then
      t.reserved = true
      save(user, t)
      redis.call('SREM', unreservedKey, user)
      redis.call('ZREM', seenKey, user)
    end
  end
  return {'ok'}
end

local function stats()
  local s = redis.call('HMGET', lineKey, 'admitted_total', 'abandoned', 'admit', 'max', 'paused', 'soldout')
  local prequeue = 0
  if not drawn then
    prequeue = redis.call('HLEN', prequeueKey)
  end
  return {'stats', int(redis.call('ZCARD', waitingKey)), int(prequeue), s[1],
    int(redis.call('ZCOUNT', admittedKey, '(' .. nowText, '+inf')), int(redis.call('SCARD', unreservedKey)),
    s[2], s[3], s[4], s[5], s[6]}
end

if op == 'stats' then
  return stats()
end

if op == 'adjust' then
  if ARGV[3] ~= '' then
    redis.call('HSET', lineKey, 'admit', ARGV[3])
  end
  if ARGV[4] ~= '' then
    redis.call('HSET', lineKey, 'max', ARGV[4])
  end
  if ARGV[5] ~= '' then
    redis.call('HSET', lineKey, 'paused', ARGV[5])
  end
  return stats()
end

if op == 'entries' then
  if not drawn then
    return {'entries', '0'}
  end
  local reply = redis.call('HKEYS', prequeueKey)
  table.insert(reply, 1, '1')
  table.insert(reply, 1, 'entries')
  return reply
end

if op ~= 'admit' then
  return redis.error_reply('ERR waiting room: unknown op ' .. tostring(op))
end

-- The tick. First the expiries, oldest first and at most limit of each
-- kind, so that a tick stays short when a crowd leaves at once: ended
-- admissions, so that a shopper whose session ended is not also counted
-- as abandoned, then the abandoned. A tick that may have left some for
-- the next admits nobody, lest it let in one who is gone.
local available, limit, salePaused = tonumber(ARGV[3]), tonumber(ARGV[5]), ARGV[6] == '1'
soldOut = available <= 0
if soldOut then
  redis.call('HSET', lineKey, 'soldout', '1')
else
  redis.call('HSET', lineKey, 'soldout', '0')
end
local ended = redis.call('ZRANGE', admittedKey, '-inf', nowText, 'BYSCORE', 'LIMIT', 0, limit)
for _, user in ipairs(ended) do
  expire(user, load(user), false)
end
local swept = #ended < limit
if now >= start then
  local gone = redis.call('ZRANGE', seenKey, '-inf', int(now - abandon), 'BYSCORE', 'LIMIT', 0, limit)
  for _, user in ipairs(gone) do
    expire(user, load(user), true)
  end
  swept = swept and #gone < limit
end
if now < start or now >= finish then
  return {'admitted', '0'}
end

local config = redis.call('HMGET', lineKey, 'lasttick', 'carry', 'admit', 'max', 'overbook', 'order', 'paused')
local lastTick = tonumber(config[1])
-- A tick at an earlier instant than the last (another instance's clock
-- is behind) admits for no time.
local elapsed = math.max(now - math.max(lastTick, start), 0)
if now > lastTick then
  redis.call('HSET', lineKey, 'lasttick', nowText)
end
if config[7] == '1' or salePaused or soldOut then
  redis.call('HSET', lineKey, 'carry', '0')
  return {'admitted', '0'}
end
-- The same float operations, in the same order, as the embedded room.
local credit = tonumber(config[2]) + elapsed * tonumber(config[3]) / 60e6
local budget = math.floor(credit)
redis.call('HSET', lineKey, 'carry', string.format('%.17g', credit - budget))

local room = budget
if not swept then
  room = 0
end
local maxActive = tonumber(config[4])
if maxActive > 0 then
  room = math.min(room, maxActive - redis.call('ZCARD', admittedKey))
end
room = math.min(room, math.floor(tonumber(config[5]) * available) - redis.call('SCARD', unreservedKey),
  redis.call('ZCARD', waitingKey))

local expiresAt = now + session
local reply = {'admitted', int(expiresAt)}
if room <= 0 then
  return reply
end
local chosen
if config[6] == 'random' then
  math.randomseed(tonumber(ARGV[4]))
  chosen = {}
  for i = 1, room do
    local rank = math.random(redis.call('ZCARD', waitingKey)) - 1
    local user = redis.call('ZRANGE', waitingKey, rank, rank)[1]
    redis.call('ZREM', waitingKey, user)
    chosen[i] = user
  end
else
  chosen = redis.call('ZRANGE', waitingKey, 0, room - 1)
end
for _, user in ipairs(chosen) do
  local t = load(user)
  -- Out of the line, but still to be seen until it reserves.
  redis.call('ZREM', waitingKey, user)
  t.status, t.admittedAt, t.expiresAt, t.reserved = 'admitted', now, expiresAt, false
  save(user, t)
  redis.call('ZADD', admittedKey, int(expiresAt), user)
  redis.call('SADD', unreservedKey, user)
  reply[#reply + 1] = user
  reply[#reply + 1] = t.id
end
redis.call('HINCRBY', lineKey, 'admitted_total', #chosen)
return reply
