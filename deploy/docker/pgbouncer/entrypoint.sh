#!/bin/sh
# PgBouncer of the compose stack (tp-capital-pgbouncer): writes its configuration from the environment
# into a private directory and runs it in the foreground. Transaction pooling with
# max_prepared_statements (sqlx/sea-orm prepare statements; PgBouncer >= 1.21), SCRAM towards clients
# and the server. Needs only POSIX sh and pgbouncer on PATH; runs as a non-root user.
set -eu

: "${TP_DB_PASSWORD:?TP_DB_PASSWORD is required}"
DB=${TP_DB_NAME:-tp_capital_db}
ROLE=${TP_DB_USER:-tp_capital}
DB_HOST=${TP_PG_HOST:-tp-capital-timescaledb}
DB_PORT=${TP_PG_PORT:-5435}
PORT=${TP_PGBOUNCER_PORT:-6435}
DIR=$(mktemp -d /tmp/pgbouncer.XXXXXX)

case $TP_DB_PASSWORD in *'"'*) echo "tp-capital-pgbouncer: TP_DB_PASSWORD must not contain a double quote" >&2; exit 1 ;; esac

umask 077
# A plain password in auth_file lets PgBouncer do SCRAM with the clients and with PostgreSQL.
printf '"%s" "%s"\n' "$ROLE" "$TP_DB_PASSWORD" >"$DIR/userlist.txt"
cat >"$DIR/pgbouncer.ini" <<INI
[databases]
$DB = host=$DB_HOST port=$DB_PORT dbname=$DB

[pgbouncer]
listen_addr = *
listen_port = $PORT
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $DIR/userlist.txt
stats_users = $ROLE

pool_mode = transaction
max_prepared_statements = ${TP_PGBOUNCER_MAX_PREPARED_STATEMENTS:-1000}
; a list page's rows (15-70 KB) in a few reads and writes instead of a dozen: half the CPU per statement
pkt_buf = ${TP_PGBOUNCER_PKT_BUF:-32768}
ignore_startup_parameters = extra_float_digits

max_client_conn = ${TP_PGBOUNCER_MAX_CLIENT_CONN:-4000}
default_pool_size = ${TP_PGBOUNCER_POOL_SIZE:-40}
reserve_pool_size = 10
reserve_pool_timeout = 2
max_db_connections = ${TP_PGBOUNCER_MAX_DB_CONNECTIONS:-150}
server_idle_timeout = 300

; fail fast while PostgreSQL is down (the services answer 503 + Retry-After), reconnect quickly after;
; the database's address is looked up again after a restart. A short query_wait_timeout disconnects
; waiting clients, whose reconnections (SCRAM) then starve a 0.5-CPU PgBouncer: keep 30 s.
server_connect_timeout = 5
server_login_retry = 1
query_wait_timeout = ${TP_PGBOUNCER_QUERY_WAIT_TIMEOUT:-30}
dns_max_ttl = 5

log_connections = 0
log_disconnections = 0
INI
exec pgbouncer "$DIR/pgbouncer.ini"
