#!/usr/bin/env bash
# TP-Capital native stack: the production topology (SPEC §7) as plain processes on 127.0.0.1.
# This script starts and stops the processes; what it computes (settings, ports, secrets, the services'
# environment, every config file, readiness waits) is `cargo xtask stack` (xtask/src/local/, tested).
#
#   deploy/local/stack.sh up | down | status | env | stop-component NAME | start-component NAME | destroy | rootfs
#   NAME = postgres | pgbouncer | redis-master | redis-replica | api | ingest
#
# Components
#   postgres       PostgreSQL 17 + TimescaleDB (Debian 13 rootfs, chroot)      127.0.0.1:$TP_PG_PORT (5435)
#   pgbouncer      PgBouncer 1.24, transaction mode, SCRAM (same rootfs)       127.0.0.1:$TP_PGBOUNCER_PORT (6435)
#   redis-master   Debian 12 redis-server                                      127.0.0.1:$TP_REDIS_MASTER_PORT (6381)
#   redis-replica  Debian 12 redis-server, replicaof the master                127.0.0.1:$TP_REDIS_REPLICA_PORT (6382)
#   api, ingest    tp-capital-api / tp-capital-ingest serve (after tp-capital-migrate up)  4005 / 4006
#
# Layout
#   $TP_CACHE_DIR/trixie-rootfs   (TP_CACHE_DIR=/var/cache/tp-capital; override with TP_ROOTFS_DIR)
#       Debian 13 minbase + postgresql-17, postgresql-17-timescaledb, pgbouncer. Shared by every stack,
#       built once by debootstrap into trixie-rootfs.tmp.XXXXXX and renamed when complete (marker
#       .tp-capital-rootfs-complete); builders, mounts and unmounts serialise on trixie-rootfs.lock.
#       proc and a tmpfs /dev/shm are mounted in it while any stack runs there.
#   <rootfs>/srv/stacks/<id>/     one stack's server data; <id> = first 16 hex digits of
#                                 sha1(absolute TP_STACK_DIR), so stacks never share data
#       stack-dir                 the state folder that owns this directory
#       pg/data pg/run            PostgreSQL cluster (+ tp_capital.conf, rewritten on every start), socket dir
#       pg/postgres.log
#       pgbouncer/                pgbouncer.ini, userlist.txt (SCRAM secret from pg_authid), .log, .pid
#   $TP_STACK_DIR/                (default deploy/local/.state, git-ignored)
#       stack.conf                ports remembered from the first `up` (an explicit TP_*_PORT wins)
#       secrets/                  db_password, pg_superuser_password, gateway_token, api_key, redis_password (mode 600)
#       run/                      *.pid of redis, api, ingest; *.wanted = components this stack runs
#       logs/                     redis-*.log, migrate.log, api.log, ingest.log, links to postgres/pgbouncer logs
#       redis-master/ redis-replica/   redis.conf (mode 600) and dump.rdb
#       plain-pg/                 deploy/local/plain-postgres.sh's PostgreSQL 15
#
# Environment
#   TP_STACK_DIR, TP_PG_PORT, TP_PGBOUNCER_PORT, TP_REDIS_MASTER_PORT, TP_REDIS_REPLICA_PORT, TP_API_PORT,
#   TP_INGEST_PORT, TP_STACK_SERVICES=all|infra, TP_BIN_DIR (prebuilt binaries; else cargo build --release),
#   TP_STACK_BUILD=0 (never build the services; use target/release as it is), TP_XTASK (a built xtask
#   binary; default target/debug/xtask, built when missing or stale), TP_REDIS_PASSWORD (URL-safe; default: a generated
#   secrets/redis_password, empty = none),
#   TP_PG_SHARED_BUFFERS (1GB), TP_APP_STATEMENT_TIMEOUT_MS (10000: statement_timeout of the services'
#   pooled connections), TP_ROOTFS_DIR, TP_CACHE_DIR, TP_DEBIAN_MIRROR.
#   `eval "$(deploy/local/stack.sh env)"` exports the services' contract (api/ingest/migrate get only the parts they need):
#     TP_CAPITAL_DATABASE_URL (via PgBouncer), TP_CAPITAL_MIGRATE_DATABASE_URL (direct), TP_CAPITAL_REDIS_URL,
#     TP_CAPITAL_REDIS_REPLICA_URL, TP_CAPITAL_GATEWAY_TOKEN, TP_CAPITAL_API_KEY, TP_CAPITAL_API_BIND,
#     TP_CAPITAL_INGEST_BIND, TP_CAPITAL_API_URL, TP_CAPITAL_INGEST_URL, TP_CAPITAL_API_INGEST_URL and
#     TP_CAPITAL_SYNC_TOKEN (the api's /sync-messages → the ingest's /gateway/sync), TP_CAPITAL_CORS_ORIGINS
#     (the caller's value, empty = same origin only: set it to let a browser app on another origin call the api)
#   and the stack's facts: TP_STACK_DIR, TP_STACK_ID, TP_ROOTFS_DIR, the six TP_*_PORT, TP_PG_SUPERUSER_URL
#   (postgres over TCP) and TP_PG_SUPERUSER_CMD (psql as postgres over the rootfs socket; use it unquoted:
#   `$TP_PG_SUPERUSER_CMD -c 'SELECT 1'`, SQL by -c or stdin; needs root). Only `env` and `status` work
#   without changing anything; up/down/*-component/destroy serialise on $TP_STACK_DIR/run/stack.flock.
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

