# shellcheck shell=bash
# shellcheck disable=SC2153 # BACKEND, WORK, PROJECT ... are set by test-stack.sh
# The fault run of deploy/docker/test-stack.sh: a bounded constant load (load.py) while the stack loses
# and regains its parts, releases and scales; then the count in the database, the per-phase table and
# the backup/restore drill. Sourced by test-stack.sh (it uses its helpers and variables), never executed.

start_load() {
  phase baseline
  rm -f "$WORK/stop"
  python3 "$TP_DOCKER_DIR/load.py" "$API_URL" "$INGEST_URL" "$GATEWAY_TOKEN" "$CHANNEL" \
    "$WORK/phase" "$WORK/stop" "$WORK/load.json" "${TP_DOCKER_LOAD_RATE:-20}" "${TP_DOCKER_READ_RATE:-20}" \
    2>"$WORK/load.err" &
  LOAD_PID=$!
  sleep 10
}

stop_load() {
  phase drain
  : >"$WORK/stop"
  log "waiting for the last gateway retries (at most 35 s)"
  wait "$LOAD_PID" || {
    cat "$WORK/load.err" >&2
    die "the load generator failed"
  }
  LOAD_PID=
}

kill9() { # kill9 CONTAINER: SIGKILL its main process from the host (a crash, not `docker stop`)
  local pid
  pid=$(docker inspect -f '{{.State.Pid}}' "$1")
  # Pid 0 = not running: `kill 0` would signal this script's own process group.
  if [[ $pid =~ ^[1-9][0-9]*$ ]]; then
    kill -KILL "$pid"
  else
    fail "cannot kill -9 $1: it is not running ($(docker inspect -f '{{.State.Status}}' "$1"))"
  fi
}

run_faults() {
  local id aliases old

  phase redis-master-down
  compose stop -t 10 tp-capital-redis-master >/dev/null
  sleep 10
  compose start tp-capital-redis-master >/dev/null
  wait_healthy tp-capital-redis-master 1 30 || true
  wait_healthy tp-capital-redis-replica 1 30 || true
  sleep 5

  phase pgbouncer-restart
  compose restart -t 10 tp-capital-pgbouncer >/dev/null
  wait_healthy tp-capital-pgbouncer 1 30 || true
  sleep 5

  phase database-down
  compose stop -t 30 tp-capital-timescaledb >/dev/null
  sleep 15
  compose start tp-capital-timescaledb >/dev/null
  wait_healthy tp-capital-timescaledb 1 90 || true
  phase database-recovery
  wait_healthy tp-capital-api 3 60 || true
  sleep 5

  phase kill-9-api
  id=$(first_container tp-capital-api)
  kill9 "$id"
  sleep 2
  wait_healthy tp-capital-api 3 60 || true
  report "- kill -9 api: restart count of the killed replica $(docker inspect -f '{{.RestartCount}}' "$id")"
  sleep 3

  phase kill-9-ingest
  id=$(first_container tp-capital-ingest)
  kill9 "$id"
  sleep 2
  wait_healthy tp-capital-ingest 1 60 || true
  lb_backend_up ingest 1 30 || true
  report "- kill -9 ingest: restart count $(docker inspect -f '{{.RestartCount}}' "$id")"
  sleep 3

  phase ingest-disconnected
  id=$(first_container tp-capital-ingest)
  aliases=$(docker inspect -f "{{range (index .NetworkSettings.Networks \"$BACKEND\").Aliases}}--alias {{.}} {{end}}" "$id")
  docker network disconnect "$BACKEND" "$id"
  sleep 20
  # shellcheck disable=SC2086 # one word per alias flag
  docker network connect $aliases "$BACKEND" "$id"
  phase ingest-reconnected
  lb_backend_up ingest 1 30 || true
  wait_healthy tp-capital-ingest 1 60 || true
  sleep 5

  phase scale-api-3-to-1
  scale_down tp-capital-api 1
  sleep 8
  phase scale-api-1-to-3
  compose up -d --no-deps --no-recreate --scale tp-capital-api=3 tp-capital-api >/dev/null 2>&1
  wait_healthy tp-capital-api 3 60 || true
  lb_backend_up api 3 30 || true
  sleep 3

  canary_and_rollback
  canary_promoted_by_rolling_release
  phase after
  sleep 5
}

