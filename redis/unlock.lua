-- Gives up a lock or lease if, and only if, the holder still has it: one
-- whose lease ran out must not delete the lock its successor took.
--
-- KEYS: the lock
-- ARGV: holder
--
-- Replies 1 when the lock was the holder's and is now free, 0 otherwise.

if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
