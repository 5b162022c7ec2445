#!/usr/bin/env bash
# Cache under ingest (issue 13 point 8): the dashboard's reads while messages arrive through the
# ingest's real HTTP endpoint at RATE messages/s (default 30). On a database seeded by
# ./scripts/seed-signals.sh, against the running stack:
#   - a paced loop POSTs /ingest: new calls dated now on the 20 seeded channels and 10 asset
#     roots (each one lands on top of the unfiltered list), one in five a target update;
#   - meanwhile wrk runs the dashboard mix (scripts/wrk/dashboard.lua BENCH_MODE=dashboard: the
#     nine /signals queries of bench-api.sh, /channels and /signals/stats) on 64 connections, and
#     a second wrk measures GET /signals?limit=50 alone on 4 connections, for its own p95.
# Reports the ingest rate reached, the cache hit rate of the run from the api's /metrics
# (tpcapital_cache_requests_total, delta over the run, in all and per endpoint), both runs'
# latencies, and fails when a response is not 200, a page is empty, an ingest answer is not 200,
# the rate is below 95 % of RATE, the hit rate is below 80 % or the p95 of /signals?limit=50 is
# 20 ms or more (SPEC §9).
#   ./deploy/local/stack.sh up && ./scripts/seed-signals.sh 200000 && ./scripts/bench-cache-under-ingest.sh [seconds=30]
# Env: RATE (30) messages/s; CONNECTIONS (64) of the mix.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
S=${1:-30}
RATE=${RATE:-30}
CONNECTIONS=${CONNECTIONS:-64}
[[ $S =~ ^[0-9]+$ && $RATE =~ ^[0-9]+$ && $CONNECTIONS =~ ^[0-9]+$ ]] || { echo "usage: bench-cache-under-ingest.sh [seconds] (RATE, CONNECTIONS numbers)" >&2; exit 2; }
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
eval "$("$ROOT/deploy/local/stack.sh" env)"
API=$TP_CAPITAL_API_URL INGEST=$TP_CAPITAL_INGEST_URL
curl -fsS "$API/health/ready" >/dev/null || { echo "api is not ready: start the stack first" >&2; exit 1; }
curl -fsS "$INGEST/health/ready" >/dev/null || { echo "ingest is not ready: start the stack first" >&2; exit 1; }
ulimit -n 65536 2>/dev/null || true
sql() { psql "$TP_CAPITAL_MIGRATE_DATABASE_URL" -Atqc "$1"; }
read -r rows newest oldest < <(sql "SELECT count(*), (extract(epoch FROM max(message_date)) * 1000)::bigint,
  (extract(epoch FROM min(message_date)) * 1000)::bigint FROM signals.signals WHERE deleted_at IS NULL" | tr '|' ' ')
(( rows > 0 )) || { echo "no signals: run ./scripts/seed-signals.sh first" >&2; exit 1; }
echo "data: $rows signals over $(( (newest - oldest) / 86400000 )) days; ingest $RATE msg/s for ${S} s; mix on $CONNECTIONS connections"
export BENCH_NEWEST_MS=$newest BENCH_OLDEST_MS=$oldest

WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

# metric RESULT [ENDPOINT]: the api's cache counter, summed over the matching series.
metric() {
  curl -fsS "$API/metrics" | awk -v r="$1" -v e="${2:-}" '$1 ~ "^tpcapital_cache_requests_total\\{" && $1 ~ "result=\""r"\"" && (e == "" || $1 ~ "endpoint=\""e"\"") {s += $2} END {print s + 0}'
}
snapshot() { for e in "" signals channels stats; do for r in hit miss error stale; do echo "${e:-all} $r $(metric "$r" "$e")"; done; done; }

# The ingest loop: paced, keep-alive, every answer checked; prints "sent ok failed seconds".
python3 - "$INGEST" "$TP_CAPITAL_GATEWAY_TOKEN" "$RATE" "$(( S + 2 ))" >"$WORK/ingest" 2>&1 <<'PY' &
import http.client, json, sys, threading, time, urllib.parse
url, token, rate, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
u = urllib.parse.urlsplit(url)
roots = ["PETR", "VALE", "BOVA", "ITUB", "BBDC", "WEGE", "ABEV", "KLBN", "MGLU", "TAEE"]
run = int(time.time() * 1000) * 1000
THREADS = 4  # a slow answer must not slow the pace: each thread sends every THREADS-th message
counts = [[0, 0, 0] for _ in range(THREADS)]
start = time.monotonic()

def send(t):
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    n = t
    while True:
        due = start + n / rate
        if due - start >= seconds:
            break
        if due > time.monotonic():
            time.sleep(due - time.monotonic())
        channel = -1009000000000 - (n % 20 + 1)
        asset = roots[n % 10] + str(n % 4 + 3)
        if n % 5 == 4:
            text = "✅ Alvo 1 atingido em %s! Parabéns a quem entrou." % asset
        else:
            px = n % 90 + 10
            text = "🟢Swing Trade\nAtivo: %s\nCompra: %d,00 a %d,50\nAlvo 1: %d,00\nStop: %d,00" % (asset, px, px, px + 2, px - 2)
        body = json.dumps({"channelId": str(channel), "messageId": run + n, "text": text,
                           "timestamp": int(time.time()), "source": "bench-cache"})
        counts[t][0] += 1
        try:
            conn.request("POST", "/ingest", body, {"Content-Type": "application/json", "X-Gateway-Token": token})
            res = conn.getresponse()
            res.read()
            counts[t][1 if res.status == 200 else 2] += 1
        except Exception:
            counts[t][2] += 1
            conn.close()
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        n += THREADS

threads = [threading.Thread(target=send, args=(t,)) for t in range(THREADS)]
for th in threads:
    th.start()
for th in threads:
    th.join()
sent, ok, failed = (sum(c[i] for c in counts) for i in range(3))
print(sent, ok, failed, round(time.monotonic() - start, 2))
PY
INGEST_PID=$!
sleep 2 # the loop is running: every measured read competes with it
snapshot >"$WORK/before"
BENCH_MODE=newest wrk -t1 -c4 -d"${S}s" --timeout 10s -s "$ROOT/scripts/wrk/dashboard.lua" "$API" \
  >"$WORK/newest" 2>&1 &
NEWEST_PID=$!
BENCH_MODE=dashboard wrk -t2 -c"$CONNECTIONS" -d"${S}s" --timeout 10s -s "$ROOT/scripts/wrk/dashboard.lua" "$API" >"$WORK/mix" 2>&1 || true
wait "$NEWEST_PID" || true
snapshot >"$WORK/after"
wait "$INGEST_PID" || true

FAILED=0
fail() { echo "FAILED: $*"; FAILED=1; }
read -r sent ok failed took <"$WORK/ingest" || { cat "$WORK/ingest"; fail "the ingest loop did not finish"; sent=0 ok=0 failed=0 took=1; }
achieved=$(awk -v n="$ok" -v t="$took" 'BEGIN { printf "%.1f", n / t }')
echo "ingest: $ok of $sent messages answered 200 in $took s = $achieved msg/s ($failed failed)"
(( failed == 0 )) || fail "$failed ingest requests failed"
awk -v a="$achieved" -v r="$RATE" 'BEGIN { exit !(a >= 0.95 * r) }' || fail "ingest rate $achieved below 95 % of $RATE"

report() { # label file
  # shellcheck disable=SC2034 # every field of the RESULT line is set by the eval; some go unread
  local out requests failed bad_status empty compressed bytes_per_response rps p50_ms p95_ms p99_ms
  out=$(grep '^RESULT' "$2") || { cat "$2"; fail "$1: no result"; return; }
  eval "${out#RESULT }"
  printf '%-40s %7s req/s  p50 %6s  p95 %6s  p99 %7s ms  %s requests\n' "$1" "$rps" "$p50_ms" "$p95_ms" "$p99_ms" "$requests"
  (( failed + bad_status == 0 )) || fail "$1: $failed socket errors, $bad_status non-200"
  (( empty == 0 )) || fail "$1: $empty empty pages"
  (( requests > 0 )) || fail "$1: no request completed"
  LAST_P95=$p95_ms
}
report "dashboard mix, $CONNECTIONS connections" "$WORK/mix"
report "/signals?limit=50 alone, 4 connections" "$WORK/newest"
awk -v p="$LAST_P95" 'BEGIN { exit !(p < 20) }' || fail "/signals?limit=50 p95 $LAST_P95 ms is not below 20 ms"

delta() { # endpoint result
  echo $(( $(awk -v e="$1" -v r="$2" '$1 == e && $2 == r {print $3}' "$WORK/after") - $(awk -v e="$1" -v r="$2" '$1 == e && $2 == r {print $3}' "$WORK/before") ))
}
for e in all signals channels stats; do
  h=$(delta "$e" hit) m=$(delta "$e" miss) x=$(delta "$e" error) st=$(delta "$e" stale)
  n=$(( h + m + x + st ))
  rate=$(awk -v h="$h" -v n="$n" 'BEGIN { if (n) printf "%.1f", 100 * h / n; else print "n/a" }')
  echo "cache hit rate ($e): $h hits / $n lookups = $rate % ($m misses, $x errors, $st stale)"
  if [[ $e == all ]]; then
    (( n > 0 )) || fail "no cached read counted"
    awk -v r="$rate" 'BEGIN { exit !(r + 0 >= 80) }' || fail "hit rate $rate % below 80 %"
  fi
done
(( FAILED == 0 )) || { echo "benchmark FAILED" >&2; exit 1; }
echo "benchmark passed"
