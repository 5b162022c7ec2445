#!/usr/bin/env bash
# Benchmark of `tp-capital-migrate import-legacy` (SPEC §6, docs/benchmarks.md "Legacy import"):
# builds a legacy database with LEGACY_ROWS signals (default 1,000,000) and LEGACY_MESSAGES
# archived messages in one of the two legacy shapes (SHAPE=shared: the shared database's
# tp_capital schema with UUID ids, crates/legacy-import/tests/legacy_fixture.sql; SHAPE=dedicated:
# the legacy stack's own signals.tp_capital_signals with SERIAL ids, epoch-ms ts and DECIMAL(12,2)
# prices as 1-day TimescaleDB hypertables, legacy_fixture_dedicated.sql), a fresh migrated target database,
# runs the import with the release binary, then a second import (must add 0 rows), the rollback
# (must leave the target as before), and an import killed (SIGKILL) after KILL_AT signals then
# resumed (must end with the same content as the first import), and prints rows/s with the
# report's counts.
#
# Needs a running stack: eval "$(deploy/local/stack.sh env)" (TP_CAPITAL_MIGRATE_DATABASE_URL and
# TP_PG_SUPERUSER_URL). The legacy database goes on the same server unless LEGACY_ADMIN_URL and
# LEGACY_APP_URL name another one (e.g. the plain PostgreSQL 15 of deploy/local/plain-postgres.sh:
# LEGACY_ADMIN_URL=$TP_PLAIN_PG_SUPERUSER_URL LEGACY_APP_URL=$TP_CAPITAL_PLAIN_PG_URL).
#
#   scripts/legacy-bench.sh                 # 1,000,000 signals + 200,000 messages, 2 writers
#   LEGACY_ROWS=200000 WRITERS=1 scripts/legacy-bench.sh
#   SHAPE=dedicated scripts/legacy-bench.sh # the legacy stack's integer-id shape (90 days, 20 channels)
#   KEEP=1 scripts/legacy-bench.sh          # keep both databases and the work directory
# LEGACY_BENCH_BIN=path: run that tp-capital-migrate instead of building one (to compare builds).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LEGACY_ROWS=${LEGACY_ROWS:-1000000}
LEGACY_MESSAGES=${LEGACY_MESSAGES:-200000}
WRITERS=${WRITERS:-2}
BATCH=${BATCH:-5000}
SHAPE=${SHAPE:-shared}            # or dedicated
TS_TYPE=${TS_TYPE:-timestamptz}   # shared shape: or bigint (epoch milliseconds)
KEEP=${KEEP:-0}
KILL_AT=${KILL_AT:-$((LEGACY_ROWS * 2 / 5))}   # 0 skips the kill-and-resume step

die() { printf 'legacy-bench: %s\n' "$*" >&2; exit 1; }
: "${TP_CAPITAL_MIGRATE_DATABASE_URL:?run eval \"\$(deploy/local/stack.sh env)\" first}"
: "${TP_PG_SUPERUSER_URL:?run eval \"\$(deploy/local/stack.sh env)\" first}"
command -v psql >/dev/null || die "psql is required"
LEGACY_ADMIN_URL=${LEGACY_ADMIN_URL:-$TP_PG_SUPERUSER_URL}
LEGACY_APP_URL=${LEGACY_APP_URL:-$TP_CAPITAL_MIGRATE_DATABASE_URL}