COMPONENTS=(postgres pgbouncer redis-master redis-replica api ingest)
ROOTFS_PACKAGES=postgresql-17,postgresql-17-timescaledb,pgbouncer,ca-certificates
ROOTFS_MARKER=.tp-capital-rootfs-complete
PG_BIN=/usr/lib/postgresql/17/bin
CHROOT_PATH=/usr/sbin:/usr/bin:/sbin:/bin

# ---------------------------------------------------------------- configuration

# load_config [--secrets] [--save]: the stack's settings, ports and paths (xtask/src/local/config.rs);
# with --secrets also DB_PASSWORD, PG_SUPER_PASSWORD and REDIS_PASSWORD (created on first use);
# --save remembers the ports in stack.conf.
load_config() {
  local vars
  vars=$(xtask stack vars "$@") || exit 1
  eval "$vars"
}

load_secrets() { load_config --secrets; }

# ---------------------------------------------------------------- locks, markers

STACK_LOCK_FD=
acquire_stack_lock() {
  xtask stack prepare
  exec {STACK_LOCK_FD}>"$RUN_DIR/stack.flock"
  if ! flock -n "$STACK_LOCK_FD"; then
    log "another stack.sh is working on $STACK_DIR; waiting"
    flock -w 900 "$STACK_LOCK_FD" || die "timed out waiting for $RUN_DIR/stack.flock"
  fi
}

# release_locks: explicit unlock at exit (an unlock also frees a lock a child might have inherited).
release_locks() {
  [[ -z $STACK_LOCK_FD ]] || flock -u "$STACK_LOCK_FD" 2>/dev/null || true
  [[ -z $ROOTFS_LOCK_FD ]] || flock -u "$ROOTFS_LOCK_FD" 2>/dev/null || true
}
trap release_locks EXIT

ROOTFS_LOCK_FD=
rootfs_lock() {
  mkdir -p "$(dirname "$ROOTFS")"
  exec {ROOTFS_LOCK_FD}>"$ROOTFS.lock"
  if ! flock -n "$ROOTFS_LOCK_FD"; then
    log "waiting for another stack.sh holding $ROOTFS.lock (building or starting)"
    flock -w 1800 "$ROOTFS_LOCK_FD" || die "timed out waiting for $ROOTFS.lock"
  fi
}

rootfs_unlock() {
  [[ -n $ROOTFS_LOCK_FD ]] || return 0
  flock -u "$ROOTFS_LOCK_FD"
  exec {ROOTFS_LOCK_FD}>&-
  ROOTFS_LOCK_FD=
}

mark_wanted() { : >"$RUN_DIR/$1.wanted"; }
is_wanted() { [[ -e $RUN_DIR/$1.wanted ]]; }

# ---------------------------------------------------------------- root filesystem

in_rootfs() { chroot "$ROOTFS" /usr/bin/env -i PATH="$CHROOT_PATH" LANG=C.UTF-8 "$@"; }
as_postgres() { in_rootfs runuser -u postgres -- "$@"; }
psql_super() {
  local db=$1
  shift
  as_postgres "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_RUN" -p "$PG_PORT" -d "$db" "$@"
}

rootfs_ready() { [[ -f $ROOTFS/$ROOTFS_MARKER ]]; }

# pids_rooted_in DIR: processes whose root directory is DIR (chrooted there).
pids_rooted_in() { xtask stack pids-in "$1"; }

# remove_tree DIR: unmount whatever is mounted below DIR, then delete it without crossing filesystems.
remove_tree() {
  local dir=$1 m
  [[ -n $dir && $dir != / ]] || die "refusing to remove '$dir'"
  while read -r m; do
    [[ -n $m ]] && { umount "$m" 2>/dev/null || umount -l "$m"; }
  done < <(xtask stack mounts-under "$dir")
  rm -rf --one-file-system -- "$dir"
}

ensure_rootfs() {
  rootfs_ready && return 0
  require_root
  ensure_packages debootstrap:debootstrap
  rootfs_lock
  rootfs_ready || build_rootfs
  rootfs_unlock
}

