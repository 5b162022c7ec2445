#!/usr/bin/env bash
# shellcheck disable=SC2317 # cleanup and teardown_stack run from the EXIT trap
# The compose stack, run for real on this machine (issue 16): engine and Compose plugin installed if
# none answers, base images built from the cached Debian 13 root filesystem (no registry here), our
# image packed from binaries already built, the official images swapped for the local ones through the
# compose variables; then, through the published ports only:
#   1. end to end: a gateway payload ingested, read from the api, served from the cache, seen on SSE;
#   2. isolation: no backend port published; a container on a neighbour network reaches nothing of the
#      backend; inside tp_capital_backend PgBouncer and Redis answer (and the replica refuses writes);
#   3. under a bounded constant load (gateway retries, dashboard reads): redis-master stop/start,
#      PgBouncer restart, database stop/start, kill -9 of an api replica and of the ingest, the ingest
#      cut from tp_capital_backend for 20 s, api scaled 3 -> 1 -> 3, a canary (10 %) and its
#      rollback, then a canary promoted by a rolling release of api and ingest;
#   4. the count in the database: acknowledged, stored, duplicated, missing; failed reads per phase.
# Everything it creates (containers, volumes, networks, our images) is removed at the end; the base
# image and the root filesystems stay cached for the next run.
#
# usage: deploy/docker/test-stack.sh             (as root)
# env:   TP_DOCKER_BIN_DIR      binaries to pack (default target/debug; target/release works too)
#        TP_DOCKER_API_PORT / TP_DOCKER_INGEST_PORT   published ports (default: two free ports)
#        TP_DOCKER_PROJECT      compose project name (default tpc-docker-test)
#        TP_DOCKER_REPORT       where to copy the report (Markdown)
#        TP_DOCKER_KEEP=1       leave the stack running at the end (for debugging)
#        TP_DOCKER_LOG_DIR      on failure, keep every container's log and the load's counts there
#        TP_DOCKER_PRUNE_BASE=1 also remove the base image at the end (CI: its disk is finite; the
#                               root filesystem stays cached and is imported again in about a minute)
# On failure the last lines say in which stage (and load phase) and what failed, with the counts.
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root

PROJECT=${TP_DOCKER_PROJECT:-tpc-docker-test}
[[ $PROJECT =~ ^[a-z0-9][a-z0-9_-]*$ ]] || die "TP_DOCKER_PROJECT must be a compose project name"
BIN_DIR=$(realpath -m -- "${TP_DOCKER_BIN_DIR:-$TP_REPO_ROOT/target/debug}")
COMPOSE_FILE=$TP_REPO_ROOT/deploy/compose.yaml
APP_REPO=tp-capital-test/app
WORK=$(mktemp -d /tmp/tp-capital-docker.XXXXXX)
REPORT=$WORK/report.md
BACKEND=${PROJECT}_tp_capital_backend
NEIGHBOUR=${PROJECT}-neighbour
CHANNEL=-100$((RANDOM % 9000 + 1000))$((RANDOM % 9000 + 1000))
FAILURES=()
LOAD_PID=
STAGE=setup

export DOCKER_BUILDKIT=0 # the classic builder: no buildx plugin here, and it stops at --target

compose() { docker compose -f "$COMPOSE_FILE" --env-file "$WORK/stack.env" -p "$PROJECT" --profile canary "$@"; }
fail() {
  local where=$STAGE
  [[ $STAGE == faults && -f $WORK/phase ]] && where="faults, phase $(cat "$WORK/phase")"
  warn "[$where] $*"
  FAILURES+=("[$where] $*")
}
stage() {
  STAGE=$1
  log "stage: $1"
}
# die (lib.sh's, plus the summary at exit): what stopped the run is listed with the other failures.
die() {
  FAILURES+=("[$STAGE] $*")
  printf 'ERROR: %s\n' "$*" >&2
  exit 1
}
report() { printf '%s\n' "$*" >>"$REPORT"; }
phase() {
  printf '%s\n' "$1" >"$WORK/phase.tmp"
  mv -f "$WORK/phase.tmp" "$WORK/phase"
  printf '%s %s\n' "$(date -u +%T)" "$1" >>"$WORK/phases.log"
  log "phase: $1"
}

