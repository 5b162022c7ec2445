#!/usr/bin/env bash
# Runs every check and test of the project on a fresh, ephemeral stack: `cargo xtask ci`
# (xtask/src/ci.rs lists the steps: static checks, one build, the native stack on free ports,
# the parallel and fault-injection tests, schemathesis, the deployment files, the Docker stack).
# Usage: ./tests/run.sh            (CI: .ci/run; TP_DOCKER_STACK_TEST=0 skips the Docker stack)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# No incremental caches: a one-off build does not reuse them, and they would double the target's size.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
command -v cargo >/dev/null || { echo "tests/run.sh: cargo is required" >&2; exit 1; }
exec cargo xtask ci "$@"