canary_and_rollback() {
  local before_main before_canary main canary
  phase canary-10-percent
  compose up -d --no-deps tp-capital-api-canary >/dev/null 2>&1
  wait_healthy tp-capital-api-canary 1 60 || true
  lb_admin ready api_canary
  lb_backend_up api_canary 1 30 || true
  before_main=$(lb_sessions api)
  before_canary=$(lb_sessions api_canary canary)
  sleep 20
  main=$(($(lb_sessions api) - before_main))
  canary=$(($(lb_sessions api_canary canary) - before_canary))
  report "- canary: $canary of $((main + canary)) api requests ($(awk -v c="$canary" -v t="$((main + canary))" 'BEGIN {printf "%.1f", t ? 100 * c / t : 0}') %) went to the canary ($APP_REPO:next) over 20 s"
  phase canary-rollback
  # Out of the balancer first, then a graceful stop: no request meets a closing canary.
  lb_admin drain api_canary
  before_canary=$(lb_sessions api_canary)
  compose stop -t 30 tp-capital-api-canary >/dev/null
  sleep 8
  canary=$(($(lb_sessions api_canary) - before_canary))
  ((canary == 0)) || fail "the canary still received $canary requests after its rollback"
  report "- rollback: canary stopped, $canary requests to it afterwards"
}

# retire CONTAINER BACKEND: out of the balancer first, then a graceful stop (SIGTERM), then removed.
retire() {
  lb_admin drain "$2" "$(backend_ip "$1")"
  sleep 1
  docker stop -t 30 "$1" >/dev/null
  docker rm "$1" >/dev/null
}

# scale_down SERVICE COUNT: retire the highest-numbered containers of SERVICE until COUNT remain.
scale_down() {
  local service=$1 count=$2 id victims
  victims=$(for c in $(containers "$service"); do
    printf '%s %s\n' "$(docker inspect -f '{{index .Config.Labels "com.docker.compose.container-number"}}' "$c")" "$c"
  done | sort -rn | head -n "-$count" | cut -d' ' -f2)
  for id in $victims; do
    retire "$id" "${service#tp-capital-}"
  done
  compose up -d --no-deps --no-recreate --scale "$service=$count" "$service" >/dev/null 2>&1
  # Once DNS has forgotten the retired containers, hand their slots back to the health checks (a new
  # container may get a drained slot's address).
  sleep 3
  lb_admin ready "${service#tp-capital-}"
}

