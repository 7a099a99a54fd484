-- Deletes a store value under every name it may live under and drops it
-- from the namespace's index.
--
-- KEYS[1]: the namespace's index when ARGV[3] == '1'; then the names.
-- ARGV: now ('' for Redis's clock), the key (the index member), has_index.
-- Returns 1 if a live value was deleted, else 0.

local now
if ARGV[1] ~= '' then now = tonumber(ARGV[1]) end
local first = 1
if ARGV[3] == '1' then
  redis.call('ZREM', KEYS[1], ARGV[2])
  first = 2
end

local deleted = 0
for i = first, #KEYS do
  local at = redis.call('PEXPIRETIME', KEYS[i])
  if at ~= -2 then
    -- Redis hides what its own clock has expired; the caller's may be ahead.
    if now == nil or at == -1 or at > now then deleted = 1 end
    redis.call('DEL', KEYS[i])
  end
end
return deleted