build_rootfs() {
  local stale tmp start mirror pid build_log=$ROOTFS.build.log
  for stale in "$ROOTFS".tmp.*; do
    [[ -d $stale ]] || continue
    note "removing the interrupted build $stale"
    remove_tree "$stale"
  done
  [[ ! -e $ROOTFS ]] || die "$ROOTFS exists but has no $ROOTFS_MARKER: not a complete root filesystem; remove it by hand"
  mirror=${TP_DEBIAN_MIRROR:-$(xtask stack mirror)}
  tmp=$(mktemp -d "$ROOTFS.tmp.XXXXXX")
  chmod 755 "$tmp"
  log "building the Debian 13 (trixie) root filesystem once (PostgreSQL 17, TimescaleDB, PgBouncer) from $mirror"
  note "into $tmp, renamed to $ROOTFS when complete; log: $build_log"
  start=$SECONDS
  if ! debootstrap --variant=minbase --include="$ROOTFS_PACKAGES" trixie "$tmp" "$mirror" >"$build_log" 2>&1; then
    show_log_tail "$build_log" 30
    remove_tree "$tmp"
    die "debootstrap failed (log: $build_log)"
  fi
  # A package script must not have left a server running in there.
  for pid in $(pids_rooted_in "$tmp"); do
    warn "stopping pid $pid left running inside the new rootfs by a package script"
    stop_pid "$pid" "rootfs process" TERM 20
  done
  verify_rootfs "$tmp"
  # The packaged default cluster (17/main) is never used: each stack has its own under /srv/stacks.
  chroot "$tmp" /usr/bin/env -i PATH="$CHROOT_PATH" pg_dropcluster 17 main >>"$build_log" 2>&1 || true
  chroot "$tmp" /usr/bin/env -i PATH="$CHROOT_PATH" apt-get clean >>"$build_log" 2>&1 || true
  mkdir -p "$tmp/srv/stacks"
  {
    printf 'built %s by deploy/local/stack.sh from %s\n' "$(date -u +%FT%TZ)" "$mirror"
    chroot "$tmp" "$PG_BIN/postgres" --version
    chroot "$tmp" /usr/sbin/pgbouncer --version | head -n1
    # shellcheck disable=SC2016 # dpkg-query's own ${field} syntax
    chroot "$tmp" dpkg-query -W -f '${Package} ${Version}\n' postgresql-17-timescaledb
  } >"$tmp/$ROOTFS_MARKER"
  mv -T "$tmp" "$ROOTFS"
  log "root filesystem ready in $((SECONDS - start))s: $(tr '\n' ';' <"$ROOTFS/$ROOTFS_MARKER")"
}

verify_rootfs() {
  local dir=$1 version
  chroot "$dir" test -x "$PG_BIN/postgres" || die "rootfs $dir has no PostgreSQL 17"
  compgen -G "$dir/usr/lib/postgresql/17/lib/timescaledb*.so" >/dev/null || die "rootfs $dir has no TimescaleDB"
  version=$(chroot "$dir" /usr/sbin/pgbouncer --version | awk 'NR == 1 {print $2}') || die "rootfs $dir has no PgBouncer"
  # max_prepared_statements (needed by sqlx in transaction mode) exists since 1.21.
  [[ $(printf '%s\n1.21\n' "$version" | sort -V | head -n1) == 1.21 ]] || die "PgBouncer $version in $dir is older than 1.21"
}

# ensure_mounts: proc and /dev/shm inside the rootfs (callers hold the rootfs lock).
ensure_mounts() {
  mountpoint -q "$ROOTFS/proc" || mount -t proc proc "$ROOTFS/proc"
  mkdir -p "$ROOTFS/dev/shm"
  mountpoint -q "$ROOTFS/dev/shm" || mount -t tmpfs -o size=1g,mode=1777 tmpfs "$ROOTFS/dev/shm"
}

# release_mounts: unmount proc and /dev/shm once no process of any stack runs in the rootfs.
release_mounts() {
  rootfs_ready || return 0
  rootfs_lock
  if [[ -z $(pids_rooted_in "$ROOTFS") ]]; then
    if mountpoint -q "$ROOTFS/dev/shm"; then umount "$ROOTFS/dev/shm"; fi
    if mountpoint -q "$ROOTFS/proc"; then umount "$ROOTFS/proc"; fi
  else
    note "rootfs mounts kept: other stacks still run in $ROOTFS"
  fi
  rootfs_unlock
}

# ---------------------------------------------------------------- postgres

postgres_pid() {
  local pid
  pid=$(read_pid "$HOST_STACK/pg/data/postmaster.pid")
  if pid_alive "$pid" "$PG_DATA"; then printf '%s' "$pid"; fi
}