# rolling_replace SERVICE COUNT: one container of the new image at a time beside the old ones (a surge
# of one, as a Kubernetes rolling update with maxSurge 1, maxUnavailable 0): wait until it is healthy
# and in the load balancer, then retire one old container (out of the balancer, then SIGTERM: graceful
# shutdown), and again until none of the old ones is left.
rolling_replace() {
  local service=$1 count=$2 backend=${1#tp-capital-} old new id
  old=$(containers "$service")
  sed -i "s|^TP_CAPITAL_IMAGE=.*|TP_CAPITAL_IMAGE=$APP_REPO:next|" "$WORK/stack.env"
  for id in $old; do
    compose up -d --no-deps --no-recreate --scale "$service=$((count + 1))" "$service" >/dev/null 2>&1
    wait_healthy "$service" $((count + 1)) 90 || true
    lb_backend_up "$backend" $((count + 1)) 30 || true
    # The balancer's slow start (15 s) lets the new replica warm its pools before an old one goes.
    sleep 10
    retire "$id" "$backend"
    # Once DNS has forgotten the retired one, hand its slot back to the health checks (the next new
    # container may get its address).
    sleep 3
    lb_admin ready "$backend"
  done
  compose up -d --no-deps --no-recreate --scale "$service=$count" "$service" >/dev/null 2>&1
  # Slots drained above may be given to new containers later: hand them back to the health checks.
  sleep 3
  lb_admin ready "$backend"
  new=$(for id in $(containers "$service"); do docker inspect -f '{{.Config.Image}}' "$id"; done | sort | uniq -c | tr -s ' ')
  [[ $new == " $count $APP_REPO:next" ]] || fail "$service after the rolling release runs:$new"
  report "- rolling release of $service: now$new"
}

canary_promoted_by_rolling_release() {
  phase canary-again
  compose up -d --no-deps tp-capital-api-canary >/dev/null 2>&1
  wait_healthy tp-capital-api-canary 1 60 || true
  lb_admin ready api_canary
  lb_backend_up api_canary 1 30 || true
  sleep 5
  phase rolling-release-api
  rolling_replace tp-capital-api 3
  phase rolling-release-ingest
  rolling_replace tp-capital-ingest 1
  phase canary-retired
  lb_admin drain api_canary
  compose stop -t 30 tp-capital-api-canary >/dev/null
  sleep 3
}

# ---------------------------------------------------------------- the count

count_in_database() {
  local acked given_up stored dup_archive dup_signals missing
  python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(",".join(map(str, d["acked"])))' "$WORK/load.json" >"$WORK/acked.csv"
  acked=$(tr ',' '\n' <"$WORK/acked.csv" | grep -c . || true)
  given_up=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["given_up"]))' "$WORK/load.json")
  db_sql "CREATE TABLE IF NOT EXISTS public.tp_docker_acked (message_id bigint PRIMARY KEY)" >/dev/null
  db_sql "TRUNCATE public.tp_docker_acked" >/dev/null
  if ((acked > 0)); then
    db_sql "INSERT INTO public.tp_docker_acked SELECT unnest('{$(cat "$WORK/acked.csv")}'::bigint[])" >/dev/null
  fi
  stored=$(db_sql "SELECT count(DISTINCT message_id) FROM forwarded_messages.messages WHERE channel_id = $CHANNEL AND message_id IN (SELECT message_id FROM public.tp_docker_acked)")
  missing=$(db_sql "SELECT count(*) FROM public.tp_docker_acked a WHERE NOT EXISTS (SELECT FROM forwarded_messages.messages m WHERE m.channel_id = $CHANNEL AND m.message_id = a.message_id)")
  dup_archive=$(db_sql "SELECT count(*) FROM (SELECT message_id FROM forwarded_messages.messages WHERE channel_id = $CHANNEL GROUP BY message_id, edit_date HAVING count(*) > 1) d")
  dup_signals=$(db_sql "SELECT count(*) FROM (SELECT message_id FROM signals.signals WHERE channel_id = $CHANNEL GROUP BY message_id, revision HAVING count(*) > 1) d")
  db_sql "DROP TABLE public.tp_docker_acked" >/dev/null
  report ""
  report "| messages | count |"
  report "|---|---|"
  report "| acknowledged (2xx to the gateway) | $acked |"
  report "| stored (acknowledged and in the archive) | $stored |"
  report "| missing (acknowledged, not stored) | $missing |"
  report "| duplicated (archive / signals) | $dup_archive / $dup_signals |"
  report "| given up after 4 attempts (never acknowledged; pull heals them) | $given_up |"
  ((acked > 0)) || fail "no message was acknowledged"
  ((missing == 0)) || fail "$missing acknowledged messages are missing"
  ((dup_archive == 0 && dup_signals == 0)) || fail "duplicates: archive $dup_archive, signals $dup_signals"
}

