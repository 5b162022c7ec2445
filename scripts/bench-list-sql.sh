#!/usr/bin/env bash
# The signal list's SQL alone, without the api (issue 15): pgbench through PgBouncer, prepared
# statements with parameters as sqlx sends them (one of the 20 seeded channels, LIMIT 40..60),
# the list query without a time bound (as before issue 15: planned over every chunk) against the
# same query with the first time window of crates/adapters-postgres/src/list (two whole chunks as
# literals), alternated twice in the same run. Checks that both return full pages first.
#   ./deploy/local/stack.sh up && ./scripts/seed-signals.sh && ./scripts/bench-list-sql.sh [seconds=8] [clients=16]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
S=${1:-8}
C=${2:-16}
eval "$("$ROOT/deploy/local/stack.sh" env)"
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
COLS="s.id, s.channel_id, s.message_id, s.message_date, s.edit_date, s.revision, s.asset, s.kind,
  s.direction, s.entry_min, s.entry_max, s.targets, s.target_final, s.stop, s.valid_until, s.status,
  s.target_index, s.raw_message, s.parser_version, s.warnings, s.source, s.created_at, s.updated_at,
  s.deleted_at, c.label AS channel_label, COALESCE(s.kind, c.default_kind, 'swing_trade') AS effective_kind"
week=604800
lo=$(date -ud "@$(( $(date +%s) / week * week - week ))" +%FT%TZ)
query() { # extra-condition
  printf '%s\n' '\set ch random(1, 20)' '\set lim random(40, 60)'
  echo "SELECT $COLS FROM signals.signals s LEFT JOIN signals.channels c ON c.channel_id = s.channel_id
    WHERE s.deleted_at IS NULL AND s.channel_id = -1009000000000 - :ch $1
    ORDER BY s.message_date DESC, s.id DESC LIMIT :lim;" | tr '\n' ' '
  echo
}
query "" >"$DIR/before.sql"
query "AND s.message_date >= '$lo'::timestamptz" >"$DIR/after.sql"
for f in before after; do
  rows=$(sed -e '/^\\set/d' -e 's/:ch/1/; s/:lim/50/' "$DIR/$f.sql" | psql "$TP_CAPITAL_DATABASE_URL" -Atq -R '@@ROW@@' | grep -o '@@ROW@@' | wc -l)
  (( rows == 49 || rows == 50 )) || { echo "$f: a page of $rows rows, not 50: seed first (./scripts/seed-signals.sh)" >&2; exit 1; }
done
echo "data: $(psql "$TP_CAPITAL_DATABASE_URL" -Atqc "SELECT count(*) FROM signals.signals") signals, first window from $lo"
for f in before after before after; do
  printf '%-7s ' "$f"
  pgbench "$TP_CAPITAL_DATABASE_URL" -n -M prepared -c "$C" -j 2 -T "$S" -f "$DIR/$f.sql" 2>&1 |
    awk '/^tps/ {printf "tps %s  ", $3} /latency average/ {printf "mean %s ms  ", $4} /failed transactions/ {printf "failed %s  ", $5} END {print ""}'
done
