#!/usr/bin/env bash
# Parser benchmark: criterion over the fixture corpus (shared cases + legacy messages), then the
# median of the per-message medians, the figure docs/benchmarks.md records.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo bench -p domain --bench parser -- --noplot "$@"
python3 - <<'PY'
import glob, json, statistics
medians = [json.load(open(f))["median"]["point_estimate"]
           for f in glob.glob("target/criterion/parser_per_message/*/new/estimates.json")]
corpus = glob.glob("target/criterion/parser/corpus_*/new/estimates.json")
print(f"messages: {len(medians)}")
print(f"median per message: {statistics.median(medians):.0f} ns "
      f"(p90 {sorted(medians)[int(len(medians) * 0.9)]:.0f} ns, max {max(medians):.0f} ns)")
if corpus:
    total = json.load(open(corpus[0]))["median"]["point_estimate"]
    print(f"whole corpus: {total / 1000:.1f} us = {total / len(medians):.0f} ns per message on average")
PY
