-- Writes a store value with its absolute expiry, enforcing create-only and
-- the namespace's `max_keys` atomically.
--
-- KEYS[1]: where the value goes.
-- KEYS[2]: the namespace's index (a sorted set: key -> expiry), when
--   ARGV[7] == '1'.
-- KEYS[3..]: other names the key may live under (keys.rs): counted for
--   create-only, deleted once the value is written.
-- ARGV: now ('' for Redis's clock), value, expires_at, create_only
--   ('1'/'0'), max_keys ('' for none), the key (the index member),
--   has_index ('1'/'0').
-- Returns 0 (written), 1 (refused: a live value exists), 2 (refused: the
--   namespace is full).

local now
if ARGV[1] == '' then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
else
  now = tonumber(ARGV[1])
end
local value, expires_at, create_only = ARGV[2], ARGV[3], ARGV[4] == '1'
local max_keys, member, has_index = ARGV[5], ARGV[6], ARGV[7] == '1'

local first_other = 2
local index
if has_index then
  index = KEYS[2]
  first_other = 3
end

-- Live by the caller's clock: an expiry of -1 (none) is live, -2 is no key.
local function live(key)
  local at = redis.call('PEXPIRETIME', key)
  return at == -1 or at > now
end

if create_only then
  for i = 1, #KEYS do
    if i ~= 2 or not has_index then
      if live(KEYS[i]) then return 1 end
    end
  end
end

if index then
  if max_keys ~= '' then
    -- Expired entries no longer count.
    redis.call('ZREMRANGEBYSCORE', index, '-inf', now)
    if not redis.call('ZSCORE', index, member) then
      if redis.call('ZCARD', index) >= tonumber(max_keys) then return 2 end
    end
    redis.call('ZADD', index, expires_at, member)
    -- The index lives as long as its longest-lived key.
    local last = redis.call('ZRANGE', index, -1, -1, 'WITHSCORES')
    redis.call('PEXPIREAT', index, last[2])
  else
    -- The key leaves the limited namespace's index (its limit was lifted).
    redis.call('ZREM', index, member)
  end
end

redis.call('SET', KEYS[1], value, 'PXAT', expires_at)
for i = first_other, #KEYS do
  redis.call('DEL', KEYS[i])
end
return 0