with_db() { # URL with its database replaced
  local url=$1 db=$2 base query=""
  base=${url%%\?*}; [[ $url == *\?* ]] && query="?${url#*\?}"
  printf '%s/%s%s' "${base%/*}" "$db" "$query"
}
elapsed() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }
user_of() { local u=${1#*://}; u=${u%%@*}; printf '%s' "${u%%:*}"; }

SUFFIX=$(date +%s)$$
LEGACY_DB=tp_legacy_bench_$SUFFIX
TARGET_DB=tp_target_bench_$SUFFIX
WORK=$(mktemp -d /tmp/legacy-bench.XXXXXX)
LEGACY_URL=$(with_db "$LEGACY_APP_URL" "$LEGACY_DB")
TARGET_URL=$(with_db "$TP_CAPITAL_MIGRATE_DATABASE_URL" "$TARGET_DB")
cleanup() {
  if [[ $KEEP != 1 ]]; then
    psql -q "$LEGACY_ADMIN_URL" -c "DROP DATABASE IF EXISTS $LEGACY_DB WITH (FORCE)" >/dev/null 2>&1 || true
    psql -q "$TP_PG_SUPERUSER_URL" -c "DROP DATABASE IF EXISTS $TARGET_DB WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
  else
    printf 'kept: legacy %s, target %s, work %s\n' "$LEGACY_DB" "$TARGET_DB" "$WORK"
  fi
}
trap cleanup EXIT

if [[ -n ${LEGACY_BENCH_BIN:-} ]]; then # a prebuilt binary (e.g. an older build, to compare)
  BIN=$LEGACY_BENCH_BIN
else
  echo "== release build"
  (cd "$ROOT" && cargo build --release -p migrations --bin tp-capital-migrate)
  BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/tp-capital-migrate
fi

psql -q "$LEGACY_ADMIN_URL" -c "CREATE DATABASE $LEGACY_DB OWNER \"$(user_of "$LEGACY_APP_URL")\""
start=$(date +%s.%N)
case $SHAPE in
  shared)
    echo "== legacy database (shared shape): $LEGACY_ROWS signals, $LEGACY_MESSAGES messages (ts $TS_TYPE)"
    TS_EXPR=t; [[ $TS_TYPE == bigint ]] && TS_EXPR='(extract(epoch FROM t) * 1000)::bigint'
    sed -e "s/{{ROWS}}/$LEGACY_ROWS/g; s/{{MESSAGES}}/$LEGACY_MESSAGES/g; s/{{TS_TYPE}}/$TS_TYPE/g" \
        -e "s/{{TS}}/$TS_EXPR/g" "$ROOT/crates/legacy-import/tests/legacy_fixture.sql" |
      psql -q -v ON_ERROR_STOP=1 "$LEGACY_URL" >/dev/null
    LEGACY_TABLES="tp_capital.tp_capital_signals tp_capital.forwarded_messages" ;;
  dedicated)
    echo "== legacy database (dedicated stack shape, hypertables): $LEGACY_ROWS signals, $LEGACY_MESSAGES messages"
    psql -q "$(with_db "$LEGACY_ADMIN_URL" "$LEGACY_DB")" -c "CREATE EXTENSION IF NOT EXISTS timescaledb" >/dev/null
    sed -e "s/{{ROWS}}/$LEGACY_ROWS/g; s/{{MESSAGES}}/$LEGACY_MESSAGES/g" \
        "$ROOT/crates/legacy-import/tests/legacy_fixture_dedicated.sql" |
      psql -q -v ON_ERROR_STOP=1 "$LEGACY_URL" >/dev/null
    LEGACY_TABLES="signals.tp_capital_signals forwarded_messages.messages" ;;
  *) die "SHAPE is shared or dedicated" ;;
esac
echo "generated in $(elapsed "$start") s"
# The legacy data must be left exactly as it was.
legacy_digest() {
  local t q=""
  for t in $LEGACY_TABLES; do
    q+="${q:+ UNION ALL }SELECT count(*) || ':' || sum(('x' || substr(md5(t::text), 1, 16))::bit(64)::bigint) FROM $t t"
  done
  psql -At "$LEGACY_URL" -c "SELECT string_agg(m, ' ') FROM ($q) d(m)"
}
legacy_before=$(legacy_digest)

echo "== target database (TimescaleDB), migrated"
psql -q "$TP_PG_SUPERUSER_URL" -c "CREATE DATABASE $TARGET_DB OWNER \"$(user_of "$TP_CAPITAL_MIGRATE_DATABASE_URL")\""
# As the stack's bootstrap does: the extension, and the right to index chunks (search indexes per
# closed week, migration m20251205_000011).
psql -q "$(with_db "$TP_PG_SUPERUSER_URL" "$TARGET_DB")" -c "CREATE EXTENSION IF NOT EXISTS timescaledb" \
  -c "GRANT CREATE ON SCHEMA _timescaledb_internal TO \"$(user_of "$TP_CAPITAL_MIGRATE_DATABASE_URL")\"" >/dev/null
