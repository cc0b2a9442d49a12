-- wrk script: every request is a POST of a 10 MiB body (built once; wrk adds Content-Length).
-- wrk's cost per request is writing 10 MiB to a loopback socket (kernel copy), no per-request Lua.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.body = string.rep("x", tonumber(os.getenv("UPLOAD_BYTES") or 10485760))
