-- A rate-limit request whose descriptor names a new key every time, so
-- every request makes a new counter (one wrk thread).
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  n = n + 1
  local body = string.format('{"domain":"mem","descriptors":[{"entries":[{"key":"client","value":"client-%d"}]}]}', n)
  return wrk.format(nil, "/v1/ratelimit", nil, body)
end
