-- Reads a store value and its absolute expiry in one round trip.
--
-- KEYS: the names the value may live under, in order of preference (see
--   keys.rs: a namespace's key moves when its `max_keys` is set or unset).
-- ARGV[1]: the time in ms, or '' for Redis's own clock (Redis hides what
--   its clock has expired; a caller's clock may be ahead of it).
-- Returns {value, expires_at} of the first live one, or nil.

local now
if ARGV[1] ~= '' then now = tonumber(ARGV[1]) end

for _, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  if value then
    local expires_at = redis.call('PEXPIRETIME', key)
    if expires_at == -1 then
      -- Never written by Reaper without an expiry; read as "never".
      return { value, '18446744073709551615' }
    end
    if now == nil or expires_at > now then
      return { value, string.format('%.0f', expires_at) }
    end
  end
end
return nil
