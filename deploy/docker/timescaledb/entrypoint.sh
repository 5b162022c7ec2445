#!/bin/sh
# TimescaleDB of the compose stack (tp-capital-timescaledb), for the official image and the local one
# alike: only POSIX sh and the PostgreSQL 17 binaries on PATH are needed. Runs as the postgres user.
#   first start:  initdb (SCRAM, data checksums), the superuser's password from TP_PG_SUPERUSER_PASSWORD;
#   every start:  on a private socket only, make sure the app role (password TP_DB_PASSWORD), the database,
#                 the timescaledb extension and the chunk-index grant exist; then serve on the network.
# The app role's password follows TP_DB_PASSWORD at every start (see docs/deployment.md, rotation).
set -eu

: "${TP_PG_SUPERUSER_PASSWORD:?TP_PG_SUPERUSER_PASSWORD is required}"
: "${TP_DB_PASSWORD:?TP_DB_PASSWORD is required}"
PGDATA=${PGDATA:-/var/lib/postgresql/data/pgdata}
DB=${TP_DB_NAME:-tp_capital_db}
ROLE=${TP_DB_USER:-tp_capital}
PORT=${TP_PG_PORT:-5435}
SOCKET=/tmp
export PGDATA

say() { printf 'tp-capital-timescaledb: %s\n' "$*" >&2; }

case $DB$ROLE in *[!A-Za-z0-9_]*) say "TP_DB_NAME and TP_DB_USER must be identifiers"; exit 1 ;; esac

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  say "initialising a new cluster in $PGDATA"
  mkdir -p "$PGDATA"
  chmod 700 "$PGDATA"
  pwfile=$(mktemp)
  printf '%s\n' "$TP_PG_SUPERUSER_PASSWORD" >"$pwfile"
  initdb -D "$PGDATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 --pwfile="$pwfile" \
    -E UTF8 --locale=C --locale-provider=builtin --builtin-locale=C.UTF-8 --data-checksums >/dev/null
  rm -f "$pwfile"
  # Password (SCRAM) from the stack's networks; trust stays on the container's private socket only.
  printf 'host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
fi

settings() {
  printf -- '-c port=%s -c unix_socket_directories=%s -c shared_preload_libraries=timescaledb,pg_stat_statements ' "$PORT" "$SOCKET"
  printf -- '-c timescaledb.telemetry_level=off -c password_encryption=scram-sha-256 '
}

# Bootstrap on the private socket: nothing outside the container can connect meanwhile.
rm -f "$PGDATA/postmaster.pid"
# shellcheck disable=SC2046 # settings() prints separate words on purpose
pg_ctl -D "$PGDATA" -w -t 120 -o "$(settings) -c listen_addresses=''" start >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -h "$SOCKET" -p "$PORT" -U postgres -d postgres \
  -v role="$ROLE" -v db="$DB" -v pw="$TP_DB_PASSWORD" -v superpw="$TP_PG_SUPERUSER_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'role') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role')
\gexec
ALTER ROLE :"role" WITH LOGIN PASSWORD :'pw';
ALTER ROLE postgres WITH PASSWORD :'superpw';
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db')
\gexec
SQL
psql -X -q -v ON_ERROR_STOP=1 -h "$SOCKET" -p "$PORT" -U postgres -d "$DB" -v role="$ROLE" <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
GRANT CREATE ON SCHEMA _timescaledb_internal TO :"role";
SQL
say "TimescaleDB $(psql -X -A -t -h "$SOCKET" -p "$PORT" -U postgres -d "$DB" \
  -c "SELECT extversion || ', license ' || current_setting('timescaledb.license') FROM pg_extension WHERE extname = 'timescaledb'")"
pg_ctl -D "$PGDATA" -w -t 120 -m fast stop >/dev/null

# shellcheck disable=SC2046
exec postgres -D "$PGDATA" $(settings) -c listen_addresses='*' "$@"