init_postgres() {
  [[ -f $HOST_STACK/pg/.initdb-complete ]] && return 0
  log "initialising the PostgreSQL 17 cluster in $HOST_STACK/pg/data"
  in_rootfs install -d -m 755 /srv/stacks "$IN_STACK"
  printf '%s\n' "$STACK_DIR" >"$HOST_STACK/stack-dir"
  in_rootfs install -d -o postgres -g postgres -m 700 "$IN_STACK/pg"
  in_rootfs install -d -o postgres -g postgres -m 755 "$PG_RUN"
  rm -rf --one-file-system -- "$HOST_STACK/pg/data"
  # initdb reads the superuser password from a file the postgres user can read (not a pipe).
  (
    umask 077
    printf '%s\n' "$PG_SUPER_PASSWORD" >"$HOST_STACK/pg/.pwfile"
  )
  in_rootfs chown postgres:postgres "$IN_STACK/pg/.pwfile"
  local rc=0
  as_postgres "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    --pwfile="$IN_STACK/pg/.pwfile" -E UTF8 --locale=C.UTF-8 --data-checksums \
    </dev/null >"$LOG_DIR/initdb.log" 2>&1 || rc=$?
  rm -f "$HOST_STACK/pg/.pwfile"
  if ((rc != 0)); then
    show_log_tail "$LOG_DIR/initdb.log"
    die "initdb failed"
  fi
  printf "\n# TP-Capital settings, rewritten by deploy/local/stack.sh on every start\ninclude_if_exists = 'tp_capital.conf'\n" \
    >>"$HOST_STACK/pg/data/postgresql.conf"
  : >"$HOST_STACK/pg/.initdb-complete"
}

# write_postgres_conf: tp_capital.conf (xtask/src/local/render.rs; durability stays on).
write_postgres_conf() {
  xtask stack render postgres
  in_rootfs chown postgres:postgres "$PG_DATA/tp_capital.conf"
}

wait_postgres_ready() {
  xtask stack wait postgres --timeout 60 >/dev/null || {
    show_log_tail "$HOST_STACK/pg/postgres.log"
    die "postgres is not accepting connections after 60s"
  }
}

start_postgres() {
  local pid
  pid=$(postgres_pid)
  if [[ -n $pid ]]; then
    note "postgres already running (pid $pid)"
    wait_postgres_ready
    mark_wanted postgres
    return 0
  fi
  require_free_port "$PG_PORT" postgres
  init_postgres
  write_postgres_conf
  # A postmaster.pid whose process is gone (crash, reboot) is stale: nothing runs on this data dir.
  rm -f "$HOST_STACK/pg/data/postmaster.pid"
  ln -sfn "$HOST_STACK/pg/postgres.log" "$LOG_DIR/postgres.log"
  rootfs_lock
  ensure_mounts
  if ! (
    close_inherited_fds
    as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 120 start
  ) </dev/null >>"$LOG_DIR/pg_ctl.log" 2>&1; then
    rootfs_unlock
    show_log_tail "$HOST_STACK/pg/postgres.log"
    die "postgres failed to start (pg_ctl log: $LOG_DIR/pg_ctl.log)"
  fi
  rootfs_unlock
  wait_postgres_ready
  mark_wanted postgres
  note "postgres started (pid $(postgres_pid)) on 127.0.0.1:$PG_PORT"
}

stop_postgres() {
  local pid
  pid=$(postgres_pid)
  [[ -n $pid ]] || return 0
  # SIGINT = fast shutdown (rolls back open transactions, checkpoints, exits cleanly).
  stop_pid "$pid" postgres INT 90
  note "postgres stopped (pid $pid)"
}

host_psql() { # host_psql URL SQL: one authenticated round trip with the host's psql
  PGCONNECT_TIMEOUT=5 psql -X -A -t -q -d "$1" -c "$2" 2>/dev/null
}

role_password_ok() { # role_password_ok ROLE PASSWORD
  [[ $(host_psql "postgres://$1:$2@127.0.0.1:$PG_PORT/postgres" 'SELECT 1') == 1 ]]
}

# ensure_database: role tp_capital (SCRAM), database tp_capital_db owned by it, timescaledb extension.
ensure_database() {
  psql_super postgres >/dev/null <<SQL
SELECT 'CREATE ROLE $TP_DB_USER LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$TP_DB_USER')
\gexec
SELECT 'CREATE DATABASE $TP_DB_NAME OWNER $TP_DB_USER' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$TP_DB_NAME')
\gexec
ALTER DATABASE $TP_DB_NAME OWNER TO $TP_DB_USER;
SQL
  # Only set passwords that do not work yet: a new SCRAM salt would invalidate PgBouncer's auth_file.
  if ! role_password_ok "$TP_DB_USER" "$DB_PASSWORD"; then
    psql_super postgres -c "ALTER ROLE $TP_DB_USER WITH LOGIN PASSWORD '$DB_PASSWORD'" </dev/null >/dev/null
    note "password of role $TP_DB_USER set"
  fi
  if ! role_password_ok postgres "$PG_SUPER_PASSWORD"; then
    psql_super postgres -c "ALTER ROLE postgres PASSWORD '$PG_SUPER_PASSWORD'" </dev/null >/dev/null
  fi
  # The grant lets the service give each closed week of signals its search indexes (migration
  # m20251205_000011); the chunks' schema belongs to the superuser. pg_stat_statements is for the
  # operator (docs/operations.md).
  psql_super "$TP_DB_NAME" -c 'SET client_min_messages = warning' -c 'CREATE EXTENSION IF NOT EXISTS timescaledb' \
    -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' \
    -c "GRANT CREATE ON SCHEMA _timescaledb_internal TO $TP_DB_USER" \
    </dev/null >>"$LOG_DIR/pg_ctl.log" 2>&1 || die "CREATE EXTENSION timescaledb failed (see $LOG_DIR/pg_ctl.log)"
  role_password_ok "$TP_DB_USER" "$DB_PASSWORD" || die "role $TP_DB_USER cannot log in with its password"
}

