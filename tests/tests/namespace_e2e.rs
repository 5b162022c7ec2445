//! Both binaries honour `TP_CAPITAL_REDIS_NAMESPACE`: an api and an ingest started with their
//! own namespace (on the stack's database and Redis) still see each other's events, so a
//! deployment that sets it keeps its live stream and cache invalidation.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use e2e::{binary, stack_var};
use serde_json::json;
use test_support::process::{Service, spawn_ready};

/// Starts `name` (`args`) on a free port under `bind_var`, in `namespace`, once ready.
async fn start(
    http: &reqwest::Client,
    name: &str,
    args: &[&str],
    bind_var: &str,
    namespace: &str,
) -> (Service, String) {
    let mut cmd = Command::new(binary(name));
    cmd.args(args)
        .env("TP_CAPITAL_REDIS_NAMESPACE", namespace)
        .env("TP_CAPITAL_MAINTENANCE_INTERVAL_SECS", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    spawn_ready(http, cmd, bind_var).await
}

#[tokio::test]
async fn api_and_ingest_share_a_custom_redis_namespace() {
    let Some(token) = stack_var("TP_CAPITAL_GATEWAY_TOKEN") else {
        return;
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client");
    let namespace = format!("e2e-ns-{}", std::process::id());
    let (_api, api) = start(
        &http,
        "tp-capital-api",
        &[],
        "TP_CAPITAL_API_BIND",
        &namespace,
    )
    .await;
    let (_ingest, ingest) = start(
        &http,
        "tp-capital-ingest",
        &["serve"],
        "TP_CAPITAL_INGEST_BIND",
        &namespace,
    )
    .await;

    let mut stream = http
        .get(format!("{api}/signals/stream"))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("stream");
    assert_eq!(stream.status(), 200);
    let channel = -1_900_000_000_000 - i64::from(std::process::id());
    let needle = format!("\"channel_id\":{channel}");
    let mut seen = String::new();
    let mut ingested = false;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !seen.contains(&needle) {
        assert!(
            Instant::now() < deadline,
            "no event in namespace {namespace}: {seen}"
        );
        if !ingested && seen.contains(": connected") {
            let reply = http
                .post(format!("{ingest}/ingest"))
                .header("X-Gateway-Token", &token)
                .json(&json!({
                    "channelId": channel, "messageId": 1, "timestamp": "2025-10-24T10:00:00Z",
                    "text": "Ativo: BOVAW32\nCompra: 1,04 a 1,06\nAlvo 1: 1,15\nStop: 0,70"
                }))
                .send()
                .await
                .expect("ingest");
            assert_eq!(reply.status(), 200);
            ingested = true;
        }
        match tokio::time::timeout(Duration::from_secs(20), stream.chunk()).await {
            Ok(Ok(Some(bytes))) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            other => panic!("stream stopped: {other:?}; got {seen}"),
        }
    }
    assert!(seen.contains("BOVAW32"), "{seen}");
}
