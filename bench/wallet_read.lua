-- wrk script: GET /wallets/{userId} with a bearer token, spread over the user ids listed one a
-- line in $BENCH_USERS; prints one JSON line of figures when the run ends.
local token = os.getenv("BENCH_TOKEN")
local users = {}
for line in io.lines(os.getenv("BENCH_USERS")) do
  users[#users + 1] = line
end
local headers = { ["Authorization"] = "Bearer " .. token }

request = function()
  return wrk.format("GET", "/wallets/" .. users[math.random(#users)], headers)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
