#!/usr/bin/env bash
# Static checks of the compose `observability` profile (deploy/compose.observability.yaml), run by
# tests/run.sh next to deploy/docker/check-config.sh (no engine needed):
#   - merged with deploy/compose.yaml it is valid with deploy/.env.example and the profile on;
#   - without TP_GRAFANA_ADMIN_PASSWORD it fails naming it, while the stack alone still needs none of it;
#   - every image is pinned, every variable it reads is documented in deploy/.env.example;
#   - Prometheus's compose scrape config is valid and names every job the alert rules select.
set -euo pipefail

# shellcheck source=SCRIPTDIR/../docker/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../docker/lib.sh"

DEPLOY=$TP_REPO_ROOT/deploy
PROFILE_FILE=$DEPLOY/compose.observability.yaml
EXAMPLE=$DEPLOY/.env.example
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if ! compose_answers; then
  ensure_packages docker:docker.io
  ensure_compose
fi
unset TP_GRAFANA_ADMIN_PASSWORD 2>/dev/null || true
merged() { docker compose -f "$DEPLOY/compose.yaml" -f "$PROFILE_FILE" --env-file "$1" --profile observability config --format json; }

merged "$EXAMPLE" >"$work/config.json" || die "the observability profile's compose config fails with deploy/.env.example"
echo "ok: compose config with the observability profile is valid"

grep -v '^TP_GRAFANA_ADMIN_PASSWORD=' "$EXAMPLE" >"$work/missing.env"
if merged "$work/missing.env" >/dev/null 2>"$work/err"; then
  die "the observability profile accepts a missing TP_GRAFANA_ADMIN_PASSWORD"
fi
grep -q 'required variable TP_GRAFANA_ADMIN_PASSWORD is missing' "$work/err" ||
  die "missing TP_GRAFANA_ADMIN_PASSWORD: unclear message: $(cat "$work/err")"
docker compose -f "$DEPLOY/compose.yaml" --env-file "$work/missing.env" config -q ||
  die "the stack without the observability profile needs TP_GRAFANA_ADMIN_PASSWORD"
echo "ok: Grafana's password is required by the profile only"

# shellcheck disable=SC2016 # literal ${ in the pattern
undocumented=$(grep -o '\${[A-Z_]*' "$PROFILE_FILE" | tr -d '${' | sort -u | while read -r var; do
  grep -q "^$var=" "$EXAMPLE" || printf '%s ' "$var"
done)
[[ -z $undocumented ]] || die "variables of $PROFILE_FILE missing from deploy/.env.example: $undocumented"

python3 - "$work/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
problems = []
for name, s in c["services"].items():
    image = s.get("image", "")
    if "@sha256:" not in image and (":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")):
        problems.append(f"{name}: image {image!r} is not pinned")
    if "observability" in s.get("profiles", []) and not s.get("deploy", {}).get("resources", {}).get("limits"):
        problems.append(f"{name}: no resource limits")
    if s.get("ports") and name not in ("tp-capital-lb", "tp-capital-prometheus", "tp-capital-grafana"):
        problems.append(f"{name} publishes ports")
if problems:
    sys.exit("\n".join(problems))
print("ok: every image pinned, limits set, only the load balancer and the two UIs publish")
PY

promtool check config --syntax-only "$DEPLOY/observability/prometheus/compose.yml" >/dev/null ||
  die "deploy/observability/prometheus/compose.yml is invalid"
for job in $(grep -o 'job="[a-z-]*"' "$DEPLOY/observability/rules/tp-capital.rules.yml" | sort -u | cut -d'"' -f2); do
  grep -q "job_name: $job\$" "$DEPLOY/observability/prometheus/compose.yml" ||
    die "the alert rules select job $job, which the compose scrape config lacks"
done
echo "ok: the compose scrape config has every job the rules select"
