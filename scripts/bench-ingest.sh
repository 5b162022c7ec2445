#!/usr/bin/env bash
# Ingest load benchmark (issue 4): wrk against the running stack's ingest, single messages then
# 1,000-message batches, each message unique; then counts rows in the database to prove that no
# acknowledged message was lost and none was stored twice.
#   ./deploy/local/stack.sh up && ./scripts/bench-ingest.sh [seconds=20]
# Env: TP_STACK_DIR (which stack), CONNECTIONS_SINGLE (32), CONNECTIONS_BATCH (8), BENCH_SPAN_S
# (3600: messages dated over the last hour; 60: the last minute, as a live push), BENCH_PHASES
# ("single batch"; "batch" runs the batch phase alone).
# Fails (exit 1) on any socket error or non-2xx answer, any acknowledged message missing from the
# archive, any message stored twice, or an archived BOVAW32 call without its signal. Prints the
# size of the open week (the chunk the messages land in) first: the batch figure depends on it.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECONDS_PER_RUN=${1:-20}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
eval "$("$ROOT/deploy/local/stack.sh" env)"
curl -fsS "$TP_CAPITAL_INGEST_URL/health/ready" >/dev/null || { echo "ingest is not ready: start the stack first" >&2; exit 1; }
CHANNEL=-100$(date +%s)
RUN=$(( $(date +%s) % 90 + 1 ))
export BENCH_TOKEN=$TP_CAPITAL_GATEWAY_TOKEN BENCH_CHANNEL=$CHANNEL
sql() { psql "$TP_CAPITAL_DATABASE_URL" -Atqc "$1"; }

run() { # name connections batch
  local out requests=0 failed=0 duration_s=1 p99_ms= # set by the eval of the RESULT line
  RUN=$((RUN + 1)) # message ids never repeat across runs
  out=$(BENCH_RUN=$RUN BENCH_BATCH=$3 wrk -t2 -c"$2" -d"${SECONDS_PER_RUN}s" --timeout 10s -s "$ROOT/scripts/wrk/ingest.lua" "$TP_CAPITAL_INGEST_URL" | grep '^RESULT')
  echo "$1: $out"
  eval "${out#RESULT }"
  local per_request=$(( $3 == 0 ? 1 : $3 ))
  echo "$1: $(( (requests - failed) * per_request / ${duration_s%.*} )) messages/s acknowledged, $(( (requests - failed) / ${duration_s%.*} )) requests/s, p99 ${p99_ms} ms"
  ACKED=$(( ${ACKED:-0} + (requests - failed) * per_request ))
  FAILED=$(( ${FAILED:-0} + failed ))
}

open_week=$(sql "SELECT count(*) FROM signals.signals WHERE message_date >= (SELECT COALESCE(max(range_start), '-infinity')
  FROM timescaledb_information.chunks WHERE hypertable_schema = 'signals' AND hypertable_name = 'signals' AND range_start <= now())" 2>/dev/null || echo "n/a")
echo "signals in the database: $(sql "SELECT count(*) FROM signals.signals"); in the open week (its chunk): $open_week"
PHASES=${BENCH_PHASES:-single batch}
[[ $PHASES == *single* ]] && run "single (POST /ingest, ${CONNECTIONS_SINGLE:-32} connections)" "${CONNECTIONS_SINGLE:-32}" 0
[[ $PHASES == *batch* ]] && run "batch (POST /ingest/batch x1000, ${CONNECTIONS_BATCH:-8} connections)" "${CONNECTIONS_BATCH:-8}" 1000
sleep 2
stored=$(sql "SELECT count(*) FROM forwarded_messages.messages WHERE channel_id = $CHANNEL")
distinct=$(sql "SELECT count(DISTINCT message_id) FROM forwarded_messages.messages WHERE channel_id = $CHANNEL")
signals=$(sql "SELECT count(*) FROM signals.signals WHERE channel_id = $CHANNEL")
echo "acknowledged messages: $ACKED; archived rows: $stored (distinct ids: $distinct); signals: $signals"
echo "duplicated rows: $(( stored - distinct )); acknowledged but missing: $(( ACKED > distinct ? ACKED - distinct : 0 ))"
echo "(rows beyond the acknowledged count are requests in flight when wrk stopped: stored, never acknowledged)"
problems=()
(( FAILED == 0 )) || problems+=("$FAILED requests failed (socket error or non-2xx)")
(( stored == distinct )) || problems+=("$(( stored - distinct )) duplicated rows")
(( ACKED <= distinct )) || problems+=("$(( ACKED - distinct )) acknowledged messages missing")
(( signals == distinct )) || problems+=("$distinct archived calls but $signals signals")
(( ACKED > 0 )) || problems+=("nothing acknowledged")
if (( ${#problems[@]} )); then printf 'benchmark FAILED: %s\n' "${problems[@]}" >&2; exit 1; fi
