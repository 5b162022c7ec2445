#!/usr/bin/env bash
# Back up and restore the compose stack's database (docs/deployment.md, "Back up and restore").
#
#   deploy/docker/backup.sh backup  FILE     pg_dump -Fc of tp_capital_db (online, consistent snapshot)
#   deploy/docker/backup.sh restore FILE     replace tp_capital_db by FILE: api, ingest and the canary
#                                            are stopped, the database recreated, TimescaleDB's
#                                            pre/post-restore hooks run, then the services restart
# env: TP_COMPOSE_ENV_FILE (default deploy/.env), COMPOSE_PROJECT_NAME (else the env file's),
#      TP_COMPOSE_FILE (default deploy/compose.yaml).
# The dump holds TimescaleDB's catalog: restore it into the same TimescaleDB version (upgrade the
# extension after, never during, a restore).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ENV_FILE=${TP_COMPOSE_ENV_FILE:-$ROOT/deploy/.env}
COMPOSE_FILE=${TP_COMPOSE_FILE:-$ROOT/deploy/compose.yaml}
DB=tp_capital_db
ROLE=tp_capital

die() {
  printf 'backup.sh: %s\n' "$*" >&2
  exit 1
}
compose() {
  local project=()
  [[ -n ${COMPOSE_PROJECT_NAME:-} ]] && project=(-p "$COMPOSE_PROJECT_NAME")
  docker compose -f "$COMPOSE_FILE" --env-file "$ENV_FILE" "${project[@]}" --profile canary "$@"
}
# in_db ARGS...: a command in the database container, as postgres over its private socket.
in_db() { compose exec -T tp-capital-timescaledb "$@"; }
psql_db() { in_db psql -X -q -v ON_ERROR_STOP=1 -h /tmp -p 5435 -U postgres "$@"; }

[[ -r $ENV_FILE ]] || die "no env file at $ENV_FILE (set TP_COMPOSE_ENV_FILE)"
cmd=${1:-}
file=${2:-}
[[ -n $file ]] || die "usage: backup.sh backup|restore FILE"

case $cmd in
  backup)
    tmp=$(mktemp "$file.XXXXXX")
    in_db pg_dump -h /tmp -p 5435 -U postgres -Fc -Z 6 "$DB" >"$tmp" || {
      rm -f "$tmp"
      die "pg_dump failed"
    }
    mv -f "$tmp" "$file"
    printf 'backup.sh: %s written (%s bytes)\n' "$file" "$(stat -c %s "$file")" >&2
    ;;
  restore)
    [[ -s $file ]] || die "$file is empty or missing"
    # Writers and readers off first: nothing may write into a database being replaced.
    compose stop -t 30 tp-capital-lb tp-capital-api tp-capital-api-canary tp-capital-ingest >/dev/null 2>&1
    psql_db -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB OWNER $ROLE"
    psql_db -d "$DB" -c 'SET client_min_messages = warning' -c 'CREATE EXTENSION IF NOT EXISTS timescaledb' \
      -c 'SELECT timescaledb_pre_restore()' >/dev/null
    in_db pg_restore -h /tmp -p 5435 -U postgres -d "$DB" --exit-on-error <"$file" ||
      die "pg_restore failed: the database is incomplete; restore again (services stay stopped)"
    psql_db -d "$DB" -c 'SELECT timescaledb_post_restore()' \
      -c "GRANT CREATE ON SCHEMA _timescaledb_internal TO $ROLE" >/dev/null
    compose start tp-capital-api tp-capital-ingest tp-capital-lb >/dev/null 2>&1
    printf 'backup.sh: %s restored into %s\n' "$file" "$DB" >&2
    ;;
  *) die "usage: backup.sh backup|restore FILE" ;;
esac