# ---------------------------------------------------------------- pgbouncer

pgbouncer_pid() {
  local pid
  pid=$(read_pid "$HOST_STACK/pgbouncer/pgbouncer.pid")
  if pid_alive "$pid" "$PGB_DIR/pgbouncer.ini"; then printf '%s' "$pid"; fi
}

# refresh_userlist: copy tp_capital's SCRAM secret from pg_authid into PgBouncer's auth_file.
# Sets USERLIST_CHANGED=1 when the file changed. Keeps the existing file when PostgreSQL is down.
USERLIST_CHANGED=0
refresh_userlist() {
  local file=$HOST_STACK/pgbouncer/userlist.txt changed
  USERLIST_CHANGED=0
  if [[ -z $(postgres_pid) ]]; then
    [[ -s $file ]] || die "PgBouncer needs $TP_DB_USER's SCRAM secret but postgres is down: start postgres first"
    return 0
  fi
  changed=$(psql_super postgres -A -t -c "SELECT rolpassword FROM pg_authid WHERE rolname = '$TP_DB_USER'" </dev/null |
    xtask stack userlist) || die "cannot write PgBouncer's auth_file"
  [[ $changed == changed ]] && USERLIST_CHANGED=1
  in_rootfs chown postgres:postgres "$PGB_DIR/userlist.txt"
}

wait_pgbouncer_ready() {
  if ! xtask stack wait pgbouncer --timeout 20 >/dev/null || [[ -z $(pgbouncer_pid) ]]; then
    show_log_tail "$HOST_STACK/pgbouncer/pgbouncer.log"
    die "pgbouncer did not start listening on $PGB_PORT within 20s"
  fi
}

start_pgbouncer() {
  local pid
  pid=$(pgbouncer_pid)
  if [[ -n $pid ]]; then
    refresh_userlist
    if ((USERLIST_CHANGED)); then
      kill -HUP "$pid"
      note "pgbouncer reloaded its auth_file"
    fi
    note "pgbouncer already running (pid $pid)"
    mark_wanted pgbouncer
    return 0
  fi
  require_free_port "$PGB_PORT" pgbouncer
  in_rootfs install -d -o postgres -g postgres -m 700 "$PGB_DIR"
  xtask stack render pgbouncer
  refresh_userlist
  # PgBouncer never runs as root; a root-owned log or pid file would make it exit silently.
  in_rootfs chown -R postgres:postgres "$PGB_DIR"
  ln -sfn "$HOST_STACK/pgbouncer/pgbouncer.log" "$LOG_DIR/pgbouncer.log"
  rootfs_lock
  ensure_mounts
  if ! (
    close_inherited_fds
    # runuser's pam_limits resets the soft open-files limit (often to 1024): raise it to the hard
    # limit, which max_client_conn needs.
    # shellcheck disable=SC2016 # expanded by the inner sh
    as_postgres /bin/sh -c 'ulimit -S -n "$(ulimit -H -n)" 2>/dev/null; exec "$@"' sh \
      /usr/sbin/pgbouncer -d "$PGB_DIR/pgbouncer.ini"
  ) </dev/null >>"$LOG_DIR/pgbouncer-start.log" 2>&1; then
    rootfs_unlock
    show_log_tail "$LOG_DIR/pgbouncer-start.log" 10
    show_log_tail "$HOST_STACK/pgbouncer/pgbouncer.log"
    die "pgbouncer failed to start"
  fi
  rootfs_unlock
  wait_pgbouncer_ready
  mark_wanted pgbouncer
  note "pgbouncer started (pid $(pgbouncer_pid)) on 127.0.0.1:$PGB_PORT"
}

stop_pgbouncer() {
  local pid
  pid=$(pgbouncer_pid)
  [[ -n $pid ]] || return 0
  # SIGINT (PgBouncer >= 1.23): waits for running transactions, not for pooled clients to leave
  # (SIGTERM would wait for the api and ingest to disconnect, i.e. until the SIGKILL).
  stop_pid "$pid" pgbouncer INT 20
  note "pgbouncer stopped (pid $pid)"
}

# ---------------------------------------------------------------- redis

redis_port() { if [[ $1 == master ]]; then printf '%s' "$REDIS_MASTER_PORT"; else printf '%s' "$REDIS_REPLICA_PORT"; fi; }

