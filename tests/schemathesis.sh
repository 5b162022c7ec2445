#!/usr/bin/env bash
# Runs schemathesis (property-based API testing from the OpenAPI document) against the live api of
# the current stack: every documented operation except the endless /signals/stream and
# /sync-messages (it asks the Telegram gateway to sync: tests/tests/sync_e2e.rs covers it), with the
# admin key, all default checks (server errors, status codes, content types, headers, response
# schemas, positive/negative data, unsupported methods …). Any failure fails the suite.
# Needs the stack's environment (TP_CAPITAL_API_URL, TP_CAPITAL_API_KEY); called by tests/run.sh.
# The venv is cached in $TP_SCHEMATHESIS_VENV (default /var/cache/tp-capital/schemathesis-venv).
set -euo pipefail

: "${TP_CAPITAL_API_URL:?start the stack and eval \"\$(deploy/local/stack.sh env)\" first}"
: "${TP_CAPITAL_API_KEY:?}"
VERSION=4.32.5
VENV=${TP_SCHEMATHESIS_VENV:-/var/cache/tp-capital/schemathesis-venv}
# Debian's interpreter. Both 3.11 builds here can fail inside hypothesis with "SystemError: AST
# constructor recursion depth mismatch" when two threads parse source at once (a CPython race),
# which schemathesis reports as an error: hence one worker.
PYTHON=${TP_SCHEMATHESIS_PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$VERSION"; then
  mkdir -p "$(dirname "$VENV")"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$VERSION"
fi

report_dir=${TP_STACK_DIR:-$(mktemp -d)}/schemathesis
mkdir -p "$report_dir"
exec "$VENV/bin/schemathesis" run "$TP_CAPITAL_API_URL/api-docs/openapi.json" \
  --exclude-path /signals/stream \
  --exclude-path /sync-messages \
  --header "X-API-Key: $TP_CAPITAL_API_KEY" \
  --workers 1 \
  --request-timeout 30 \
  --report junit --report-dir "$report_dir"
