//! Every metric an alert rule or a Grafana panel names is exported by the running stack: after
//! real traffic (a message ingested, delivered live, read twice), the live `/metrics` of every
//! scrape target (`deploy/local/observability.sh env` → `TP_METRICS_TARGETS`) is compared with
//! the names in `deploy/observability/`. A renamed metric fails here, not on a dashboard.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use e2e::stack_var;
use test_support::api_client::*;

/// Prefixes of the metric names we export or scrape; `up` is Prometheus's own per-target series.
const PREFIXES: &[&str] = &[
    "tpcapital_",
    "process_",
    "pg_",
    "pgbouncer_",
    "redis_",
    "node_",
];

/// Metrics only a configured gateway consumer exports (the stack under test has no gateway):
/// their names are checked against the consumer's source instead ([`gateway_metric_names`]).
const GATEWAY_ONLY: &str = "tpcapital_gateway_";

/// The metric names a PromQL-bearing file mentions: identifiers with one of [`PREFIXES`], and
/// `up`; recording rules (`a:b:c`) and label names are not metrics.
fn metric_names(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|t| !t.contains(':'))
        .filter(|t| *t == "up" || PREFIXES.iter().any(|p| t.starts_with(p)))
        .map(str::to_owned)
        .collect()
}

fn files_under(dir: &Path, ext: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)
        .expect("observability folder")
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path, ext));
        } else if path.extension().is_some_and(|e| e == ext) && !path.ends_with(".test.yml") {
            found.push(path);
        }
    }
    found
}

fn named_metrics() -> BTreeSet<String> {
    let root = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/observability"
    ));
    let mut files = files_under(&root.join("rules"), "yml");
    files.retain(|p| !p.to_string_lossy().ends_with(".test.yml"));
    files.extend(files_under(&root.join("grafana/dashboards"), "json"));
    assert!(files.len() >= 2, "rules and a dashboard: {files:?}");
    files
        .iter()
        .flat_map(|f| metric_names(&std::fs::read_to_string(f).expect("read")))
        .collect()
}

/// Ingests a message while an SSE client listens, and reads the list twice, so every histogram
/// and cache counter has a sample.
async fn exercise(s: &Stack) {
    let ch = unique_channel();
    let mut res = s
        .http
        .get(s.url("/signals/stream"))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("stream");
    let (mut seen, mut ingested) = (String::new(), false);
    let deadline = Instant::now() + Duration::from_secs(20);
    let needle = format!("\"channel_id\":{ch}");
    while !seen.contains(&needle) {
        assert!(Instant::now() < deadline, "no live event: {seen}");
        if !ingested && seen.contains(": connected") {
            let now = chrono::Utc::now().to_rfc3339();
            s.ingest(ch, 1, &now, BOVAW32).await;
            ingested = true;
        }
        match tokio::time::timeout(Duration::from_secs(20), res.chunk()).await {
            Ok(Ok(Some(bytes))) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            other => panic!("stream stopped: {other:?}; got {seen}"),
        }
    }
    for _ in 0..2 {
        let page = s.get(&format!("/signals?limit=5&channel={ch}")).await;
        assert_eq!(page.status, 200, "{}", page.body);
    }
}

/// The `tpcapital_gateway_*` names the pull consumer's code spells as string literals.
fn gateway_metric_names() -> BTreeSet<String> {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crates/ingest/src/gateway"
    ));
    files_under(dir, "rs")
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).expect("read");
            text.split('"')
                .filter(|t| t.starts_with(GATEWAY_ONLY) && !t.contains(char::is_whitespace))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn gateway_metrics_named_by_rules_and_panels_exist_in_the_consumer() {
    let defined = gateway_metric_names();
    assert!(
        !defined.is_empty(),
        "no gateway metric found in crates/ingest/src/gateway"
    );
    let missing: Vec<String> = named_metrics()
        .into_iter()
        .filter(|n| n.starts_with(GATEWAY_ONLY) && !defined.contains(n))
        .collect();
    assert!(
        missing.is_empty(),
        "rules or panels name gateway metrics the consumer does not define: {missing:?} (defined: {defined:?})"
    );
}

#[test]
fn names_are_read_from_promql() {
    let names = metric_names(
        r#"sum by (le) (rate(tpcapital_x_bucket{job="a", tp_capital_volume="db"}[5m])) / up
           - tpcapital:ratio:rate5m + ALERTS{alertstate="firing"}"#,
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["tpcapital_x_bucket", "up"]
    );
}

#[tokio::test]
async fn every_metric_of_the_rules_and_dashboards_is_exported() {
    let Some(s) = stack() else { return };
    let Some(targets) = stack_var("TP_METRICS_TARGETS") else {
        return;
    };
    exercise(&s).await;
    // The pool and signal gauges are sampled periodically; the first samples come at start.
    let mut exported = BTreeSet::new();
    let mut jobs = BTreeSet::new();
    for target in targets.split_whitespace() {
        let (job, url) = target.split_once('=').expect("job=url");
        let text = s
            .http
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .unwrap_or_else(|e| panic!("scrape {job} at {url}: {e}"))
            .text()
            .await
            .expect("exposition");
        jobs.insert(job.to_owned());
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            exported.insert(name.to_owned());
        }
    }
    // `up` is written by Prometheus for every target it scrapes.
    exported.insert("up".to_owned());
    for job in [
        "tp-capital-api",
        "tp-capital-ingest",
        "postgres",
        "pgbouncer",
        "redis-master",
        "redis-replica",
        "node",
    ] {
        assert!(jobs.contains(job), "no scrape target for {job}: {targets}");
    }
    let missing: Vec<String> = named_metrics()
        .into_iter()
        .filter(|n| !exported.contains(n) && !n.starts_with(GATEWAY_ONLY))
        .collect();
    assert!(
        missing.is_empty(),
        "named by a rule or panel but exported by no target: {missing:?}"
    );
}