redis_pid() {
  local pid
  pid=$(read_pid "$RUN_DIR/redis-$1.pid")
  if pid_alive "$pid" "redis-server"; then printf '%s' "$pid"; fi
}

start_redis() {
  local role=$1 port pid args=()
  port=$(redis_port "$role")
  pid=$(redis_pid "$role")
  if [[ -n $pid ]]; then
    note "redis-$role already running (pid $pid)"
  else
    require_free_port "$port" "redis-$role"
    xtask stack render "redis-$role"
    if [[ $role == master ]]; then
      args=(--repl-diskless-sync-delay 0)
    else
      args=(--replicaof 127.0.0.1 "$REDIS_MASTER_PORT" --replica-read-only yes)
    fi
    if ! (
      close_inherited_fds
      exec redis-server "$STACK_DIR/redis-$role/redis.conf" "${args[@]}"
    ) </dev/null >>"$LOG_DIR/redis-$role.log" 2>&1; then
      show_log_tail "$LOG_DIR/redis-$role.log"
      die "redis-$role failed to start"
    fi
  fi
  if ! xtask stack wait "redis-$role" --timeout 20 >/dev/null || [[ -z $(redis_pid "$role") ]]; then
    show_log_tail "$LOG_DIR/redis-$role.log"
    die "redis-$role does not answer PING on $port after 20s"
  fi
  mark_wanted "redis-$role"
  [[ -n $pid ]] || note "redis-$role started (pid $(redis_pid "$role")) on 127.0.0.1:$port"
  # After either one (re)starts, wait for the replica to (re)link: it retries its master every second.
  if [[ -n $(redis_pid replica) ]] && xtask stack probe redis-master; then
    xtask stack wait redis-link --timeout 30 >/dev/null ||
      die "redis-replica has no link to the master after 30s (log: $LOG_DIR/redis-replica.log)"
  fi
}

stop_redis() {
  local role=$1 pid
  pid=$(redis_pid "$role")
  [[ -n $pid ]] || return 0
  # SIGTERM: Redis saves dump.rdb (save points are configured) and exits.
  stop_pid "$pid" "redis-$role" TERM 30
  note "redis-$role stopped (pid $pid)"
}

# ---------------------------------------------------------------- services

# resolve_bin_dir BUILD: BIN_DIR from TP_BIN_DIR, else target/release (built first when BUILD=1).
resolve_bin_dir() {
  local build=$1
  if [[ -n ${TP_BIN_DIR:-} ]]; then
    BIN_DIR=$(realpath -m -- "$TP_BIN_DIR")
    return 0
  fi
  BIN_DIR=${CARGO_TARGET_DIR:-$TP_REPO_ROOT/target}/release
  [[ $build == 1 && ${TP_STACK_BUILD:-1} != 0 ]] || return 0
  if ! command -v cargo >/dev/null 2>&1; then
    warn "cargo not found: using whatever is in $BIN_DIR"
    return 0
  fi
  log "building the services: cargo build --release --bins (set TP_BIN_DIR to use prebuilt binaries)"
  (cd "$TP_REPO_ROOT" && cargo build --release --bins) </dev/null >&2 ||
    die "cargo build failed; the infrastructure is up (TP_STACK_SERVICES=infra with TP_STACK_BUILD=0 skips the build)"
}

service_port() { if [[ $1 == api ]]; then printf '%s' "$API_PORT"; else printf '%s' "$INGEST_PORT"; fi; }

service_pid() {
  local pid
  pid=$(read_pid "$RUN_DIR/$1.pid")
  if pid_alive "$pid" "tp-capital-$1"; then printf '%s' "$pid"; fi
}

run_migrations() {
  local bin=$BIN_DIR/tp-capital-migrate log=$LOG_DIR/migrate.log env
  if [[ ! -x $bin ]]; then
    note "migrate: $bin (not built yet): migrations skipped"
    return 0
  fi
  log "running migrations: tp-capital-migrate up (directly on PostgreSQL :$PG_PORT; log: $log)"
  printf '\n==== %s tp-capital-migrate up\n' "$(date -u +%FT%TZ)" >>"$log"
  env=$(xtask stack env --service migrate) || die "no environment for tp-capital-migrate"
  if ! (
    eval "$env"
    cd "$STACK_DIR"
    close_inherited_fds
    exec timeout 600 "$bin" up
  ) </dev/null >>"$log" 2>&1; then
    show_run_log "$log"
    die "tp-capital-migrate up failed"
  fi
  note "migrations applied"
}

service_args() { if [[ $1 == ingest ]]; then printf 'serve'; fi; }

