//! The running ingest service under faults (names start with `fault_`: tests/run.sh runs them one
//! at a time, after the others, because they stop shared servers). The database or PgBouncer
//! away: 503 with `Retry-After`, and the gateway's retry stores exactly once; Redis away:
//! ingestion still succeeds and health says degraded. Every stopped component is started again,
//! even when an assertion fails.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_support::ingest_client::*;

/// Asserts a 503 problem with a usable `Retry-After`.
fn assert_retry_later(reply: &Reply) {
    reply.problem(503);
    let after = reply
        .header("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After: {:?}", reply.headers));
    let secs: u64 = after
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After is not seconds: {after}"));
    assert!((1..=60).contains(&secs), "Retry-After {secs}");
}

/// The gateway's behaviour: post until a 2xx, waiting as `Retry-After` says (at most 1 s here).
async fn post_until_stored(s: &Ingest, path: &str, payload: &Value, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let attempt = s
            .http
            .post(s.url(path))
            .header("X-Gateway-Token", &s.token)
            .json(payload)
            .send()
            .await;
        let wait = match attempt {
            Ok(res) if res.status().is_success() => {
                return res.json().await.unwrap_or_else(|e| panic!("receipt: {e}"));
            }
            Ok(res) => {
                let status = res.status().as_u16();
                let after = res
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                let body = res.text().await.unwrap_or_default();
                assert_eq!(status, 503, "only 503 may ask for a retry: {body}");
                assert!(after.is_some(), "a 503 carries Retry-After: {body}");
                Duration::from_millis(after.unwrap_or(1).min(1) * 1000)
            }
            Err(e) => panic!("the ingest service must answer even without a database: {e}"),
        };
        assert!(
            Instant::now() < deadline,
            "{path} was never stored within {within:?}"
        );
        tokio::time::sleep(wait).await;
    }
}

