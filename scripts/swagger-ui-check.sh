#!/usr/bin/env bash
# Renders the api's Swagger UI in headless Chromium (JavaScript run, as a developer's browser
# would) and checks that it lists every operation of the served OpenAPI document; saves a
# screenshot. Not part of CI (it installs Chromium).
#   ./deploy/local/stack.sh up && ./scripts/swagger-ui-check.sh [screenshot.png]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHOT=${1:-swagger-ui.png}
command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
eval "$("$ROOT/deploy/local/stack.sh" env)"
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
browse() {
  timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --virtual-time-budget=10000 --window-size=1280,2400 "$@" \
    "$TP_CAPITAL_API_URL/swagger-ui/" 2>/dev/null
}
rendered=$(browse --dump-dom |
  python3 -c 'import re,sys; d=sys.stdin.read(); print("\n".join(sorted(set(
    f"{m} {p}" for m, p in re.findall(r"opblock-summary-method\">([A-Z]+)<.*?data-path=\"([^\"]+)\"", d, re.S)))))')
documented=$(curl -fsS "$TP_CAPITAL_API_URL/api-docs/openapi.json" |
  python3 -c 'import json,sys; d=json.load(sys.stdin); print("\n".join(sorted(
    f"{m.upper()} {p}" for p, ops in d["paths"].items() for m in ops
    if m in ("get","put","post","delete","patch","head","options"))))')
browse --screenshot="$SHOT" >/dev/null
echo "Swagger UI lists $(grep -c . <<<"$rendered") operations; the OpenAPI document has $(grep -c . <<<"$documented"); screenshot: $SHOT"
if [[ "$rendered" != "$documented" ]]; then
  diff <(echo "$documented") <(echo "$rendered") || true
  echo "Swagger UI does not list every documented operation" >&2
  exit 1
fi
echo "$rendered"