start_service() {
  local name=$1 port pid bin pidfile log args=() env status code
  port=$(service_port "$name")
  bin=$BIN_DIR/tp-capital-$name
  pidfile=$RUN_DIR/$name.pid
  log=$LOG_DIR/$name.log
  if [[ ! -x $bin ]]; then
    note "$name: $bin (not built yet): skipped"
    return 0
  fi
  pid=$(service_pid "$name")
  if [[ -n $pid && $bin -nt $pidfile ]]; then
    note "$name: the binary changed since pid $pid started: restarting it"
    stop_service "$name"
    pid=
  fi
  if [[ -n $pid ]]; then
    note "$name already running (pid $pid)"
  else
    require_free_port "$port" "$name"
    read -r -a args <<<"$(service_args "$name")"
    env=$(xtask stack env --service "$name") || die "no environment for $name"
    printf '\n==== %s start %s %s\n' "$(date -u +%FT%TZ)" "$bin" "${args[*]}" >>"$log"
    (
      eval "$env"
      cd "$STACK_DIR"
      close_inherited_fds
      exec setsid "$bin" "${args[@]}"
    ) </dev/null >>"$log" 2>&1 &
    pid=$!
    printf '%s\n' "$pid" >"$pidfile"
  fi
  mark_wanted "$name"
  # 200 on /health/live within 60s (exit 3: the process exited during startup).
  status=0
  code=$(xtask stack wait "$name" --timeout 60 --pid "$pid") || status=$?
  if ((status == 3)); then
    show_run_log "$log"
    die "$name (pid $pid) exited during startup"
  elif ((status != 0)); then
    show_run_log "$log"
    stop_service "$name"
    die "$name did not answer 200 on /health/live within 60s (last status: ${code:-none})"
  fi
  note "$name healthy (pid $pid) on http://127.0.0.1:$port"
}

stop_service() {
  local name=$1 pid
  pid=$(service_pid "$name")
  [[ -n $pid ]] || return 0
  stop_pid "$pid" "$name" TERM 30
  note "$name stopped (pid $pid)"
}

# ---------------------------------------------------------------- components

component_pid() {
  case $1 in
    postgres) postgres_pid ;;
    pgbouncer) pgbouncer_pid ;;
    redis-master) redis_pid master ;;
    redis-replica) redis_pid replica ;;
    api | ingest) service_pid "$1" ;;
    *) die "unknown component '$1' (one of: ${COMPONENTS[*]})" ;;
  esac
}

start_component() {
  case $1 in
    postgres) start_postgres ;;
    pgbouncer) start_pgbouncer ;;
    redis-master) start_redis master ;;
    redis-replica) start_redis replica ;;
    api | ingest) start_service "$1" ;;
    *) die "unknown component '$1' (one of: ${COMPONENTS[*]})" ;;
  esac
}

stop_component() {
  case $1 in
    postgres) stop_postgres ;;
    pgbouncer) stop_pgbouncer ;;
    redis-master) stop_redis master ;;
    redis-replica) stop_redis replica ;;
    api | ingest) stop_service "$1" ;;
    *) die "unknown component '$1' (one of: ${COMPONENTS[*]})" ;;
  esac
}

# check_component NAME: prints "healthy|down DETAIL"; true when healthy (real authenticated round trips).
check_component() {
  local name=$1 pid ok=0 detail
  pid=$(component_pid "$name")
  case $name in
    postgres)
      detail="127.0.0.1:$PG_PORT (SELECT 1 as $TP_DB_USER)"
      [[ $(host_psql "postgres://$TP_DB_USER:$DB_PASSWORD@127.0.0.1:$PG_PORT/$TP_DB_NAME" 'SELECT 1') == 1 ]] && ok=1
      ;;
    pgbouncer)
      detail="127.0.0.1:$PGB_PORT (SELECT 1 as $TP_DB_USER through PgBouncer)"
      [[ $(host_psql "postgres://$TP_DB_USER:$DB_PASSWORD@127.0.0.1:$PGB_PORT/$TP_DB_NAME" 'SELECT 1') == 1 ]] && ok=1
      ;;
    redis-master)
      detail="127.0.0.1:$REDIS_MASTER_PORT (PING)"
      xtask stack probe redis-master && ok=1
      ;;
    redis-replica)
      detail="127.0.0.1:$REDIS_REPLICA_PORT (PING, master_link_status:up)"
      xtask stack probe redis-replica && xtask stack probe redis-link && ok=1
      ;;
    api | ingest)
      detail="http://127.0.0.1:$(service_port "$name")/health/ready"
      xtask stack probe "$name-ready" && ok=1
      ;;
  esac
  [[ -n $pid ]] && detail+=" pid $pid"
  if ((ok)); then
    printf 'healthy %s' "$detail"
  else
    printf 'down    %s' "$detail"
    return 1
  fi
}

# ---------------------------------------------------------------- commands

cmd_env() { xtask stack env; }