/// Polls `/health/ready` until it answers 200.
async fn wait_ready(s: &Ingest, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let r = s.get("/health/ready").await;
        if r.status == 200 {
            return;
        }
        assert!(Instant::now() < deadline, "not ready again: {}", r.body);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn fault_database_stopped_is_503_with_retry_after_and_the_retry_stores_once() {
    let Some(s) = ingest().await else { return };
    let ch = unique_channel();
    let acknowledged = s.ingest(&message(ch, 1, BOVAW32, recent(20))).await;
    assert_eq!(acknowledged["outcome"], "signal");
    let pending = message(ch, 2, PETR4, recent(10));

    let mut postgres = Stopped::stop("postgres");
    let asked = Instant::now();
    let reply = s.post("/ingest", &pending).await;
    let answered_in = asked.elapsed();
    assert_retry_later(&reply);
    assert!(
        answered_in < Duration::from_secs(35),
        "the gateway gets its 503 in bounded time, not {answered_in:?}"
    );
    // Batches and deletions are refused the same way.
    assert_retry_later(&s.post("/ingest/batch", &json!([pending.clone()])).await);
    assert_retry_later(
        &s.post(
            "/ingest/deletions",
            &json!({"channelId": ch, "messageIds": [1]}),
        )
        .await,
    );
    let health = s.get("/health").await;
    assert_eq!(health.status, 503, "{}", health.body);
    let report = health.json();
    assert_eq!(report["status"], "unhealthy", "{report}");
    assert_eq!(report["database"], "disconnected", "{report}");
    assert_eq!(s.get("/health/ready").await.status, 503);
    assert_eq!(
        s.get("/health/live").await.status,
        200,
        "alive without its database"
    );

    postgres.restart();
    let receipt = post_until_stored(&s, "/ingest", &pending, Duration::from_secs(60)).await;
    assert_eq!(
        receipt["outcome"], "signal",
        "nothing was stored while down: {receipt}"
    );
    assert_eq!(
        s.ingest(&pending).await["outcome"],
        "duplicate",
        "the next retry stores nothing"
    );
    let archive: Vec<i64> = s.archive(ch).await.iter().map(|a| a.message_id).collect();
    assert_eq!(archive, [1, 2], "exactly one row per message");
    let signals: Vec<i64> = s.signals(ch).await.iter().map(|r| r.message_id).collect();
    assert_eq!(
        signals,
        [1, 2],
        "the acknowledged signal survived, the retried one is stored once"
    );
    wait_ready(&s, Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_database_stopped_mid_run_loses_and_duplicates_nothing() {
    let Some(s) = ingest().await else { return };
    let ch = unique_channel();
    const MESSAGES: i64 = 60;
    // A gateway pushing messages one after the other, retrying each until it is stored.
    let gateway = {
        let s = s.clone();
        tokio::spawn(async move {
            let mut outcomes = BTreeMap::<String, usize>::new();
            for id in 1..=MESSAGES {
                let text = if id % 3 == 0 { GREETING } else { BOVAW32 };
                let payload = message(ch, id, text, recent(30));
                let receipt =
                    post_until_stored(&s, "/ingest", &payload, Duration::from_secs(90)).await;
                *outcomes
                    .entry(receipt["outcome"].as_str().unwrap_or("?").to_owned())
                    .or_default() += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            outcomes
        })
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut postgres = Stopped::stop("postgres");
    tokio::time::sleep(Duration::from_secs(3)).await;
    postgres.restart();
    let outcomes = gateway.await.expect("the gateway task");
    let new = outcomes.get("signal").copied().unwrap_or(0)
        + outcomes.get("ignored").copied().unwrap_or(0);
    assert_eq!(
        new + outcomes.get("duplicate").copied().unwrap_or(0),
        MESSAGES as usize,
        "{outcomes:?}"
    );
    let archive = s.archive(ch).await;
    assert_eq!(
        archive.len(),
        MESSAGES as usize,
        "zero lost, zero duplicated"
    );
    let ids: Vec<i64> = archive.iter().map(|a| a.message_id).collect();
    assert_eq!(ids, (1..=MESSAGES).collect::<Vec<_>>());
    assert_eq!(s.signals(ch).await.len(), 40);
    wait_ready(&s, Duration::from_secs(30)).await;
}

#[tokio::test]
async fn fault_pgbouncer_stopped_is_503_and_the_retry_stores_once() {
    let Some(s) = ingest().await else { return };
    let ch = unique_channel();
    let pending = message(ch, 1, BOVAW32, recent(10));
    let mut bouncer = Stopped::stop("pgbouncer");
    assert_retry_later(&s.post("/ingest", &pending).await);
    assert_eq!(s.get("/health").await.status, 503);
    bouncer.restart();
    let receipt = post_until_stored(&s, "/ingest", &pending, Duration::from_secs(60)).await;
    assert_eq!(receipt["outcome"], "signal", "{receipt}");
    assert_eq!(s.archive(ch).await.len(), 1);
    assert_eq!(s.signals(ch).await.len(), 1);
    wait_ready(&s, Duration::from_secs(30)).await;
}

#[tokio::test]
async fn fault_redis_stopped_ingest_still_succeeds_and_health_is_degraded() {
    let Some(s) = ingest().await else { return };
    let ch = unique_channel();
    let failures_before = s
        .metric("tpcapital_ingest_side_effect_failures_total")
        .await;
    let mut redis = Stopped::stop("redis-master");

    let asked = Instant::now();
    let signal = s.ingest(&message(ch, 1, BOVAW32, recent(10))).await;
    assert_eq!(signal["outcome"], "signal", "{signal}");
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "Redis trouble does not hold the gateway: {:?}",
        asked.elapsed()
    );
    let update = s
        .ingest(&message(ch, 2, BOVAW32_TARGET_1_HIT, recent(5)))
        .await;
    assert_eq!(update["outcome"], "update", "{update}");
    let batch = s
        .post("/ingest/batch", &json!([message(ch, 3, PETR4, recent(4))]))
        .await;
    assert_eq!(batch.status, 200, "{}", batch.body);
    let deletion = s
        .post(
            "/ingest/deletions",
            &json!({"channelId": ch, "messageIds": [3]}),
        )
        .await;
    assert_eq!(deletion.status, 200, "{}", deletion.body);

    let (status, health) = s.wait_health("degraded", Duration::from_secs(20)).await;
    assert_eq!(status, 200, "degraded is still 200: {health}");
    assert_eq!(health["database"], "connected", "{health}");
    assert_eq!(health["cache"], "disconnected", "{health}");
    assert!(
        s.metric("tpcapital_ingest_side_effect_failures_total")
            .await
            > failures_before,
        "the lost events are counted"
    );

    let signals = s.signals(ch).await;
    assert_eq!(signals.len(), 2, "{signals:#?}");
    assert_eq!(
        (signals[0].status.as_str(), signals[0].target_index),
        ("target_hit", Some(1))
    );
    assert_eq!(signals[1].status, "cancelled");
    assert_eq!(s.archive(ch).await.len(), 3);

    redis.restart();
    let (status, _) = s.wait_health("healthy", Duration::from_secs(60)).await;
    assert_eq!(status, 200);
    assert_eq!(
        s.ingest(&message(ch, 4, PETR4, recent(1))).await["outcome"],
        "signal"
    );
}