cleanup() {
  local rc=$?
  [[ -n $LOAD_PID ]] && kill "$LOAD_PID" 2>/dev/null
  if [[ ${TP_DOCKER_KEEP:-0} == 1 ]]; then
    warn "TP_DOCKER_KEEP=1: the stack stays up (project $PROJECT, env $WORK/stack.env)"
    exit "$rc"
  fi
  if ((rc != 0)) && [[ -f $WORK/stack.env ]]; then
    if [[ -n ${TP_DOCKER_LOG_DIR:-} ]]; then
      mkdir -p "$TP_DOCKER_LOG_DIR"
      compose logs --no-color --timestamps >"$TP_DOCKER_LOG_DIR/compose.log" 2>&1 || true
      cp "$WORK"/load.json "$WORK"/phases.log "$TP_DOCKER_LOG_DIR/" 2>/dev/null || true
      warn "container logs in $TP_DOCKER_LOG_DIR"
    fi
    compose ps -a 2>/dev/null | cut -c1-200 >&2 || true
    compose logs --no-color --tail 15 2>/dev/null | cut -c1-300 >&2 || true
  fi
  teardown_stack
  stop_engine
  rm -rf "$WORK"
  if ((rc != 0)); then
    # Last, so that the end of a CI log says what failed.
    printf '\ndeploy/docker/test-stack.sh FAILED (exit %s) in stage: %s\n' "$rc" "$STAGE" >&2
    local f
    for f in "${FAILURES[@]}"; do printf '  - %s\n' "$f" >&2; done
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

teardown_stack() {
  if [[ -f $WORK/stack.env ]]; then
    compose down -v --remove-orphans --timeout 10 >/dev/null 2>&1 || true
  fi
  docker network rm "$NEIGHBOUR" >/dev/null 2>&1 || true
  docker image ls --format '{{.Repository}}:{{.Tag}}' "$APP_REPO" | xargs -r docker image rm -f >/dev/null 2>&1 || true
  docker image prune -f >/dev/null 2>&1 || true
  if [[ ${TP_DOCKER_PRUNE_BASE:-0} == 1 && -n ${BASE_IMAGE:-} ]]; then
    docker image rm -f "$BASE_IMAGE" >/dev/null 2>&1 || true
  fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# ---------------------------------------------------------------- images and configuration

build_app_image() { # build_app_image TAG: our runtime image from the prebuilt binaries
  local ctx=$WORK/ctx bin
  mkdir -p "$ctx/bin"
  for bin in tp-capital-api tp-capital-ingest tp-capital-migrate; do
    [[ -x $BIN_DIR/$bin ]] || die "$BIN_DIR/$bin is missing: cargo build --workspace --bins first (or set TP_DOCKER_BIN_DIR)"
    # Debug info is not needed in the image (and is most of a debug binary's size).
    objcopy --strip-debug "$BIN_DIR/$bin" "$ctx/bin/$bin"
  done
  docker build -q -f "$TP_REPO_ROOT/deploy/docker/Dockerfile" --target prebuilt \
    --build-arg RUNTIME_IMAGE="$BASE_IMAGE" -t "$1" "$ctx" >/dev/null || die "docker build of $1 failed"
  # The "next release" for the canary and the rolling release: the same binaries, another image.
  printf 'FROM %s\nLABEL org.tp-capital.release=next\nENV TP_CAPITAL_RELEASE=next\n' "$1" |
    docker build -q -t "$APP_REPO:next" - >/dev/null || die "docker build of $APP_REPO:next failed"
}

write_env() {
  local api_port=${TP_DOCKER_API_PORT:-$(free_port)} ingest_port=${TP_DOCKER_INGEST_PORT:-$(free_port)}
  API_URL=http://127.0.0.1:$api_port
  INGEST_URL=http://127.0.0.1:$ingest_port
  GATEWAY_TOKEN=$(random_secret)
  API_KEY=$(random_secret)
  DB_PASSWORD=$(random_secret)
  REDIS_PASSWORD=$(random_secret)
  umask 077
  cat >"$WORK/stack.env" <<EOF
COMPOSE_PROJECT_NAME=$PROJECT
TP_PG_SUPERUSER_PASSWORD=$(random_secret)
TP_DB_PASSWORD=$DB_PASSWORD
TP_REDIS_PASSWORD=$REDIS_PASSWORD
TP_GATEWAY_TOKEN=$GATEWAY_TOKEN
TP_API_KEY=$API_KEY
TP_CAPITAL_IMAGE=$APP_REPO:current
TP_CAPITAL_CANARY_IMAGE=$APP_REPO:next
TP_TIMESCALEDB_IMAGE=$BASE_IMAGE
TP_PGBOUNCER_IMAGE=$BASE_IMAGE
TP_REDIS_IMAGE=$BASE_IMAGE
TP_LB_IMAGE=$BASE_IMAGE
TP_BIND_ADDRESS=127.0.0.1
TP_API_PORT=$api_port
TP_INGEST_PORT=$ingest_port
TP_PG_SHARED_BUFFERS=256MB
TP_CANARY_PERCENT=10
TP_MAINTENANCE_INTERVAL_SECS=0
TP_LOG_FORMAT=json
RUST_LOG=info
EOF
  umask 022
  # Compose prefers the shell's variables to the env file's: a native stack's TP_API_PORT (or any
  # other name above) exported in this shell would otherwise win.
  while IFS='=' read -r name _; do unset "$name"; done <"$WORK/stack.env"
}

# ---------------------------------------------------------------- waiting and probing

containers() { compose ps -q "$@" 2>/dev/null; }
# first_container SERVICE: one container id (no `| head`: compose exits 255 when the pipe closes early).
first_container() {
  local ids
  ids=$(containers "$1")
  printf '%s\n' "${ids%%$'\n'*}"
}

# wait_healthy SERVICE COUNT SECONDS: COUNT containers of SERVICE running and healthy.
wait_healthy() {
  local service=$1 want=$2 deadline=$((SECONDS + $3)) healthy id
  while :; do
    healthy=0
    for id in $(containers "$service"); do
      [[ $(docker inspect -f '{{.State.Health.Status}}' "$id" 2>/dev/null) == healthy ]] && healthy=$((healthy + 1))
    done
    ((healthy >= want)) && return 0
    ((SECONDS < deadline)) || {
      fail "$service: $healthy of $want containers healthy after $3 s"
      return 1
    }
    sleep 1
  done
}

# lb_backend_up BACKEND COUNT SECONDS: the load balancer sees COUNT servers of BACKEND up.
lb_backend_up() {
  local backend=$1 want=$2 deadline=$((SECONDS + $3)) up
  while :; do
    up=$(lb_stats | awk -F, -v b="$backend" '$1 == b && $2 != "BACKEND" && $2 != "FRONTEND" && $18 ~ /^UP/ {n++} END {print n + 0}')
    ((up >= want)) && return 0
    ((SECONDS < deadline)) || {
      fail "load balancer: $up of $want servers of $backend up after $3 s"
      return 1
    }
    sleep 1
  done
}

# in_backend CMD...: run a shell command in a throw-away container on tp_capital_backend.
in_backend() { docker run --rm --network "$BACKEND" "$BASE_IMAGE" bash -c "$*"; }

# lb_stats: HAProxy's CSV statistics, read from inside the backend network (the port is not published).
lb_stats() {
  in_backend 'exec 3<>/dev/tcp/tp-capital-lb/8404 && printf "GET /stats;csv HTTP/1.0\r\n\r\n" >&3 && cat <&3' 2>/dev/null |
    sed -n '/^# pxname/,$p'
}

# lb_sessions BACKEND [SERVER_PREFIX]: total sessions the load balancer sent to BACKEND (only to its
# servers named SERVER_PREFIX*, if given: the canary backend's own servers, not its backups).
lb_sessions() {
  if [[ -n ${2:-} ]]; then
    lb_stats | awk -F, -v b="$1" -v p="$2" '$1 == b && index($2, p) == 1 {n += $8} END {print n + 0}'
  else
    lb_stats | awk -F, -v b="$1" '$1 == b && $2 == "BACKEND" {print $8}'
  fi
}

# lb_admin drain|ready|servers BACKEND [ADDRESS]: HAProxy runtime commands (deploy/docker/haproxy/admin.sh).
lb_admin() { compose exec -T tp-capital-lb bash /tp-capital/admin.sh "$@" >/dev/null; }

backend_ip() { docker inspect -f "{{(index .NetworkSettings.Networks \"$BACKEND\").IPAddress}}" "$1"; }

db_sql() { compose exec -T tp-capital-timescaledb psql -X -A -t -q -h /tmp -p 5435 -U postgres -d tp_capital_db -c "$1"; }

gateway_payload() { # gateway_payload MESSAGE_ID TEXT
  python3 - "$CHANNEL" "$1" "$2" <<'PY'
import json, sys
from datetime import datetime, timezone
now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
print(json.dumps({"channelId": sys.argv[1], "messageId": int(sys.argv[2]), "text": sys.argv[3], "caption": None,
                  "timestamp": now, "telegramDate": now, "receivedAt": now, "photos": [], "mediaRefs": [],
                  "mediaType": "text", "threadId": None, "source": "user_client", "messageType": "channel_post",
                  "chatId": sys.argv[1], "metadata": {}}))
PY
}

post_message() { # post_message MESSAGE_ID TEXT: prints the ingest's answer
  curl -sS -m 10 -X POST "$INGEST_URL/ingest" -H 'Content-Type: application/json' \
    -H "X-Gateway-Token: $GATEWAY_TOKEN" --data-binary "$(gateway_payload "$1" "$2")"
}

# ---------------------------------------------------------------- the stack

bring_up() {
  log "starting the stack (project $PROJECT): api on $API_URL, ingest on $INGEST_URL"
  local start=$SECONDS
  compose up -d --scale tp-capital-api=3 tp-capital-lb >"$WORK/up.log" 2>&1 || {
    cat "$WORK/up.log" >&2
    die "docker compose up failed"
  }
  if ! wait_healthy tp-capital-api 3 120 || ! wait_healthy tp-capital-ingest 1 60; then
    die "the stack did not become healthy"
  fi
  if ! lb_backend_up api 3 30 || ! lb_backend_up ingest 1 30; then
    die "the load balancer does not see the services"
  fi
  report "- stack up (3 api replicas) in $((SECONDS - start)) s"
  report "- migrate status: $(compose run --rm --no-deps -T tp-capital-migrate tp-capital-migrate status 2>/dev/null | grep -o 'mode .*' | tr -s ' ' || true)"
  report "- database: $(compose logs --no-color tp-capital-timescaledb 2>/dev/null | grep -o 'TimescaleDB [0-9.]*, license [a-z]*' | tail -n1)"
}

check_end_to_end() {
  log "end to end through the published ports"
  local id=$((RANDOM * 1000 + 1)) answer body headers seen=0
  answer=$(post_message "$id" $'Swing Trade\nAtivo: VALE3\nCompra: 61,20 a 61,50\nAlvo 1: 64,00\nStop: 59,90')
  [[ $answer == *'"success":true'* && $answer == *'"outcome":"signal"'* ]] || fail "ingest of a gateway payload answered: $answer"
  post_message "$id" $'Swing Trade\nAtivo: VALE3\nCompra: 61,20 a 61,50\nAlvo 1: 64,00\nStop: 59,90' |
    grep -q '"stored":false' || fail "a repeated message was stored twice"
  for _ in $(seq 20); do
    body=$(curl -sS -m 5 "$API_URL/signals?channel=$CHANNEL&limit=10" || true)
    [[ $body == *"\"message_id\":$id"* ]] && {
      seen=1
      break
    }
    sleep 0.25
  done
  ((seen)) || fail "message $id not served by GET /signals: ${body:0:300}"
  # The same query again, on whichever replicas: the shared cache answers (reads go to the Redis
  # replica: give it a moment to receive the entry). Each api replica caches an answer from its
  # second miss, so the query is first read twice per replica.
  for _ in 1 2 3 4 5 6; do curl -sS -m 5 -o /dev/null "$API_URL/signals?channel=$CHANNEL&limit=10" || true; done
  sleep 1
  local hits=0
  for _ in 1 2 3 4 5 6; do
    headers=$(curl -sS -m 5 -D - -o /dev/null "$API_URL/signals?channel=$CHANNEL&limit=10")
    grep -qi '^x-cache: hit' <<<"$headers" && hits=$((hits + 1))
  done
  ((hits >= 4)) || fail "only $hits of 6 repeated reads were cache hits"
  report "- end to end: message $id acknowledged (outcome signal), repeated delivery not stored, read back from GET /signals, $hits/6 repeated reads with X-Cache: hit"

  # SSE: a stream through the load balancer sees a message committed after it opened.
  curl -sS -N -m 20 -H 'Accept: text/event-stream' "$API_URL/signals/stream" >"$WORK/sse.out" 2>/dev/null &
  local sse=$!
  sleep 2
  post_message $((id + 1)) $'Day Trade\nAtivo: ITUB4\nCompra: 33,10\nAlvo 1: 34,00\nStop: 32,50' >/dev/null
  seen=0
  for _ in $(seq 40); do
    grep -q "\"message_id\":$((id + 1))" "$WORK/sse.out" && {
      seen=1
      break
    }
    sleep 0.25
  done
  kill "$sse" 2>/dev/null || true
  wait "$sse" 2>/dev/null || true
  if ((seen)); then report "- SSE: message $((id + 1)) received on /signals/stream through the load balancer"; else fail "message $((id + 1)) not received on /signals/stream: $(head -c 300 "$WORK/sse.out")"; fi
}

check_isolation() {
  log "isolation"
  local id name published others=() ip
  for id in $(containers); do
    published=$(docker inspect -f '{{range $p, $b := .NetworkSettings.Ports}}{{if $b}}{{$p}} {{end}}{{end}}' "$id")
    name=$(docker inspect -f '{{index .Config.Labels "com.docker.compose.service"}}' "$id")
    if [[ -n $published && $name != tp-capital-lb ]]; then fail "$name publishes $published"; fi
  done
  [[ $(docker network inspect -f '{{.Internal}}' "$BACKEND") == true ]] || fail "$BACKEND is not internal"
  docker network create "$NEIGHBOUR" >/dev/null
  for name in tp-capital-timescaledb:5435 tp-capital-pgbouncer:6435 tp-capital-redis-master:6381 tp-capital-redis-replica:6382; do
    ip=$(backend_ip "$(first_container "${name%:*}")")
    others+=("${name%:*}" "$ip:${name#*:}" "$name")
  done
  local reached
  # shellcheck disable=SC2016 # expanded in the neighbour container
  reached=$(docker run --rm --network "$NEIGHBOUR" "$BASE_IMAGE" bash -c '
    while (($#)); do
      svc=$1 byip=$2 byname=$3; shift 3
      for t in "$byip" "$byname"; do
        if timeout 3 bash -c "exec 3<>/dev/tcp/${t%:*}/${t##*:}" 2>/dev/null; then echo "$svc via $t"; fi
      done
    done' sh "${others[@]}")
  [[ -z $reached ]] || fail "reachable from a neighbour network: $reached"
  local inside
  inside=$(in_backend "
    PGPASSWORD=$DB_PASSWORD psql -X -A -t -h tp-capital-pgbouncer -p 6435 -U tp_capital -d tp_capital_db -c 'SELECT 1';
    REDISCLI_AUTH=$REDIS_PASSWORD redis-cli --no-auth-warning -h tp-capital-redis-master -p 6381 ping;
    redis-cli -h tp-capital-redis-master -p 6381 ping 2>&1 | head -c 40; echo;
    REDISCLI_AUTH=$REDIS_PASSWORD redis-cli --no-auth-warning -h tp-capital-redis-replica -p 6382 set probe 1 2>&1 | head -c 60; echo" 2>&1)
  grep -qx 1 <<<"$inside" || fail "PgBouncer does not answer inside the backend: $inside"
  grep -qx PONG <<<"$inside" || fail "Redis does not answer inside the backend: $inside"
  grep -q NOAUTH <<<"$inside" || fail "Redis answered without a password: $inside"
  grep -q READONLY <<<"$inside" || fail "the Redis replica accepted a write: $inside"
  report "- isolation: only tp-capital-lb publishes ports; $BACKEND internal; from network $NEIGHBOUR the database, PgBouncer and Redis are unreachable by name and by address (${reached:-nothing reached}); inside the backend PgBouncer answers SQL as tp_capital, Redis answers PING with AUTH, NOAUTH without, and the replica refuses writes (READONLY)"
  docker network rm "$NEIGHBOUR" >/dev/null
}

# shellcheck source=SCRIPTDIR/faults.sh
source "$TP_DOCKER_DIR/faults.sh"

# ---------------------------------------------------------------- main

main() {
  local start=$SECONDS
  # One run at a time on a machine (worktrees share the engine, the project name and 2 cores).
  exec {RUN_LOCK_FD}>/run/lock/tp-capital-docker-test.lock
  if ! flock -n "$RUN_LOCK_FD"; then
    log "waiting for another deploy/docker/test-stack.sh on this machine (at most 40 min)"
    flock -w 2400 "$RUN_LOCK_FD" || die "another deploy/docker/test-stack.sh still runs after 40 min"
  fi
  stage "install: the Docker engine and the Compose plugin"
  ensure_packages curl:curl python3:python3 objcopy:binutils
  ensure_engine
  ensure_compose
  stage "images: the base image from the root filesystem, ours from $BIN_DIR"
  BASE_IMAGE=$(ensure_base_image)
  # A run interrupted earlier may have left its stack: start clean.
  docker compose -p "$PROJECT" down -v --remove-orphans --timeout 5 >/dev/null 2>&1 || true
  docker network rm "$NEIGHBOUR" >/dev/null 2>&1 || true
  build_app_image "$APP_REPO:current"
  write_env
  report "# deploy/docker/test-stack.sh, $(date -u +%FT%TZ)"
  report ""
  report "Engine $(docker version --format '{{.Server.Version}}'), $(docker compose version --short 2>/dev/null | sed 's/^/Compose /'); images: $BASE_IMAGE for TimescaleDB/PgBouncer/Redis/HAProxy, $APP_REPO from $BIN_DIR; channel $CHANNEL."
  report ""
  stage "stack up"
  bring_up
  stage "end to end"
  check_end_to_end
  stage isolation
  check_isolation
  stage faults
  log "faults under load (${TP_DOCKER_LOAD_RATE:-20} ingest posts/s, ${TP_DOCKER_READ_RATE:-20} reads/s)"
  start_load
  run_faults
  stop_load
  stage "count: messages in the database, reads per phase"
  count_in_database
  phase_table
  stage "backup and restore drill"
  restore_drill
  stage report
  report ""
  report "Total $((SECONDS - start)) s. Failures: ${#FAILURES[@]}."
  for f in "${FAILURES[@]}"; do report "- FAILED: $f"; done
  cat "$REPORT"
  [[ -z ${TP_DOCKER_REPORT:-} ]] || cp "$REPORT" "$TP_DOCKER_REPORT"
  ((${#FAILURES[@]} == 0)) || die "deploy/docker/test-stack.sh: ${#FAILURES[@]} failure(s) (listed below)"
  log "deploy/docker/test-stack.sh: all green"
}

# One line: bash has read all of it before running it (editing this file cannot disturb a run).
main "$@"; exit
