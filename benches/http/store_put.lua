-- PUT a 3-byte value (redis-benchmark's default size) to one key.
wrk.method = "PUT"
wrk.path = "/v1/store/sessions/key:000000000000?ttl=1h"
wrk.body = "xxx"
wrk.headers["x-reaper-principal"] = 'Service::"api"'
wrk.headers["x-reaper-context"] = '{"source_ip":"10.2.0.15","mfa":false,"now":"2026-03-01T12:00:00Z"}'
