#!/usr/bin/env bash
# API load benchmark (issues 5 and 15): wrk (2 threads) on the same box against the running stack's
# api, on a database seeded by ./scripts/seed-signals.sh. One run measures, in this order:
#   1. /health/live, 64 connections                      -> the machine's ceiling, for the ratios
#   2. the dashboard mix, 64 connections (cached)
#   3. the same with Accept-Encoding: gzip (compressed; every answer must come compressed)
#   3b. /signals?limit=50 alone, without and with Accept-Encoding: gzip (cached; stored compressed)
#   4. the dashboard mix, 1,000 connections (cached)      -> errors must be 0
#   5. every request a new query, 64 connections (uncached: newest first, each filter, cursor
#      pages, from/to, search; every `to` inside the data so pages hold rows), twice: the first
#      run with each database backend's first plans, then warm
#   6. with SEARCH=term: `search=term` newest first, every request a new key, 8 connections
#      (SEARCH_ONLY=1: runs 1 and 6 only)
#   UNCACHED_ONLY=1: runs 1 and 5 only (the growth table of docs/benchmarks.md)
# Every response is checked (scripts/wrk/dashboard.lua): a non-200 answer, an empty page or a socket
# error fails the benchmark. Prints the data shape (rows, chunks, time span, bytes), then one line per
# run with req/s, the ratio to /health/live, latencies and bytes per response, the cache hit rate of
# the cached runs, the cache hits of the uncached run (0 expected) and the CPU each process spent
# per uncached request (from /proc: the stack's api, PostgreSQL, PgBouncer and Redis).
#   ./deploy/local/stack.sh up && ./scripts/seed-signals.sh && ./scripts/bench-api.sh [seconds=20]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
S=${1:-20}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
eval "$("$ROOT/deploy/local/stack.sh" env)"
API=$TP_CAPITAL_API_URL
curl -fsS "$API/health/ready" >/dev/null || { echo "api is not ready: start the stack first" >&2; exit 1; }
ulimit -n 65536 2>/dev/null || true
sql() { psql "$TP_CAPITAL_MIGRATE_DATABASE_URL" -Atqc "$1"; }

read -r rows newest oldest < <(sql "SELECT count(*), (extract(epoch FROM max(message_date)) * 1000)::bigint,
  (extract(epoch FROM min(message_date)) * 1000)::bigint FROM signals.signals WHERE deleted_at IS NULL" | tr '|' ' ')
(( rows > 0 )) || { echo "no signals: run ./scripts/seed-signals.sh first" >&2; exit 1; }
chunks=$(sql "SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_schema = 'signals' AND hypertable_name = 'signals'" 2>/dev/null || echo "n/a (plain PostgreSQL)")
bytes=$(sql "SELECT pg_size_pretty(COALESCE((SELECT hypertable_size('signals.signals')), pg_total_relation_size('signals.signals')))" 2>/dev/null || echo "?")
echo "data: $rows signals, $chunks chunks, $(( (newest - oldest) / 86400000 )) days ($(date -ud "@$(( oldest / 1000 ))" +%F) .. $(date -ud "@$(( newest / 1000 ))" +%F)), signals table $bytes"
export BENCH_NEWEST_MS=$newest BENCH_OLDEST_MS=$oldest

cache_count() { curl -fsS "$API/metrics" | awk -v r="$1" '$1 ~ "^tpcapital_cache_requests_total" && $1 ~ "result=\""r"\"" {s += $2} END {print s + 0}'; }
rss() { ps -o rss= -p "$(cat "$TP_STACK_DIR/run/api.pid")" | awk '{printf "%.0f MiB", $1 / 1024}'; }
# CPU seconds used so far (utime + stime, 1/100 s) by the api, PostgreSQL (the postmaster, its
# backends and those it reaped), PgBouncer and the two Redis servers: the uncached run prints
# what each spent per request.
ticks() { [[ -n ${1:-} && -r /proc/$1/stat ]] && awk -v all="${2:-0}" '{print $14 + $15 + (all ? $16 + $17 : 0)}' "/proc/$1/stat" || echo 0; }
cpu_ticks() {
  local pm pg c
  pm=$(pgrep -f "postgres -D /srv/stacks/$TP_STACK_ID/" | head -1 || true)
  pg=$(ticks "$pm" 1)
  for c in $(pgrep -P "${pm:-0}"); do pg=$(( pg + $(ticks "$c") )); done
  echo "$(ticks "$(cat "$TP_STACK_DIR/run/api.pid")") $pg $(ticks "$(pgrep -f "pgbouncer -d /srv/stacks/$TP_STACK_ID/" | head -1 || true)")" \
    "$(( $(ticks "$(cat "$TP_STACK_DIR/run/redis-master.pid")") + $(ticks "$(cat "$TP_STACK_DIR/run/redis-replica.pid")") ))"
}
cpu_per_request() { # before after requests
  awk -v n="$3" -v before="$1" -v after="$2" 'BEGIN { if (n == 0) exit; split(before, a, " "); split(after, b, " ");
    printf "CPU per uncached request: api %.2f ms, PostgreSQL %.2f ms, PgBouncer %.2f ms, Redis %.2f ms\n",
      (b[1] - a[1]) * 10 / n, (b[2] - a[2]) * 10 / n, (b[3] - a[3]) * 10 / n, (b[4] - a[4]) * 10 / n }'
}
HEALTH_RPS=
REQUESTS=0
FAILED=0
run() { # label connections [env...]
  local label=$1 c=$2; shift 2
  local out
  out=$(env "$@" wrk -t2 -c"$c" -d"${S}s" --timeout 10s -s "$ROOT/scripts/wrk/dashboard.lua" "$API" | grep '^RESULT')
  local requests failed bad_status empty compressed bytes_per_response rps p50_ms p95_ms p99_ms
  eval "${out#RESULT }"
  REQUESTS=$requests
  [[ -z $HEALTH_RPS ]] && HEALTH_RPS=$rps
  local ratio note=""
  ratio=$(awk -v a="$rps" -v b="$HEALTH_RPS" 'BEGIN { printf "%.3f", a / b }')
  [[ -z $HEALTH_RPS || $HEALTH_RPS == 0 ]] && ratio="?"
  if (( failed + bad_status > 0 )); then note=" FAILED: $failed socket errors, $bad_status non-200"; FAILED=1; fi
  if (( empty > 0 )); then note="$note FAILED: $empty empty pages"; FAILED=1; fi
  if [[ " $* " == *" BENCH_GZIP=1 "* ]] && (( compressed == 0 )); then
    note="$note (n/a: no response came compressed)"
  elif [[ " $* " == *" BENCH_GZIP=1 "* ]] && (( compressed < requests )); then
    note="$note FAILED: $(( requests - compressed )) of $requests uncompressed"; FAILED=1
  fi
  printf '%-46s %7s req/s  x%s of /health/live  p50 %6s  p95 %6s  p99 %7s ms  %6s B/resp  %s requests  (api RSS %s)%s\n' \
    "$label" "$rps" "$ratio" "$p50_ms" "$p95_ms" "$p99_ms" "$bytes_per_response" "$requests" "$(rss)" "$note"
}

