#!/usr/bin/env bash
# Static checks of deploy/compose.yaml (tests/run.sh runs them on every CI run; no engine needed):
#   - `docker compose config` is valid with deploy/.env.example;
#   - it fails, naming the variable, when any secret is missing;
#   - the backend network is internal, only the load balancer publishes ports, every image is pinned
#     (a tag that is not `latest`, or a digest), every long-running service has a healthcheck, a restart
#     policy and resource limits.
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

COMPOSE_FILE=$TP_REPO_ROOT/deploy/compose.yaml
EXAMPLE=$TP_REPO_ROOT/deploy/.env.example
SECRETS=(TP_PG_SUPERUSER_PASSWORD TP_DB_PASSWORD TP_REDIS_PASSWORD TP_GATEWAY_TOKEN TP_API_KEY)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if ! compose_answers; then
  ensure_packages docker:docker.io
  ensure_compose
fi
config() { docker compose -f "$COMPOSE_FILE" --env-file "$1" --profile canary config --format json; }

# Variables of the caller's environment must not fill in what the env file leaves out.
unset "${SECRETS[@]}" 2>/dev/null || true
config "$EXAMPLE" >"$work/config.json" || die "docker compose config fails with deploy/.env.example"
echo "ok: docker compose config is valid with deploy/.env.example"

for secret in "${SECRETS[@]}"; do
  grep -v "^$secret=" "$EXAMPLE" >"$work/missing.env"
  if config "$work/missing.env" >/dev/null 2>"$work/err"; then
    die "docker compose config accepts a missing $secret"
  fi
  grep -q "required variable $secret is missing a value" "$work/err" ||
    die "missing $secret: unclear message: $(cat "$work/err")"
done
echo "ok: a missing secret fails with a message naming it (${SECRETS[*]})"

# Every variable compose reads is documented in deploy/.env.example.
# shellcheck disable=SC2016 # literal ${ in the pattern
undocumented=$(grep -o '\${[A-Z_]*' "$COMPOSE_FILE" | tr -d '${' | sort -u | while read -r var; do
  grep -q "^$var=" "$EXAMPLE" || printf '%s ' "$var"
done)
[[ -z $undocumented ]] || die "variables of deploy/compose.yaml missing from deploy/.env.example: $undocumented"
echo "ok: every variable of deploy/compose.yaml is documented in deploy/.env.example"

python3 - "$work/config.json" <<'PY'
import json, re, sys
c = json.load(open(sys.argv[1]))
problems = []
nets = c["networks"]
if not nets.get("tp_capital_backend", {}).get("internal"):
    problems.append("network tp_capital_backend is not internal")
for name, s in c["services"].items():
    image = s.get("image", "")
    if "@sha256:" not in image and (":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")):
        problems.append(f"{name}: image {image!r} is not pinned")
    if s.get("ports") and name != "tp-capital-lb":
        problems.append(f"{name} publishes ports {s['ports']}")
    if "tp_capital_backend" not in s.get("networks", {}):
        problems.append(f"{name} is not on tp_capital_backend")
    if not s.get("deploy", {}).get("resources", {}).get("limits"):
        problems.append(f"{name} has no resource limits")
    if name == "tp-capital-migrate":
        continue
    if name != "tp-capital-lb" and not s.get("healthcheck", {}).get("test"):
        problems.append(f"{name} has no healthcheck")
    if s.get("restart") not in ("always", "unless-stopped", "on-failure"):
        problems.append(f"{name} has no restart policy")
for p in c["services"]["tp-capital-lb"].get("ports", []):
    if p.get("host_ip") != "127.0.0.1":
        problems.append(f"tp-capital-lb publishes on {p.get('host_ip')!r} by default (expected 127.0.0.1)")
if problems:
    sys.exit("compose checks failed:\n  - " + "\n  - ".join(problems))
print(f"ok: {len(c['services'])} services; tp_capital_backend internal; only tp-capital-lb publishes "
      "(127.0.0.1); every image pinned; healthchecks, restart policies and limits set")
PY
