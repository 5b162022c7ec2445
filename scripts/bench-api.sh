#!/usr/bin/env bash
# API load benchmark (issue 5): wrk on the same box against the running stack's api, on a database
# seeded by ./scripts/seed-signals.sh (>= 1,000,000 signals):
#   1. the dashboard mix, 64 connections (cached)       -> p95, requests/s
#   2. the same against /health/live                    -> the ceiling of this machine, for the ratio
#   3. 1,000 connections on the dashboard mix           -> errors must be 0
#   4. every request distinct, 64 connections (uncached) -> p95
# plus the cache hit rate of runs 1+3 from tpcapital_cache_requests_total and the api's RSS.
#   ./deploy/local/stack.sh up && ./scripts/seed-signals.sh && ./scripts/bench-api.sh [seconds=20]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
S=${1:-20}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
eval "$("$ROOT/deploy/local/stack.sh" env)"
API=$TP_CAPITAL_API_URL
curl -fsS "$API/health/ready" >/dev/null || { echo "api is not ready: start the stack first" >&2; exit 1; }
ulimit -n 65536 2>/dev/null || true
echo "signals in the database: $(psql "$TP_CAPITAL_DATABASE_URL" -Atqc 'SELECT count(*) FROM signals.signals')"
cache_count() { curl -fsS "$API/metrics" | awk -v r="$1" '$1 ~ "^tpcapital_cache_requests_total" && $1 ~ "result=\""r"\"" {s += $2} END {print s + 0}'; }
rss() { ps -o rss= -p "$(cat "$TP_STACK_DIR/run/api.pid")" | awk '{printf "%.0f MiB", $1 / 1024}'; }
run() { # label connections path-or-script [env]
  local label=$1 c=$2; shift 2
  local out
  out=$(env "$@" wrk -t2 -c"$c" -d"${S}s" --timeout 10s -s "$ROOT/scripts/wrk/dashboard.lua" "$API" | grep '^RESULT')
  printf '%-44s %s   (api RSS %s)\n' "$label" "${out#RESULT }" "$(rss)"
}
hits0=$(cache_count hit); miss0=$(cache_count miss)
run "dashboard mix, 64 connections (cached)" 64
hits1=$(cache_count hit); miss1=$(cache_count miss)
printf '%-44s ' "/health/live, 64 connections (ceiling)"
wrk -t2 -c64 -d"${S}s" --latency "$API/health/live" | awk '/Requests\/sec/ {print "rps=" $2} /^ +99%/ {print "p99=" $2}' | tr '\n' ' '; echo
run "dashboard mix, 1000 connections (cached)" 1000
hits2=$(cache_count hit); miss2=$(cache_count miss)
run "distinct queries, 64 connections (uncached)" 64 BENCH_UNIQUE=1
h=$(( hits1 - hits0 + hits2 - hits1 )); m=$(( miss1 - miss0 + miss2 - miss1 ))
echo "cache hit rate (runs 1 and 3): $h hits / $(( h + m )) lookups = $(awk -v h="$h" -v m="$m" 'BEGIN { if (h + m) printf "%.1f%%", 100 * h / (h + m); else print "n/a" }')"
