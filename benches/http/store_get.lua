-- GET the key store_put.lua writes.
wrk.method = "GET"
wrk.path = "/v1/store/sessions/key:000000000000"
wrk.headers["x-reaper-principal"] = 'Service::"api"'
wrk.headers["x-reaper-context"] = '{"source_ip":"10.2.0.15","mfa":false,"now":"2026-03-01T12:00:00Z"}'
