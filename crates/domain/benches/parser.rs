//! Parser throughput over the fixture corpus: every shared case, every legacy message and every
//! case of the team's corpus by family (`fixtures/corpus/*.json`).
//! `cargo bench -p domain --bench parser`; the figure per message is the corpus time divided by
//! its size (recorded in docs/benchmarks.md).

use std::hint::black_box;
use std::time::Duration;

use chrono::NaiveDate;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::Value;

fn corpus() -> Vec<String> {
    let cases: Value =
        serde_json::from_str(include_str!("../../../fixtures/parser-cases.json")).expect("cases");
    let legacy: Value = serde_json::from_str(include_str!("../../../fixtures/legacy-samples.json"))
        .expect("legacy");
    let mut texts: Vec<String> = cases["cases"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["text"].as_str().map(str::to_owned))
        .collect();
    for section in [
        "parser_unit_tests",
        "other_test_fixtures",
        "doc_message_examples",
    ] {
        texts.extend(
            legacy[section]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["text"].as_str().map(str::to_owned)),
        );
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/corpus");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("fixtures/corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for path in files {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read"))
            .expect("corpus JSON");
        texts.extend(
            doc["cases"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["text"].as_str().map(str::to_owned)),
        );
    }
    texts
}

fn bench(c: &mut Criterion) {
    let texts = corpus();
    let date = NaiveDate::from_ymd_opt(2025, 10, 20).expect("date");
    let mut group = c.benchmark_group("parser");
    group.throughput(Throughput::Elements(texts.len() as u64));
    group.bench_function(format!("corpus_{}_messages", texts.len()), |b| {
        b.iter(|| {
            for t in &texts {
                black_box(domain::parse(black_box(t), date));
            }
        })
    });
    group.finish();
    let canonical = &texts[0];
    c.bench_function("parser/canonical_message", |b| {
        b.iter(|| black_box(domain::parse(black_box(canonical), date)))
    });

    // One benchmark per message, for the median per message (scripts/bench-parser.sh).
    let mut each = c.benchmark_group("parser_per_message");
    each.warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_millis(300))
        .sample_size(20);
    for (i, t) in texts.iter().enumerate() {
        each.bench_function(format!("{i:03}"), |b| {
            b.iter(|| black_box(domain::parse(black_box(t), date)))
        });
    }
    each.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