run "/health/live, 64 connections (ceiling)" 64 BENCH_MODE=health
if [[ ${SEARCH_ONLY:-0} == 1 && -n ${SEARCH:-} ]]; then # only runs 1 and 6
  run "search=$SEARCH newest first, 8 connections (uncached)" 8 BENCH_MODE=search BENCH_SEARCH="$SEARCH"
  (( FAILED == 0 )) || { echo "benchmark FAILED: see the runs above" >&2; exit 1; }
  exit 0
fi
# The uncached mix twice, new keys each time (scripts/wrk/dashboard.lua salts them per run): the
# first run also pays each database backend's first plan of each week's statements (what a
# restarted stack pays in its first seconds), the second is the steady state.
uncached_runs() {
  local label hits misses cpu0
  for label in "new query each time, 64 connections (uncached)" \
    "again, new keys, 64 connections (uncached, warm)"; do
    hits=$(cache_count hit); misses=$(cache_count miss); cpu0=$(cpu_ticks)
    run "$label" 64 BENCH_MODE=uncached
    cpu_per_request "$cpu0" "$(cpu_ticks)" "$REQUESTS"
    echo "  that run: $(( $(cache_count hit) - hits )) cache hits, $(( $(cache_count miss) - misses )) misses"
  done
}
if [[ ${UNCACHED_ONLY:-0} == 1 ]]; then # only runs 1 and 5
  uncached_runs
  (( FAILED == 0 )) || { echo "benchmark FAILED: see the runs above" >&2; exit 1; }
  exit 0
fi
hits0=$(cache_count hit); miss0=$(cache_count miss)
run "dashboard mix, 64 connections (cached)" 64
run "dashboard mix gzip, 64 connections (compressed)" 64 BENCH_GZIP=1
run "/signals?limit=50, 64 connections (cached)" 64 BENCH_MODE=newest
run "/signals?limit=50 gzip, 64 connections (cached)" 64 BENCH_MODE=newest BENCH_GZIP=1
run "dashboard mix, 1000 connections (cached)" 1000
hits1=$(cache_count hit); miss1=$(cache_count miss)
uncached_runs
if [[ -n ${SEARCH:-} ]]; then # e.g. SEARCH=PETR: a term the newest rows lack (issue 15 item 2)
  run "search=$SEARCH newest first, 8 connections (uncached)" 8 BENCH_MODE=search BENCH_SEARCH="$SEARCH"
fi
h=$(( hits1 - hits0 )); m=$(( miss1 - miss0 ))
echo "cache hit rate (cached runs): $h hits / $(( h + m )) lookups = $(awk -v h="$h" -v m="$m" 'BEGIN { if (h + m) printf "%.1f%%", 100 * h / (h + m); else print "n/a" }')"
(( FAILED == 0 )) || { echo "benchmark FAILED: see the runs above" >&2; exit 1; }