TP_CAPITAL_MIGRATE_DATABASE_URL=$TARGET_URL RUST_LOG=warn "$BIN" up >/dev/null

# Rows and a digest of every data table of the target: equal means the same data.
snapshot() {
  psql -At "$TARGET_URL" -c "SELECT string_agg(n, ' ') FROM (
    SELECT (SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '' ORDER BY id)), '-') FROM signals.signals t) AS n
    UNION ALL SELECT (SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '' ORDER BY id)), '-') FROM forwarded_messages.messages t)
    UNION ALL SELECT (SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '' ORDER BY channel_id, message_id)), '-') FROM forwarded_messages.delivery_keys t)
    UNION ALL SELECT (SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '' ORDER BY channel_id)), '-') FROM signals.channels t)) s"
}
# A few rows the live service stored before the import: the rollback must leave them as they are.
psql -q "$TARGET_URL" -c "INSERT INTO signals.channels (channel_id, label) VALUES (-1001999999999, 'live');
  INSERT INTO signals.signals (channel_id, message_id, message_date, asset, direction, entry_min,
    entry_max, targets, target_final, stop, raw_message, parser_version) VALUES
    (-1001999999999, 1, now(), 'PETR4', 'long', 30.1, 30.5, '{31}', 33, 29, 'live', 'p')" >/dev/null
before=$(snapshot)
# The imported content without generated ids or import ids: equal after any correct import.
content() {
  psql -At "$TARGET_URL" -c "SELECT concat_ws(' ',
    (SELECT count(*) || ':' || md5(string_agg(concat_ws('|', legacy_id, channel_id, message_id,
       message_date, asset, kind, entry_min, entry_max, targets, target_final, stop, raw_message,
       source, created_at, updated_at, warnings), ',' ORDER BY legacy_id))
     FROM signals.signals WHERE legacy_id IS NOT NULL),
    (SELECT count(*) || ':' || md5(string_agg(concat_ws('|', channel_id, message_id, message_date,
       text, media_type, metadata, received_at), ',' ORDER BY channel_id, message_id))
     FROM forwarded_messages.messages WHERE import_id IS NOT NULL))"
}

run_import() {
  (cd "$WORK" && TP_CAPITAL_MIGRATE_DATABASE_URL=$TARGET_URL RUST_LOG=${RUST_LOG:-info} \
    "$BIN" import-legacy --source "$LEGACY_URL" --batch-size "$BATCH" --writers "$WRITERS" \
    --backup-dir "$WORK/backup" --report "$WORK/reports")
}

echo "== import (batch $BATCH, $WRITERS writers); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s.%N)
out=$(run_import)
wall=$(elapsed "$start")
echo "$out" | sed -n '/^Pre-flight/,/^Verdict/p'
echo "$out" | sed -n '/^Import /,$p'
id=$(echo "$out" | awk '/^Import .* complete$/ {print $2}')
[[ -n $id ]] || die "the import did not complete"
python3 - "$WORK/reports/import-$id.json" "$wall" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); wall = float(sys.argv[2])
rows = sum(t["read"] for t in r["tables"])
v = r["validation"]
days = sum(1 for b in v["signals"]["buckets"] if b["dimension"] == "day")
print(f"copy phase:  {rows} legacy rows in {r['copy_seconds']:.1f} s = {r['rows_per_second']:.0f} rows/s")
print(f"whole run:   {wall:.1f} s (pre-flight, backup, copy, validation, report) = {rows / wall:.0f} rows/s")
chans = sum(1 for b in v["signals"]["buckets"] if b["dimension"] == "channel")
s = v["signals"]
print(f"reconciled:  {s['source_rows']} legacy signals = {s['target_rows']} imported + {s['skipped_rows']} skipped, "
      f"per day ({days} buckets) and per channel ({chans} buckets); "
      f"{v['signal_skips']['rechecked']} recorded skips re-derived, {v['signal_skips']['wrong']} wrong")
print("skipped:     " + ", ".join(f"{x['reason']} {x['rows']}" for x in r["skipped_by_reason"] if x["table"] == "tp_capital_signals"))
print(f"validation:  ok={v['ok']}, signals {v['signals']['target_rows']}/{v['signals']['legacy_rows']} "
      f"over {days} days, {v['signals']['mismatched_buckets']} buckets differ; "
      f"messages {v['messages']['target_rows']}/{v['messages']['legacy_rows']}, "
      f"{v['messages']['mismatched_buckets']} differ; sampled rows differing: "
      f"{len(v['signal_sample']['mismatches']) + len(v['message_sample']['mismatches'])}")
