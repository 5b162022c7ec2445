//! A signal expires by itself, end to end: posted to the ingest with "até dia <yesterday>", it is
//! listed as open; after one maintenance run (`tp-capital-ingest maintain`, what `serve` runs on
//! its timer) it is `expired` with its history entry, the api's live stream carries the change,
//! and `/signals?status=open` no longer lists it. A later target update replying to it is
//! recorded in its history but does not reopen it.
//!
//! Expiry touches every open signal of a database, so this test runs its own api and ingest on
//! a database of its own (on the stack's server) and its own Redis namespace: the other tests'
//! signals on the shared database stay as they are.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{Duration as Days, SecondsFormat, Utc};
use e2e::{binary, stack_var};
use serde_json::{Value, json};
use test_support::app::TestApp;

async fn get(http: &reqwest::Client, url: &str) -> Value {
    let res = http.get(url).send().await.expect("GET");
    assert_eq!(res.status(), 200, "{url}");
    res.json().await.expect("JSON")
}

#[tokio::test]
async fn a_signal_past_its_validity_expires_in_one_maintenance_run() {
    const TEST: &str = "a_signal_past_its_validity_expires_in_one_maintenance_run";
    let Some(token) = stack_var("TP_CAPITAL_GATEWAY_TOKEN") else {
        return;
    };
    let Some(mut app) = TestApp::new(TEST).await else {
        return;
    };
    let http = app.http.clone();
    let api = app
        .spawn(
            Command::new(binary("tp-capital-api")),
            "TP_CAPITAL_API_BIND",
        )
        .await;
    let mut serve = Command::new(binary("tp-capital-ingest"));
    serve.arg("serve");
    let ingest = app.spawn(serve, "TP_CAPITAL_INGEST_BIND").await;

    // `/health` says which edition runs and the mode in use.
    let health = get(&http, &format!("{api}/health")).await;
    let edition = &health["database_edition"];
    assert!(
        edition["server"]
            .as_str()
            .is_some_and(|s| s.starts_with("PostgreSQL ")),
        "{health}"
    );
    assert!(
        edition["mode"]
            .as_str()
            .is_some_and(|m| m.contains("aggregate=rollup")),
        "{health}"
    );

    // "Yesterday" in B3 time (UTC−3); the message is from the day before.
    let now = Utc::now();
    let yesterday = (now - Days::hours(3)).date_naive() - Days::days(1);
    let text = format!(
        "🟢Swing Trade\n\nAtivo: BOVAW32\nCompra: 1,04 a 1,06\nAlvo 1: 1,15\nAlvo final: 3,50\n\nStop: 0,70\n\n\
         A ordem ficará posicionada no Book até dia {}",
        yesterday.format("%d/%m")
    );
    let channel = -1_009_876_543_210_i64;
    let res = http
        .post(format!("{ingest}/ingest"))
        .header("X-Gateway-Token", &token)
        .json(&json!({
            "channelId": channel.to_string(),
            "messageId": 1,
            "text": text,
            "timestamp": (now - Days::days(2)).to_rfc3339_opts(SecondsFormat::Secs, true),
            "source": "bot",
        }))
        .send()
        .await
        .expect("POST /ingest");
    assert_eq!(res.status(), 200);
    let open = get(
        &http,
        &format!("{api}/signals?channel={channel}&status=open"),
    )
    .await;
    let rows = open["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 1, "{open}");
    let id = rows[0]["id"].as_i64().expect("id");
    let detail = get(&http, &format!("{api}/signals/{id}")).await;
    assert_eq!(detail["valid_until"], yesterday.to_string(), "{detail}");

    let mut stream = http
        .get(format!("{api}/signals/stream"))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("stream");
    assert_eq!(stream.status(), 200);
    let mut seen = String::new();
    let mut ran = false;
    let needle = format!("\"channel_id\":{channel}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(ran && seen.contains(&needle) && seen.contains("\"expired\"")) {
        assert!(Instant::now() < deadline, "no expiry event: {seen}");
        if !ran && seen.contains(": connected") {
            let mut maintain = Command::new(binary("tp-capital-ingest"));
            maintain.arg("maintain").env("TP_CAPITAL_DEV_MODE", "true");
            app.isolate(&mut maintain);
            let out = maintain.stdout(Stdio::piped()).output().expect("maintain");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let said = String::from_utf8_lossy(&out.stdout);
            assert!(said.contains("expired 1 signals"), "{said}");
            ran = true;
        }
        match tokio::time::timeout(Duration::from_secs(20), stream.chunk()).await {
            Ok(Ok(Some(bytes))) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            other => panic!("stream stopped: {other:?}; got {seen}"),
        }
    }

    let open = get(
        &http,
        &format!("{api}/signals?channel={channel}&status=open"),
    )
    .await;
    assert_eq!(open["data"], json!([]), "no longer listed as open: {open}");
    let detail = get(&http, &format!("{api}/signals/{id}")).await;
    assert_eq!(detail["status"], "expired", "{detail}");
    let history = detail["status_history"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let last = history.last().expect("a history entry");
    assert_eq!(last["status"], "expired", "{detail}");
    assert!(
        last["reason"]
            .as_str()
            .is_some_and(|r| r.contains(&yesterday.to_string())),
        "{last}"
    );

    let res = http
        .post(format!("{ingest}/ingest"))
        .header("X-Gateway-Token", &token)
        .json(&json!({
            "channelId": channel.to_string(),
            "messageId": 2,
            "text": "✅ Alvo 1 atingido em BOVAW32! Parabéns a quem entrou.",
            "timestamp": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
            "source": "bot",
            "metadata": {"replyTo": {"messageId": 1}},
        }))
        .send()
        .await
        .expect("POST /ingest");
    assert_eq!(res.status(), 200);
    let detail = get(&http, &format!("{api}/signals/{id}")).await;
    assert_eq!(detail["status"], "expired", "not reopened: {detail}");
    let history = detail["status_history"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let last = history.last().expect("a history entry");
    assert_eq!(
        last["message_id"], 2,
        "the update is in the history: {detail}"
    );
    assert!(
        last["reason"]
            .as_str()
            .is_some_and(|r| r.contains("after expiry (target_hit)")),
        "{last}"
    );
}
