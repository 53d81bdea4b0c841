-- Decides one request under every limit of a rate-limit policy, as one
-- atomic step: it is admitted only if every limit admits it, and only then
-- recorded, in every limit.
--
-- KEYS: one log per limit, in the policy's order (one hash slot; see limiter.go)
-- ARGV: now, then count and window of each limit
--       (times and windows in whole microseconds)
--
-- A log is a sorted set holding the limit's last count admissions: scored by
-- time, each named by a sequence number, since a burst logs several at one
-- instant. The numbers are zero-padded, so that entries of one instant,
-- which Redis orders by name, are in order of admission too. All logs of a
-- policy record the same admissions. A log expires once its newest
-- admission has left its window: from then on it would decide as an absent
-- log does.
--
-- Reply: {admitted (1 or 0), lag, retryAfter, then remaining and resetAfter
-- of each limit}, as ratelimit.Memory decides them. lag is how far past now
-- the request was judged: a request dated before the newest admission (its
-- instance's clock is behind, or it read the clock and then waited) is judged
-- at that admission, which keeps each log in time order and the limits exact.

-- Scores go back to Redis as text; Lua's own tostring keeps only 14 digits.
local function text(n)
  return string.format('%d', n)
end

-- The arguments are checked for what would corrupt a log, no more: this
-- script runs for nearly every request, its caller validated the policy.
local now = tonumber(ARGV[1])
if not now or #ARGV ~= 2 * #KEYS + 1 then
  return redis.error_reply('ERR rate limit: malformed arguments')
end
local counts, windows = {}, {}
for i = 1, #KEYS do
  counts[i], windows[i] = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  if not (counts[i] and windows[i] and counts[i] > 0 and windows[i] > 0) then
    return redis.error_reply('ERR rate limit: malformed arguments')
  end
end

-- The newest admission and the last sequence number, from whichever log
-- still holds them: a short window's log may have expired before a long one's.
local t, seq = now, 0
local newest = {}
for i = 1, #KEYS do
  local last = redis.call('ZRANGE', KEYS[i], -1, -1, 'WITHSCORES')
  if last[1] then
    newest[i] = tonumber(last[2])
    seq = math.max(seq, tonumber(last[1]))
    t = math.max(t, newest[i])
  end
end

-- A limit rejects when its whole log lies within (t - window, t]; it admits
-- again once the oldest entry leaves. A log whose newest entry has left
-- (a client back after a pause) or that is absent (a new one) holds none:
-- the common cases, answered without searching.
local admitted, retryAfter = 1, 0
local inWindow, oldest = {}, {}
for i = 1, #KEYS do
  inWindow[i] = 0
  if newest[i] and newest[i] > t - windows[i] then
    local since = '(' .. text(t - windows[i])
    inWindow[i] = redis.call('ZCOUNT', KEYS[i], since, '+inf')
    oldest[i] = tonumber(redis.call('ZRANGE', KEYS[i], since, '+inf', 'BYSCORE', 'LIMIT', 0, 1, 'WITHSCORES')[2])
  end
  if inWindow[i] >= counts[i] then
    admitted = 0
    retryAfter = math.max(retryAfter, oldest[i] + windows[i] - t)
  end
end

if admitted == 1 then
  for i = 1, #KEYS do
    redis.call('ZADD', KEYS[i], text(t), string.format('%016d', seq + 1))
    if newest[i] then
      -- The entry dropped, if any, was outside the window: the limit
      -- admitted.
      redis.call('ZREMRANGEBYRANK', KEYS[i], 0, -counts[i] - 1)
    end
    -- Rounded up to whole milliseconds: never gone while still needed.
    redis.call('PEXPIRE', KEYS[i], math.ceil((t - now + windows[i]) / 1000))
    inWindow[i] = inWindow[i] + 1
    oldest[i] = oldest[i] or t
  end
end

local reply = {admitted, t - now, retryAfter}
for i = 1, #KEYS do
  local resetAfter = windows[i]
  if inWindow[i] > 0 then
    resetAfter = oldest[i] + windows[i] - t
  end
  reply[#reply + 1] = counts[i] - inWindow[i]
  reply[#reply + 1] = resetAfter
end
return reply