# restore_drill: back up the database under the stack, replace it by the backup (backup.sh restore drops
# and recreates it), and check that every row and the api are back.
restore_drill() {
  log "backup and restore drill"
  local counts="SELECT (SELECT count(*) FROM forwarded_messages.messages) || ' messages, ' || (SELECT count(*) FROM signals.signals) || ' signals'"
  local before after start=$SECONDS bytes body
  before=$(db_sql "$counts")
  TP_COMPOSE_ENV_FILE=$WORK/stack.env COMPOSE_PROJECT_NAME=$PROJECT TP_COMPOSE_FILE=$COMPOSE_FILE \
    "$TP_DOCKER_DIR/backup.sh" backup "$WORK/drill.dump" 2>/dev/null || fail "backup.sh backup failed"
  bytes=$(stat -c %s "$WORK/drill.dump" 2>/dev/null || echo 0)
  TP_COMPOSE_ENV_FILE=$WORK/stack.env COMPOSE_PROJECT_NAME=$PROJECT TP_COMPOSE_FILE=$COMPOSE_FILE \
    "$TP_DOCKER_DIR/backup.sh" restore "$WORK/drill.dump" 2>/dev/null || fail "backup.sh restore failed"
  after=$(db_sql "$counts")
  wait_healthy tp-capital-api 3 90 || true
  lb_backend_up api 3 30 || true
  body=$(curl -sS -m 10 "$API_URL/signals?channel=$CHANNEL&limit=1" || true)
  [[ $before == "$after" ]] || fail "restore drill: $before before, $after after"
  [[ $body == *'"message_id"'* ]] || fail "restore drill: the api does not serve the restored signals: ${body:0:200}"
  report "- backup/restore drill: pg_dump -Fc of $before ($bytes bytes), database dropped and restored with TimescaleDB's pre/post-restore hooks: $after; api serving again; $((SECONDS - start)) s in all"
}

phase_table() {
  python3 - "$WORK/load.json" >>"$REPORT" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
order = list(d["phases"])
print()
print("| phase | ingest attempts | acked | failed attempts (retried) | reads ok | cache hit | 503 + Retry-After | failed reads | read p99 / max (ms) |")
print("|---|---|---|---|---|---|---|---|---|")
for p in order:
    c = d["phases"][p]
    failed = sum(v for k, v in c.items() if k.startswith("ingest_failed_"))
    kinds = ", ".join(f"{k[14:]}: {v}" for k, v in sorted(c.items()) if k.startswith("ingest_failed_"))
    print(f"| {p} | {c.get('ingest_attempts', 0)} | {c.get('ingest_acked', 0)} | {failed}{' (' + kinds + ')' if kinds else ''} "
          f"| {c.get('reads_ok', 0)} | {c.get('reads_cache_hit', 0)} | {c.get('reads_503_retry_after', 0)} | {c.get('reads_failed', 0)} "
          f"| {c.get('read_p99_ms', '-')} / {c.get('read_max_ms', '-')} |")
errors = d.get("read_errors") or {}
if errors:
    print()
    for p, e in errors.items():
        print(f"- read errors in {p}: {'; '.join(e)}")
PY
  # Failed reads (errors, timeouts) only while the database is down; 503 + Retry-After only while the
  # database path (database or PgBouncer) is down; nothing at all during scaling and releases.
  local line
  while IFS= read -r line; do fail "$line"; done < <(python3 - "$WORK/load.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for p, c in d["phases"].items():
    if c.get("reads_failed", 0) and not p.startswith("database-"):
        print(f"{c['reads_failed']} failed reads in phase {p}")
    if c.get("reads_503_retry_after", 0) and not p.startswith(("database-", "pgbouncer-")):
        print(f"{c['reads_503_retry_after']} reads answered 503 in phase {p}")
    if p.startswith(("canary", "rolling", "scale")) and any(k.startswith("ingest_failed_") for k in c):
        print(f"failed ingest posts in phase {p}: " + ", ".join(f"{k}={v}" for k, v in c.items() if k.startswith("ingest_failed_")))
PY
  )
}

