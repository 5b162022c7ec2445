#!/usr/bin/env bash
# The observability profile of the native stack: Prometheus with the project's alert rules, and the
# exporters of the backing services (Debian's packages), scraping the stack that `stack.sh` runs.
#
#   deploy/local/observability.sh up | down | status | env
#
# Components (ports remembered in $TP_STACK_DIR/observability/ports; an explicit variable wins)
#   prometheus          127.0.0.1:$TP_PROMETHEUS_PORT (9090)  config generated from the stack's ports
#                       (`cargo xtask stack observability render`, xtask/src/local/observability.rs),
#                       rules from deploy/observability/rules/
#   node-exporter       127.0.0.1:$TP_NODE_EXPORTER_PORT (9100)  filesystem of the database volume
#   postgres-exporter   127.0.0.1:$TP_POSTGRES_EXPORTER_PORT (9187)
#   pgbouncer-exporter  127.0.0.1:$TP_PGBOUNCER_EXPORTER_PORT (9127)  as the app role (PgBouncer stats_users);
#                       Debian 13's Go exporter 0.10 (Debian 12's 1.7 cannot read PgBouncer 1.24's SHOW STATS),
#                       fetched with the stack's Debian 13 rootfs apt into $TP_CACHE_DIR/exporters
#   redis-master-exporter / redis-replica-exporter  127.0.0.1:$TP_REDIS_{MASTER,REPLICA}_EXPORTER_PORT (9121/9122)
# Grafana is not packaged for Debian: it runs in the compose `observability` profile only.
# `env` prints TP_PROMETHEUS_URL and TP_METRICS_TARGETS (job=url list of every /metrics scraped).
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STACK=$TP_LOCAL_DIR/stack.sh
RULES_DIR=$TP_REPO_ROOT/deploy/observability/rules
COMPONENTS=(node-exporter postgres-exporter pgbouncer-exporter redis-master-exporter redis-replica-exporter prometheus)

# load_config: the stack's environment, then the profile's folder and PORT[component]
# (xtask/src/local/observability.rs: the variable, else observability/ports, else the default).
load_config() {
  eval "$("$STACK" env)"
  local vars
  vars=$(xtask stack observability vars) || exit 1
  declare -gA PORT=()
  eval "$vars"
}

pidfile() { printf '%s/run/%s.pid' "$OBS_DIR" "$1"; }

start_component() {
  local name=$1 port=${PORT[$1]} pid log=$OBS_DIR/logs/$1.log
  pid=$(read_pid "$(pidfile "$name")")
  if pid_alive "$pid"; then
    note "$name already running (pid $pid)"
    return 0
  fi
  require_free_port "$port" "$name"
  printf '\n==== %s start\n' "$(date -u +%FT%TZ)" >>"$log"
  (
    close_inherited_fds
    cd "$OBS_DIR"
    case $name in
      node-exporter)
        exec setsid prometheus-node-exporter --web.listen-address="127.0.0.1:$port" \
          --collector.disable-defaults --collector.filesystem --collector.meminfo --collector.loadavg --collector.cpu ;;
      postgres-exporter)
        DATA_SOURCE_NAME="${TP_PG_SUPERUSER_URL}?sslmode=disable" \
          exec setsid prometheus-postgres-exporter --web.listen-address="127.0.0.1:$port" ;;
      pgbouncer-exporter)
        exec setsid "$PGBOUNCER_EXPORTER" --web.listen-address="127.0.0.1:$port" --pgBouncer.pid-file= \
          --pgBouncer.connectionString="${TP_CAPITAL_DATABASE_URL%/*}/pgbouncer?sslmode=disable" ;;
      redis-master-exporter | redis-replica-exporter)
        local redis_url=$TP_CAPITAL_REDIS_URL
        [[ $name == redis-replica-exporter ]] && redis_url=$TP_CAPITAL_REDIS_REPLICA_URL
        exec setsid prometheus-redis-exporter -redis.addr "$redis_url" \
          -web.listen-address "127.0.0.1:$port" ;;
      prometheus)
        exec setsid prometheus --config.file="$OBS_DIR/prometheus.yml" --storage.tsdb.path="$OBS_DIR/prometheus-data" \
          --storage.tsdb.retention.time=2d --web.listen-address="127.0.0.1:$port" ;;
    esac
  ) </dev/null >>"$log" 2>&1 &
  pid=$!
  printf '%s\n' "$pid" >"$(pidfile "$name")"
  local path=/metrics status=0
  [[ $name == prometheus ]] && path=/-/ready
  xtask stack wait "http:$port$path" --timeout 30 --pid "$pid" >/dev/null || status=$?
  ((status != 3)) || { show_log_tail "$log"; die "$name exited during startup"; }
  ((status == 0)) || { show_log_tail "$log"; die "$name did not answer on :$port$path within 30s"; }
  note "$name up (pid $pid) on http://127.0.0.1:$port"
}