cmd_status() {
  load_secrets
  local name result rc=0 any=0
  for name in "${COMPONENTS[@]}"; do
    if is_wanted "$name"; then
      any=1
      result=$(check_component "$name") || rc=1
    elif [[ -n $(component_pid "$name") ]]; then
      result=$(check_component "$name") || true
    else
      result="down    (not started by this stack"
      [[ $name == api || $name == ingest ]] && result+=": binary not built yet or TP_STACK_SERVICES=infra"
      result+=")"
    fi
    printf '%-14s %s\n' "$name" "$result"
  done
  ((any)) || {
    printf 'stack %s is not up\n' "$STACK_DIR"
    rc=3
  }
  return "$rc"
}

ensure_host_tools() {
  local wanted=(redis-server:redis-server redis-cli:redis-tools psql:postgresql-client curl:curl)
  rootfs_ready || wanted+=(debootstrap:debootstrap)
  ensure_packages "${wanted[@]}"
}

cmd_up() {
  require_root
  local start=$SECONDS
  acquire_stack_lock
  ensure_host_tools
  load_config --secrets --save
  ensure_rootfs
  log "starting the infrastructure (stack $STACK_ID, state $STACK_DIR)"
  start_postgres
  ensure_database
  start_pgbouncer
  start_redis master
  start_redis replica
  resolve_bin_dir 1
  run_migrations
  if [[ $SERVICES == all ]]; then
    start_service api
    start_service ingest
  else
    note "TP_STACK_SERVICES=infra: api and ingest not started"
  fi
  xtask stack summary $((SECONDS - start))
}

stop_everything() {
  local name
  for name in api ingest pgbouncer redis-replica redis-master postgres; do
    stop_component "$name"
  done
  rm -f "$RUN_DIR"/*.wanted
  release_mounts
}

cmd_down() {
  require_root
  acquire_stack_lock
  stop_everything
  log "stack $STACK_DIR is down (data kept; 'destroy' removes it)"
}

cmd_stop_component() {
  require_root
  acquire_stack_lock
  component_pid "$1" >/dev/null
  if [[ -z $(component_pid "$1") ]]; then
    note "$1 is not running"
    return 0
  fi
  stop_component "$1"
}

cmd_start_component() {
  require_root
  acquire_stack_lock
  load_secrets
  if [[ $1 == postgres || $1 == pgbouncer ]]; then
    rootfs_ready || die "no root filesystem at $ROOTFS: run 'up' first"
  fi
  [[ $1 == api || $1 == ingest ]] && resolve_bin_dir 0
  start_component "$1"
  if [[ $1 == postgres || $1 == pgbouncer ]] && [[ -n $(postgres_pid) && -n $(pgbouncer_pid) ]]; then
    wait_pgbouncer_path
  fi
}

# wait_pgbouncer_path: after a restart, wait until PgBouncer reaches PostgreSQL again
# (it caches a failed server login for server_login_retry seconds).
wait_pgbouncer_path() {
  local deadline=$((SECONDS + 15))
  until [[ $(host_psql "postgres://$TP_DB_USER:$DB_PASSWORD@127.0.0.1:$PGB_PORT/$TP_DB_NAME" 'SELECT 1') == 1 ]]; do
    if ((SECONDS >= deadline)); then
      warn "PgBouncer still cannot reach PostgreSQL after 15s"
      return 0
    fi
    sleep 0.3
  done
}

cmd_destroy() {
  require_root
  assert_removable_state_dir "$STACK_DIR"
  [[ $STACK_ID =~ ^[0-9a-f]{16}$ ]] || die "bad stack id '$STACK_ID'"
  acquire_stack_lock
  stop_everything
  if [[ -d $STACK_DIR/plain-pg ]]; then
    TP_STACK_DIR=$STACK_DIR "$TP_LOCAL_DIR/plain-postgres.sh" down
  fi
  if [[ -d $HOST_STACK ]]; then
    remove_tree "$HOST_STACK"
    note "removed $HOST_STACK"
  fi
  remove_tree "$STACK_DIR"
  log "stack $STACK_DIR destroyed (the cached rootfs $ROOTFS is kept)"
}

usage() {
  cat >&2 <<'EOF'
usage: deploy/local/stack.sh up | down | status | env | stop-component NAME | start-component NAME | destroy | rootfs
       NAME = postgres | pgbouncer | redis-master | redis-replica | api | ingest
EOF
  exit 2
}

main() {
  local cmd=${1:-}
  [[ -n $cmd ]] || usage
  shift
  load_config
  case $cmd in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) cmd_env ;;
    stop-component)
      [[ $# -eq 1 ]] || usage
      cmd_stop_component "$1"
      ;;
    start-component)
      [[ $# -eq 1 ]] || usage
      cmd_start_component "$1"
      ;;
    destroy) cmd_destroy ;;
    rootfs)
      # Build (once) the cached Debian 13 root filesystem and print its path (deploy/docker uses it).
      require_root
      ensure_rootfs
      printf '%s\n' "$ROOTFS"
      ;;
    -h | --help | help) usage ;;
    *) usage ;;
  esac
}

main "$@"
