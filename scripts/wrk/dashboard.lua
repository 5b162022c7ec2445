-- wrk script: the dashboard's queries against GET /signals (limit=50, SPEC §9), a fixed mix that a
-- fleet of dashboards refreshing every 30 s repeats. BENCH_UNIQUE=1 adds a random search term to every
-- request, so nothing can come from the cache (the uncached figure).
local paths = {
  "/signals?limit=50",
  "/signals?limit=50&channel=Canal%203",
  "/signals?limit=50&type=Day%20Trade",
  "/signals?limit=50&type=Swing%20Trade&channel=Canal%207",
  "/signals?limit=50&search=PETR",
  "/signals?limit=50&from=2026-10-01&to=2026-10-31",
  "/signals?limit=50&channel=Canal%2012&from=2026-09-01&to=2026-11-30",
  "/signals?limit=50&status=open",
  "/signals?limit=50&channel=Canal%205&search=VALE",
}
local unique = os.getenv("BENCH_UNIQUE") == "1"
local assets = {"PETR3", "VALE4", "ITUB5", "BBDC6", "WEGE3", "ABEV4", "KLBN5", "MGLU6", "TAEE3", "BOVA4"}
local counter = 0
local next_thread = 1
function setup(thread)
  thread:set("tid", next_thread)
  next_thread = next_thread + 1
end
function request()
  counter = counter + 1
  if unique then
    -- a distinct query each time (a cache key never seen before): asset filter + a moving `to`
    return wrk.format("GET", string.format("/signals?limit=50&asset=%s&to=%d", assets[counter % 10 + 1],
      1795000000000 - counter * 997 - tid * 100000000000))
  end
  return wrk.format("GET", paths[counter % #paths + 1])
end
function done(summary, latency, requests)
  local failed = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT requests=%d failed=%d rps=%.0f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f\n",
    summary.requests, failed, summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
