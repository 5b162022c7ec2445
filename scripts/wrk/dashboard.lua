-- wrk script: the dashboard's queries against GET /signals (SPEC §9), checking every answer.
-- Env:
--   BENCH_MODE    cached (default): a fixed mix that a fleet of dashboards refreshing every 30 s
--                 repeats; uncached: every request a query never asked before (newest first, each
--                 filter, cursor pages, from/to), so nothing can come from the cache; search:
--                 newest first with `search=$BENCH_SEARCH`, every request a new key (a `to` after
--                 the newest signal), pages checked for rows; newest: only /signals?limit=50
--                 (one cached page: the compression benchmark, and its latency alone next to another
--                 run); dashboard: the cached mix plus /channels and /signals/stats (what the
--                 dashboard page loads); health: GET /health/live (the machine's ceiling, through
--                 the same checks).
--   BENCH_NEWEST_MS, BENCH_OLDEST_MS   the seeded data's time span (epoch ms): uncached queries
--                 pick their `to` inside it, so every page holds rows (./scripts/bench-api.sh sets them).
--   BENCH_GZIP=1  sends Accept-Encoding: gzip and counts the answers that are compressed.
--   BENCH_SALT    where the uncached and search modes start their sequence of keys (default: from
--                 the clock, so a run never repeats the keys an earlier run left in the cache).
-- Every response is checked: status 200, and for /signals and /channels a page with at least one row
-- (`"data":[{`), for /signals/stats a non-zero total, unless compressed (the api compresses only
-- bodies of 1 KB or more, never an empty page). The RESULT line counts what failed; bench-api.sh
-- fails the run on any.
local mode = os.getenv("BENCH_MODE") or "cached"
local gzip = os.getenv("BENCH_GZIP") == "1"
local newest = tonumber(os.getenv("BENCH_NEWEST_MS") or "0")
local oldest = tonumber(os.getenv("BENCH_OLDEST_MS") or "0")
local day_ms = 86400000
local salt = tonumber(os.getenv("BENCH_SALT") or "") or os.time() % 1000

local function day(ms) return os.date("!%Y-%m-%d", math.floor(ms / 1000)) end
local now_ms = os.time() * 1000
if newest == 0 then newest = now_ms end
if oldest == 0 then oldest = newest - 300 * day_ms end

local paths = {
  "/signals?limit=50",
  "/signals?limit=50&channel=Canal%203",
  "/signals?limit=50&type=Day%20Trade",
  "/signals?limit=50&type=Swing%20Trade&channel=Canal%206",
  "/signals?limit=50&search=PETR",
  "/signals?limit=50&from=" .. day(newest - 40 * day_ms) .. "&to=" .. day(newest - 10 * day_ms),
  "/signals?limit=50&channel=Canal%2012&from=" .. day(newest - 90 * day_ms) .. "&to=" .. day(newest - 5 * day_ms),
  "/signals?limit=50&status=open",
  "/signals?limit=50&channel=Canal%202&search=VALE",
}
local dashboard_paths = {"/channels", "/signals/stats"}
for _, p in ipairs(paths) do table.insert(dashboard_paths, p) end
-- Assets every seeded week holds (scripts/seed-signals.sh).
local assets = {"PETR5", "VALE4", "BOVA5", "ITUB4", "BBDC5", "WEGE6", "ABEV5", "KLBN4", "MGLU5", "TAEE6"}
local threads = {}
local next_thread = 1
function setup(thread)
  thread:set("tid", next_thread)
  next_thread = next_thread + 1
  table.insert(threads, thread)
end

function init(args)
  counter = (mode == "uncached" or mode == "search") and salt * 100000 or 0
  bad_status = 0
  empty = 0
  compressed = 0
  if gzip then wrk.headers["Accept-Encoding"] = "gzip" end
end

-- A `to` (epoch ms) inside the newest 90 % of the data, different for every request of the run.
local function moving_to()
  local span = math.floor((newest - oldest) * 0.9)
  return newest - ((counter * 7919 + tid * 104729) * 1009) % span
end

local function uncached_path()
  local to = moving_to()
  local shape = counter % 9
  local q
  if shape == 0 then
    q = string.format("to=%d", newest + day_ms + counter * 2 + tid) -- newest first
  elseif shape == 1 then
    q = string.format("to=%d", to)
  elseif shape == 2 then
    q = string.format("channel=Canal%%20%d&to=%d", counter % 20 + 1, to)
  elseif shape == 3 then
    q = string.format("asset=%s&to=%d", assets[counter % 10 + 1], to)
  elseif shape == 4 then
    q = string.format("type=Day%%20Trade&to=%d", to)
  elseif shape == 5 then
    q = string.format("status=open&channel=Canal%%20%d&to=%d", counter % 20 + 1, to)
  elseif shape == 6 then
    q = string.format("from=%d&to=%d", to - 7 * day_ms, to)
  elseif shape == 7 then
    q = string.format("cursor=%d.999999999999999999", to * 1000 + counter % 1000)
  else
    q = string.format("search=PETR&to=%d", to)
  end
  return "/signals?limit=50&" .. q
end

function request()
  counter = counter + 1
  if mode == "health" then
    return wrk.format("GET", "/health/live")
  elseif mode == "search" then
    return wrk.format("GET", string.format("/signals?limit=50&search=%s&to=%d",
      os.getenv("BENCH_SEARCH") or "PETR", newest + day_ms + counter * 2 + tid))
  elseif mode == "uncached" then
    return wrk.format("GET", uncached_path())
  elseif mode == "newest" then
    return wrk.format("GET", "/signals?limit=50")
  elseif mode == "dashboard" then
    return wrk.format("GET", dashboard_paths[counter % #dashboard_paths + 1])
  end
  return wrk.format("GET", paths[counter % #paths + 1])
end

function response(status, headers, body)
  if status ~= 200 then
    bad_status = bad_status + 1
    return
  end
  local encoding = headers["Content-Encoding"] or headers["content-encoding"]
  if encoding then
    compressed = compressed + 1
  elseif mode == "health" then
    return
  elseif string.find(body, '"total":', 1, true) then
    if string.find(body, '"total":0,', 1, true) then empty = empty + 1 end
  elseif not string.find(body, '"data":[{', 1, true) then
    empty = empty + 1
  end
end

function done(summary, latency, requests)
  local bad, emp, gz = 0, 0, 0
  for _, t in ipairs(threads) do
    bad = bad + t:get("bad_status")
    emp = emp + t:get("empty")
    gz = gz + t:get("compressed")
  end
  local failed = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    "RESULT requests=%d failed=%d bad_status=%d empty=%d compressed=%d bytes_per_response=%.0f rps=%.0f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f\n",
    summary.requests, failed, bad, emp, gz, summary.bytes / math.max(summary.requests, 1),
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
