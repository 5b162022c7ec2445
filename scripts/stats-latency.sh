#!/usr/bin/env bash
# Uncached latency of `/signals/stats` and `/channels` (issue 15 item 2, issue 14): before every
# request the cache generation is bumped (what each ingest does), so each answer is computed by
# PostgreSQL from the exact rollups. Checks every answer (200, `X-Cache: miss`, a non-empty body,
# the stats total equal to a direct SQL count) and prints p50 / p95 / max per query, with the data
# shape (signals, rollup rows, pending deltas, chunks). With SEARCH=term also `search=term`
# newest first (a full page of 50 required; the script prints how recent the term's newest
# match is — for issue 15 item 2, a term absent from the newest week).
#   ./scripts/stats-latency.sh [N=100]        (the stack must be running: deploy/local/stack.sh)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
eval "$("$ROOT/deploy/local/stack.sh" env)"
N=${1:-100}
API=$TP_CAPITAL_API_URL
GEN="${TP_CAPITAL_REDIS_NAMESPACE:-tpcapital}:cache:gen"
# redis://[:password@]host:port[/db] → redis-cli arguments (the password through REDISCLI_AUTH).
redis_hostport=${TP_CAPITAL_REDIS_URL#redis://}; redis_hostport=${redis_hostport#*@}; redis_hostport=${redis_hostport%%/*}
if [[ $TP_CAPITAL_REDIS_URL == *@* ]]; then
  auth=${TP_CAPITAL_REDIS_URL#redis://}; auth=${auth%%@*}; export REDISCLI_AUTH=${auth#*:}
fi
bump() { [[ $(redis-cli -h "${redis_hostport%:*}" -p "${redis_hostport##*:}" INCR "$GEN") =~ ^[0-9]+$ ]]; }
sql() { psql "$TP_CAPITAL_MIGRATE_DATABASE_URL" -X -qAt -v ON_ERROR_STOP=1 -c "$1"; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

echo "data: $(sql "SELECT count(*) FROM signals.signals WHERE deleted_at IS NULL") live signals," \
  "$(sql "SELECT count(DISTINCT channel_id) FROM metrics.channel_signal_totals") channels," \
  "$(sql "SELECT count(*) FROM metrics.signal_rollup") hourly rollup rows," \
  "$(sql "SELECT count(*) FROM metrics.signal_rollup_delta") pending deltas," \
  "$(sql "SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_name = 'signals'" 2>/dev/null || echo 0) signal chunks"

# /signals/stats: the dashboard's default window (7 days before `to`), `to` = now.
to=$(date -u +%Y-%m-%dT%H:%M:%SZ)
want=$(sql "SELECT count(*) FROM signals.signals WHERE deleted_at IS NULL
            AND message_date >= date_trunc('hour', '$to'::timestamptz - interval '7 days')
            AND message_date < date_trunc('hour', '$to'::timestamptz) + interval '1 hour'")

measure() { # name path check
  local name=$1 path=$2 check=$3 i code t
  : >"$tmp/times"
  for ((i = 0; i < N; i++)); do
    bump || { echo "cannot bump $GEN in Redis" >&2; exit 1; }
    read -r code t < <(curl -s -o "$tmp/body" -D "$tmp/headers" -w '%{http_code} %{time_total}\n' "$API$path")
    [[ $code == 200 ]] || { echo "$name: HTTP $code: $(head -c 300 "$tmp/body")" >&2; exit 1; }
    grep -qi '^x-cache: miss' "$tmp/headers" || { echo "$name: not a cache miss" >&2; cat "$tmp/headers" >&2; exit 1; }
    $check "$tmp/body" || { echo "$name: unexpected body: $(head -c 300 "$tmp/body")" >&2; exit 1; }
    echo "$t" >>"$tmp/times"
  done
  sort -n "$tmp/times" | awk -v name="$name" -v bytes="$(wc -c <"$tmp/body")" '
    { v[NR] = $1 * 1000 }
    END { printf "%-40s n=%d  p50 %.1f ms  p95 %.1f ms  max %.1f ms  (%d bytes)\n",
          name, NR, v[int(NR * 0.5 + 0.5)], v[int(NR * 0.95 + 0.5)], v[NR], bytes }'
}
stats_ok() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d['total'] == int(sys.argv[2]) and d['total'] > 0 else 1)" "$1" "$want"; }
channels_ok() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d['data'] and sum(c['signal_count'] for c in d['data']) > 0 else 1)" "$1"; }

echo "stats window: 7 days before $to, expected total $want (direct SQL count)"
measure "GET /signals/stats (7 days)" "/signals/stats?to=$to" stats_ok
measure "GET /channels" "/channels" channels_ok
if [[ -n ${SEARCH:-} ]]; then
  [[ $SEARCH =~ ^[[:alnum:]]+$ ]] || { echo "SEARCH: letters and digits only" >&2; exit 2; }
  echo "search=$SEARCH: $(sql "SELECT count(*) || ' matches, newest ' || COALESCE(round(extract(epoch FROM now() - max(message_date)) / 86400)::text, '?') || ' days ago'
    FROM signals.signals WHERE deleted_at IS NULL AND (raw_message ILIKE '%$SEARCH%' OR asset ILIKE '%$SEARCH%')")"
  page_ok() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if len(d['data']) == 50 else 1)" "$1"; }
  measure "GET /signals?search=$SEARCH&limit=50" "/signals?search=$SEARCH&limit=50" page_ok
fi
