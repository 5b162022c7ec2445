#!/usr/bin/env bash
# Seeds the running stack's database with N signals (default 1,000,000) for the api benchmark:
# 20 labelled channels, 40 assets, every kind (and NULL = channel default), newest one a minute
# ago, one every 30 s back in time (~1 year per million). Rows are tagged source='bench-seed';
# `--drop` removes them again.   ./scripts/seed-signals.sh [N | --drop]
# Env: SEED_STEP_MS (30000) the time between two seeded signals — e.g. small enough to put N
#      signals in the open week; SEED_ROOT (unset) one asset root for every row (e.g. BOVA, so
#      the other roots are absent from the seeded span); SEED_WAIT_INDEXES=0 skips the wait below.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
eval "$("$ROOT/deploy/local/stack.sh" env)"
psql_direct() { psql "$TP_CAPITAL_MIGRATE_DATABASE_URL" -v ON_ERROR_STOP=1 -qAt "$@"; }
if [[ ${1:-} == --drop ]]; then
  psql_direct -c "DELETE FROM signals.signals WHERE source = 'bench-seed'"
  exit 0
fi
N=${1:-1000000}
STEP_MS=${SEED_STEP_MS:-30000}
[[ $N =~ ^[0-9]+$ && $STEP_MS =~ ^[0-9]+$ ]] || { echo "usage: seed-signals.sh [N | --drop] (SEED_STEP_MS a number)" >&2; exit 2; }
[[ ${SEED_ROOT:-} =~ ^[A-Z]{0,4}$ ]] || { echo "SEED_ROOT: four capital letters" >&2; exit 2; }
ROOT_SQL=${SEED_ROOT:+"'$SEED_ROOT'"}
started=$(date +%s)
psql_direct <<SQL
INSERT INTO signals.channels (channel_id, label, default_kind)
SELECT -1009000000000 - g, 'Canal ' || g, (ARRAY['swing_trade','day_trade'])[g % 2 + 1]
FROM generate_series(1, 20) g ON CONFLICT (channel_id) DO NOTHING;
WITH base AS (
  SELECT g,
         COALESCE(${ROOT_SQL:-NULL}, (ARRAY['PETR','VALE','BOVA','ITUB','BBDC','WEGE','ABEV','KLBN','MGLU','TAEE'])[g % 10 + 1]) AS root,
         (g % 97 + 10)::numeric / 10 AS px
  FROM generate_series(1, $N) g
)
INSERT INTO signals.signals
  (channel_id, message_id, message_date, asset, kind, direction, entry_min, entry_max, targets,
   target_final, stop, status, raw_message, parser_version, source, created_at, updated_at)
SELECT -1009000000000 - (g % 20 + 1), 9000000000 + g,
       now() - interval '1 minute' - g * interval '$STEP_MS milliseconds',
       CASE WHEN g % 4 = 0 THEN root || 'W' || (g % 90 + 10) ELSE root || (g % 4 + 3) END,
       (ARRAY['swing_trade','day_trade','scalping','position',NULL])[g % 5 + 1],
       'long', px, px + 0.1, ARRAY[px + 1, px + 2]::numeric[], px + 3, round(px * 0.9, 2),
       (ARRAY['open','open','open','target_hit','stopped','closed'])[g % 6 + 1],
       'Ativo: ' || root || (g % 4 + 3) || E'\nCompra: ' || px || E'\nAlvo 1: ' || (px + 1) || E'\nStop: ' || round(px * 0.9, 2),
       'bench-seed', 'bench-seed', now(), now()
FROM base;
ANALYZE signals.signals;
SQL
echo "seeded $N signals in $(( $(date +%s) - started )) s; total now: $(psql_direct -c 'SELECT count(*) FROM signals.signals')"
# With TimescaleDB the seeded weeks are closed: the ingest's maintenance gives each its search
# indexes (every TP_CAPITAL_MAINTENANCE_INTERVAL_SECS, 300 s by default). Benchmarks wait for it.
unindexed() {
  psql_direct -c "SELECT count(*) FROM timescaledb_information.chunks ch
    WHERE ch.hypertable_schema = 'signals' AND ch.hypertable_name = 'signals'
      AND ch.range_end <= now() - interval '1 hour'
      AND pg_catalog.to_regclass('signals.signals_raw_message_trgm_idx') IS NULL
      AND pg_catalog.to_regclass(pg_catalog.format('%I.%I', ch.chunk_schema, ch.chunk_name || '_raw_message_trgm')) IS NULL" 2>/dev/null || echo 0
}
[[ ${SEED_WAIT_INDEXES:-1} == 0 ]] && exit 0
waited=0
while (( $(unindexed) > 0 )); do
  (( waited % 60 == 0 )) && echo "waiting for the ingest's maintenance to index $(unindexed) closed weeks..."
  (( waited >= 900 )) && { echo "closed weeks still unindexed after 15 min: is the ingest running?" >&2; exit 1; }
  sleep 5; waited=$((waited + 5))
done
echo "closed weeks indexed for search (waited ${waited} s)"