# ensure_pgbouncer_exporter: unpack Debian 13's exporter once (the stack's rootfs apt downloads it).
ensure_pgbouncer_exporter() {
  local dir=${TP_CACHE_DIR:-/var/cache/tp-capital}/exporters deb
  PGBOUNCER_EXPORTER=$dir/usr/bin/prometheus-pgbouncer-exporter
  [[ -x $PGBOUNCER_EXPORTER ]] && return 0
  mkdir -p "$dir"
  chroot "$TP_ROOTFS_DIR" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    sh -c 'cd /tmp && apt-get download -q prometheus-pgbouncer-exporter' >&2 ||
    die "cannot download prometheus-pgbouncer-exporter with the rootfs's apt ($TP_ROOTFS_DIR)"
  deb=$(find "$TP_ROOTFS_DIR/tmp" -maxdepth 1 -name 'prometheus-pgbouncer-exporter_*.deb' | head -n1)
  dpkg-deb -x "$deb" "$dir" && rm -f "$deb"
  [[ -x $PGBOUNCER_EXPORTER ]] || die "no exporter binary in $deb"
}

cmd_up() {
  ensure_packages prometheus:prometheus promtool:prometheus prometheus-node-exporter:prometheus-node-exporter \
    prometheus-postgres-exporter:prometheus-postgres-exporter prometheus-redis-exporter:prometheus-redis-exporter
  ensure_pgbouncer_exporter
  mkdir -p "$OBS_DIR/run" "$OBS_DIR/logs" "$OBS_DIR/prometheus-data"
  xtask stack observability render # the ports file and prometheus.yml
  promtool check config --syntax-only "$OBS_DIR/prometheus.yml" >/dev/null ||
    die "generated $OBS_DIR/prometheus.yml is invalid"
  local name
  for name in "${COMPONENTS[@]}"; do start_component "$name"; done
  log "observability is up: Prometheus http://127.0.0.1:${PORT[prometheus]} (rules: $RULES_DIR)"
}

cmd_down() {
  local name pid
  for name in "${COMPONENTS[@]}"; do
    pid=$(read_pid "$(pidfile "$name")")
    [[ -n $pid ]] && stop_pid "$pid" "$name" TERM 15
    rm -f "$(pidfile "$name")"
  done
  return 0
}

cmd_status() {
  local name pid
  for name in "${COMPONENTS[@]}"; do
    pid=$(read_pid "$(pidfile "$name")")
    if pid_alive "$pid"; then echo "$name: running (pid $pid) on 127.0.0.1:${PORT[$name]}"
    else echo "$name: stopped"; fi
  done
}

cmd_env() { xtask stack observability env; }

main() {
  local cmd=${1:-}
  case $cmd in
    up | down | status | env) load_config; "cmd_$cmd" ;;
    *) echo "usage: $0 up | down | status | env" >&2; exit 2 ;;
  esac
}

main "$@"
