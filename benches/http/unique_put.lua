-- PUTs a 16-byte value to a new key on every request (one wrk thread:
-- keys key:0000000000000001, key:…2, …), with the TTL in $TTL.
local n = 0
local ttl = os.getenv("TTL") or "1h"
wrk.method = "PUT"
wrk.body = "0123456789abcdef"
wrk.headers["x-reaper-principal"] = 'Service::"api"'
wrk.headers["x-reaper-context"] = '{"source_ip":"10.2.0.15","mfa":false,"now":"2026-03-01T12:00:00Z"}'
request = function()
  n = n + 1
  return wrk.format(nil, string.format("/v1/store/sessions/key:%016d?ttl=%s", n, ttl))
end
