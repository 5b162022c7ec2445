-- wrk script for POST /ingest and /ingest/batch with unique (channelId, messageId) per message.
-- Env: BENCH_TOKEN (gateway token), BENCH_CHANNEL (channel id), BENCH_BATCH (0 = single, N = batch size),
--      BENCH_RUN (run number, keeps ids unique across runs).
local next_thread = 1
function setup(thread)
  thread:set("tid", next_thread)
  next_thread = next_thread + 1
end

function init(args)
  counter = 0
  channel = os.getenv("BENCH_CHANNEL") or "-1009999000001"
  batch = tonumber(os.getenv("BENCH_BATCH") or "0")
  run = tonumber(os.getenv("BENCH_RUN") or "1")
  -- Messages of the last hour (BENCH_SPAN_S seconds), as the gateway pushes them (an old date
  -- would be archived into chunks that the archive's 30-day retention drops while the run goes
  -- on). Dated before the open week's partial search indexes' bound (the hour's start), a
  -- message pays their GIN maintenance; BENCH_SPAN_S=60 dates them as a live push does.
  span = tonumber(os.getenv("BENCH_SPAN_S") or "3600")
  since = os.time() - span
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-Gateway-Token"] = os.getenv("BENCH_TOKEN") or ""
end

local function message()
  counter = counter + 1
  local id = run * 10000000000 + tid * 1000000000 + counter
  local cents = counter % 90 + 10
  return string.format(
    '{"channelId":%s,"messageId":%d,"text":"🟢Swing Trade\\nAtivo: BOVAW32\\nCompra: 1,%02d a 1,%02d\\nAlvo 1: 2,15\\nAlvo final: 3,50\\nStop: 0,70\\nA ordem ficará posicionada no Book até dia 28/10","timestamp":%d,"source":"bench"}',
    channel, id, cents, cents + 1, since + counter % span)
end

function request()
  if batch == 0 then
    return wrk.format(nil, "/ingest", nil, message())
  end
  local items = {}
  for i = 1, batch do items[i] = message() end
  return wrk.format(nil, "/ingest/batch", nil, '{"messages":[' .. table.concat(items, ",") .. ']}')
end

function done(summary, latency, requests)
  local failed = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT requests=%d failed=%d duration_s=%.2f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
    summary.requests, failed, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