PY
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
imported=$(content)

echo "== second import (must add 0)"
start=$(date +%s.%N)
out2=$(RUST_LOG=warn run_import)
echo "$out2" | sed -n '/^Import /,/copy/p'
echo "second run: $(elapsed "$start") s"
id2=$(echo "$out2" | awk '/^Import .* complete$/ {print $2}')
[[ -n $id2 ]] || die "the second import did not complete"
python3 - "$WORK/reports/import-$id2.json" <<'PY' || die "the second run added rows"
import json, sys
r = json.load(open(sys.argv[1]))
ins = [t["inserted"] for t in r["tables"]]
print(f"second run inserted {ins} (signals, messages); validation ok={r['validation']['ok']}")
sys.exit(0 if sum(ins) == 0 and r["validation"]["ok"] else 1)
PY
echo "backups after two runs: $(find "$WORK/backup" -mindepth 1 -maxdepth 1 | wc -l) (the second run keeps the first)"

echo "== rollback"
start=$(date +%s.%N)
TP_CAPITAL_MIGRATE_DATABASE_URL=$TARGET_URL "$BIN" rollback-import --import-id "$id"
TP_CAPITAL_MIGRATE_DATABASE_URL=$TARGET_URL "$BIN" rollback-import --import-id "$id2" >/dev/null
echo "rollback: $(elapsed "$start") s"
after=$(snapshot)
echo "target (rows:md5 of signals, messages, delivery keys, channels)"
echo "  before the import: $before"
echo "  after rollback:    $after"
[[ $before == "$after" ]] || die "the rollback did not restore the target"
echo "rollback exact: yes"

if [[ $KILL_AT -gt 0 ]]; then
  echo "== import killed (SIGKILL) after $KILL_AT signals, then resumed"
  (cd "$WORK" && TP_CAPITAL_MIGRATE_DATABASE_URL=$TARGET_URL RUST_LOG=warn exec "$BIN" import-legacy \
    --source "$LEGACY_URL" --batch-size "$BATCH" --writers "$WRITERS" --backup-dir "$WORK/backup" \
    --report "$WORK/reports" >/dev/null 2>&1) &
  pid=$!
  while :; do
    read_now=$(psql -At "$TARGET_URL" -c "SELECT coalesce(max(signals_read), 0) FROM legacy_import.runs WHERE state = 'running'")
    [[ $read_now -ge $KILL_AT ]] && break
    kill -0 "$pid" 2>/dev/null || die "the import ended before it could be killed"
    sleep 0.2
  done
  kill -KILL "$pid"; wait "$pid" 2>/dev/null || true
  psql -At "$TARGET_URL" -c "SELECT 'killed: state ' || state || ', ' || signals_read || ' signals read, ' ||
    signals_inserted || ' inserted; rows in the target: ' ||
    (SELECT count(*) FROM signals.signals WHERE import_id IS NOT NULL) FROM legacy_import.runs WHERE state = 'running'"
  out3=$(RUST_LOG=warn run_import)
  echo "$out3" | grep -E 'resume|^Import|tp_capital_signals|forwarded_messages|copy|validation'
  resumed=$(content)
  echo "content after the first import:  $imported"
  echo "content after kill and resume:   $resumed"
  [[ $resumed == "$imported" ]] || die "the resumed import differs from the uninterrupted one"
  id3=$(echo "$out3" | awk '/^Import .* complete$/ {print $2}')
  TP_CAPITAL_MIGRATE_DATABASE_URL=$TARGET_URL "$BIN" rollback-import --import-id "$id3" >/dev/null
  [[ $(snapshot) == "$before" ]] || die "the rollback of the resumed import did not restore the target"
  echo "resumed import rolled back: target as before"
fi
legacy_after=$(legacy_digest)
echo "legacy tables before: $legacy_before"
echo "legacy tables after:  $legacy_after"
[[ $legacy_before == "$legacy_after" ]] || die "the legacy tables changed"
