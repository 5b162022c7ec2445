//! In-process tests of the ingest HTTP surface over the in-memory adapters: every outcome and
//! its events, edits, concurrent single messages, credentials, bad input and the failure
//! behaviour of the store, the cache and the event bus. What needs the real database (payload
//! shapes as stored, idempotency and concurrency, batches, deletions) is tested once, against
//! the real database, in process on a database of each test's own, in `scenarios.rs`.

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::{test, web};
use domain::memory::{MemoryCache, MemoryEvents, MemoryStore};
use domain::ports::{SignalCache as _, SignalQueries, SystemClock};
use domain::services::IngestService;
use domain::{SignalId, SignalStatus};
use serde_json::{Value, json};
use service_kit::config::SecretList;
use service_kit::health::{Component, FnCheck, Health};
use service_kit::http::HttpSettings;
use service_kit::metrics::Metrics;
use service_kit::problem::PROBLEM_JSON;
use test_support::fixtures::{BOVAW32, BOVAW32_TARGET_1_HIT, GREETING, TARGET_BELOW_ENTRY};

use ingest::gateway::sync::GatewaySync;
use ingest::http::{GatewayTokens, IngestApp, app};
use ingest::ingestion::{Ingestion, register_metrics};

const TOKEN: &str = "gw-test-token";
const SYNC_TOKEN: &str = "sync-test-token";
const CHANNEL: i64 = -1_001_649_127_710;

struct Harness {
    store: MemoryStore,
    cache: Arc<MemoryCache>,
    events: Arc<MemoryEvents>,
    state: IngestApp,
}

fn harness() -> Harness {
    service_kit::telemetry::init_silent();
    let store = MemoryStore::new();
    let cache = Arc::new(MemoryCache::new());
    let events = Arc::new(MemoryEvents::new());
    let service = IngestService::new(
        Arc::new(store.clone()),
        events.clone(),
        cache.clone(),
        Arc::new(SystemClock),
    );
    let probe_store = store.clone();
    let probe_cache = cache.clone();
    let health = Health::new("test")
        .with_check(FnCheck::new(Component::Database, move || {
            let s = probe_store.clone();
            async move { s.ping().await.map_err(|e| e.to_string()) }
        }))
        .with_check(FnCheck::new(Component::Cache, move || {
            let c = probe_cache.clone();
            async move { c.ping().await.map_err(|e| e.to_string()) }
        }));
    let metrics = Metrics::install("tp-capital-ingest", "test").expect("metrics");
    register_metrics();
    let state = IngestApp {
        ingestion: web::Data::new(Ingestion::new(service)),
        tokens: web::Data::new(GatewayTokens::new(SecretList::new([TOKEN]))),
        health: web::Data::new(health),
        metrics: web::Data::new(metrics),
        batch_body_limit: 4 * 1024 * 1024,
        sync: web::Data::new(GatewaySync {
            consumer: None,
            limit: 500,
            tokens: SecretList::new([SYNC_TOKEN]),
            dev_mode: false,
        }),
    };
    Harness {
        store,
        cache,
        events,
        state,
    }
}

fn settings() -> HttpSettings {
    HttpSettings::new("127.0.0.1:0".parse().expect("addr"))
}

fn post(uri: &str, body: &Value) -> test::TestRequest {
    test::TestRequest::post()
        .uri(uri)
        .insert_header(("X-Gateway-Token", TOKEN))
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .set_payload(body.to_string())
}

fn msg(message_id: i64, text: &str) -> Value {
    json!({"channelId": CHANNEL.to_string(), "messageId": message_id, "text": text, "telegramDate": "2025-10-20T13:05:00Z"})
}

async fn json_of<B: MessageBody>(res: ServiceResponse<B>) -> (StatusCode, Value) {
    let status = res.status();
    let body = test::read_body(res).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

async fn problem_of<B: MessageBody>(res: ServiceResponse<B>) -> (StatusCode, Value) {
    assert_eq!(
        res.headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some(PROBLEM_JSON)
    );
    json_of(res).await
}

fn unique_id() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static NEXT: AtomicI64 = AtomicI64::new(10_000);
    NEXT.fetch_add(1, Ordering::SeqCst)
}

#[actix_web::test]
async fn every_outcome() {
    let h = harness();
    let svc = test::init_service(app(&settings(), &h.state)).await;
    let cases = [
        (BOVAW32, "signal", true),
        (BOVAW32_TARGET_1_HIT, "update", true),
        (GREETING, "ignored", false),
        (TARGET_BELOW_ENTRY, "rejected", false),
    ];
    let mut signal_id = None;
    for (i, (text, outcome, has_signal)) in cases.into_iter().enumerate() {
        let res =
            test::call_service(&svc, post("/ingest", &msg(i as i64 + 1, text)).to_request()).await;
        let (status, body) = json_of(res).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["success"], true);
        assert_eq!(body["stored"], true);
        assert_eq!(body["outcome"], outcome, "{text}: {body}");
        assert_eq!(body["messageId"], i as i64 + 1);
        assert_eq!(body["signalId"].is_i64(), has_signal, "{body}");
        if outcome == "signal" {
            signal_id = body["signalId"].as_i64();
        }
        if outcome == "update" {
            assert_eq!(
                body["signalId"].as_i64(),
                signal_id,
                "the update hits the signal"
            );
        }
        if outcome == "rejected" || outcome == "ignored" {
            assert!(body["reason"].is_string(), "{body}");
        }
    }
    let state = h.store.snapshot();
    assert_eq!(state.archive.len(), 4, "every message archived");
    let signal = state
        .signals
        .get(&SignalId(signal_id.expect("signal id")))
        .expect("stored signal");
    assert_eq!(signal.call.asset.as_str(), "BOVAW32");
    assert!(matches!(
        signal.status,
        SignalStatus::TargetHit { index: Some(1) }
    ));
    let published = h.events.published();
    assert_eq!(published.len(), 2, "created + status changed");

    // An edit makes a new revision; re-delivering the old version changes nothing.
    let mut edit = msg(1, &BOVAW32.replace("Stop: 0,70", "Stop: 0,80"));
    edit["editDate"] = json!("2025-10-20T13:10:00Z");
    let (_, body) =
        json_of(test::call_service(&svc, post("/ingest", &edit).to_request()).await).await;
    assert_eq!(body["outcome"], "edited", "{body}");
    assert_eq!(body["signalId"].as_i64(), signal_id);
    let (_, body) =
        json_of(test::call_service(&svc, post("/ingest", &edit).to_request()).await).await;
    assert_eq!(body["outcome"], "duplicate");
    assert_eq!(body["stored"], false);
    let state = h.store.snapshot();
    let id = SignalId(signal_id.expect("id"));
    assert_eq!(state.signals[&id].revision, 2);
    assert_eq!(state.revisions[&id].len(), 1, "the old revision is kept");
}

#[actix_web::test]
async fn concurrent_single_messages_each_get_their_own_receipt() {
    let h = harness();
    let svc = test::init_service(app(&settings(), &h.state)).await;
    let payloads: Vec<Value> = (0..40)
        .map(|i| {
            let text = if i % 2 == 0 {
                BOVAW32
            } else {
                "Bom dia pessoal!"
            };
            msg(unique_id(), text)
        })
        .collect();
    let calls = payloads
        .iter()
        .map(|p| svc.call(post("/ingest", p).to_request()));
    let results = futures_util::future::join_all(calls).await;
    for (payload, res) in payloads.iter().zip(results) {
        let (status, body) = json_of(res.expect("response")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["messageId"], payload["messageId"]);
        let expected = if payload["text"] == BOVAW32 {
            "signal"
        } else {
            "ignored"
        };
        assert_eq!(body["outcome"], expected, "{body}");
    }
    let state = h.store.snapshot();
    assert_eq!(state.archive.len(), 40);
    assert_eq!(state.signals.len(), 20);
}

#[actix_web::test]
async fn credentials_are_required_before_the_body_is_read() {
    let h = harness();
    let svc = test::init_service(app(&settings(), &h.state)).await;
    let one = msg(unique_id(), BOVAW32);
    let batch = json!([msg(unique_id(), BOVAW32)]);
    let deletion = json!({"channelId": CHANNEL, "messageIds": [1]});
    let near = &TOKEN[..TOKEN.len() - 1];
    let tokens = [
        None,
        Some(String::new()),
        Some("wrong".to_owned()),
        Some(near.to_owned()),
        Some(format!("{TOKEN}x")),
        Some(format!("{near}0")),
        Some(TOKEN.to_uppercase()),
    ];
    let request = |path: &str, body: String, ct: &str| {
        test::TestRequest::post()
            .uri(path)
            .insert_header((header::CONTENT_TYPE, ct.to_owned()))
            .set_payload(body)
    };
    for (path, body) in [
        ("/ingest", &one),
        ("/ingest/batch", &batch),
        ("/ingest/deletions", &deletion),
    ] {
        for token in &tokens {
            let mut req = request(path, body.to_string(), "application/json");
            if let Some(t) = token {
                req = req.insert_header(("X-Gateway-Token", t.as_str()));
            }
            let res = test::call_service(&svc, req.to_request()).await;
            assert_eq!(
                res.headers()
                    .get(header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok()),
                Some(r#"ApiKey realm="tp-capital", header="X-Gateway-Token""#),
                "RFC 9110: a 401 names its challenge"
            );
            let (status, p) = problem_of(res).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} {token:?}");
            assert_eq!(p["status"], 401);
            assert!(!p.to_string().contains(TOKEN), "the token is never echoed");
        }
        // Credentials elsewhere do not count; a bad body with a bad token is still 401.
        let bearer = request(path, body.to_string(), "application/json")
            .insert_header((header::AUTHORIZATION, format!("Bearer {TOKEN}")));
        let (status, _) = problem_of(test::call_service(&svc, bearer.to_request()).await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: bearer");
        for (body, ct) in [("{not json", "application/json"), ("garbage", "text/plain")] {
            let bad =
                request(path, body.to_owned(), ct).insert_header(("X-Gateway-Token", "wrong"));
            let (status, _) = problem_of(test::call_service(&svc, bad.to_request()).await).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
        }
    }
    assert!(h.store.snapshot().archive.is_empty(), "nothing stored");
    // The right token works.
    let (status, body) =
        json_of(test::call_service(&svc, post("/ingest", &one).to_request()).await).await;
    assert_eq!(
        (status, &body["outcome"]),
        (StatusCode::OK, &json!("signal"))
    );
}

#[actix_web::test]
async fn bad_input_is_a_problem_naming_the_field() {
    let h = harness();
    let svc = test::init_service(app(&settings(), &h.state)).await;
    let raw = |body: &str, ct: &str| {
        test::TestRequest::post()
            .uri("/ingest")
            .insert_header(("X-Gateway-Token", TOKEN))
            .insert_header((header::CONTENT_TYPE, ct.to_owned()))
            .set_payload(body.to_owned())
            .to_request()
    };
    let cases: Vec<(String, &str, StatusCode, Option<&str>)> = vec![
        ("{not json".into(), "application/json", StatusCode::BAD_REQUEST, None),
        ("{}".into(), "application/json", StatusCode::BAD_REQUEST, None),
        ("[]".into(), "application/json", StatusCode::BAD_REQUEST, None),
        (r#"{"channelId": true, "messageId": 1, "timestamp": 1760965500}"#.into(), "application/json", StatusCode::BAD_REQUEST, Some("channelId")),
        (r#"{"channelId": 1, "messageId": "abc", "timestamp": 1760965500}"#.into(), "application/json", StatusCode::BAD_REQUEST, Some("messageId")),
        (r#"{"channelId": 1, "messageId": 1, "timestamp": "yesterday"}"#.into(), "application/json", StatusCode::BAD_REQUEST, Some("timestamp")),
        (r#"{"channelId": 1, "messageId": 1, "text": 5, "timestamp": 1760965500}"#.into(), "application/json", StatusCode::BAD_REQUEST, Some("text")),
        (r#"{"channelId": 1, "messageId": 1, "text": "x"}"#.into(), "application/json", StatusCode::BAD_REQUEST, Some("telegramDate")),
        (msg(1, "x").to_string(), "text/plain", StatusCode::UNSUPPORTED_MEDIA_TYPE, None),
        (json!({"channelId": 1, "messageId": 1, "timestamp": 1760965500, "text": "x".repeat(300 * 1024)}).to_string(), "application/json", StatusCode::PAYLOAD_TOO_LARGE, None),
    ];
    for (body, ct, want, field) in cases {
        let (status, p) = problem_of(test::call_service(&svc, raw(&body, ct)).await).await;
        let shown: String = body.chars().take(60).collect();
        assert_eq!(status, want, "{shown}: {p}");
        assert_eq!(p["status"], want.as_u16());
        if let Some(field) = field {
            assert_eq!(p["field"], field, "{shown}: {p}");
        }
        assert!(!p.to_string().contains("panicked"));
    }
    // {} names the missing field.
    let (_, p) = problem_of(test::call_service(&svc, raw("{}", "application/json")).await).await;
    assert_eq!(p["field"], "channelId", "{p}");

    // Wrong method and unknown route.
    let res = test::call_service(&svc, test::TestRequest::get().uri("/ingest").to_request()).await;
    let (status, _) = problem_of(res).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let res = test::call_service(
        &svc,
        test::TestRequest::put().uri("/ingest/batch").to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    let res = test::call_service(&svc, test::TestRequest::get().uri("/nope").to_request()).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(h.store.snapshot().archive.is_empty(), "nothing stored");
}

#[actix_web::test]
async fn store_down_is_503_with_retry_after_then_the_retry_stores_once() {
    let h = harness();
    let svc = test::init_service(app(&settings(), &h.state)).await;
    let payload = msg(unique_id(), BOVAW32);
    h.store.set_unavailable(true);
    let res = test::call_service(&svc, post("/ingest", &payload).to_request()).await;
    assert!(res.headers().get(header::RETRY_AFTER).is_some());
    let (status, _) = problem_of(res).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let res = test::call_service(&svc, test::TestRequest::get().uri("/health").to_request()).await;
    let (status, health) = json_of(res).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health["status"], "unhealthy");
    assert_eq!(health["database"], "disconnected");
    let res = test::call_service(
        &svc,
        test::TestRequest::get().uri("/health/live").to_request(),
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "liveness does not depend on the database"
    );

    h.store.set_unavailable(false);
    let (status, body) =
        json_of(test::call_service(&svc, post("/ingest", &payload).to_request()).await).await;
    assert_eq!(
        (status, body["outcome"].clone()),
        (StatusCode::OK, json!("signal"))
    );
    assert_eq!(h.store.snapshot().signals.len(), 1);
}

#[actix_web::test]
async fn redis_down_still_ingests_and_health_is_degraded() {
    let h = harness();
    let svc = test::init_service(app(&settings(), &h.state)).await;
    h.cache.set_unavailable(true);
    h.events.set_unavailable(true);
    let (status, body) = json_of(
        test::call_service(
            &svc,
            post("/ingest", &msg(unique_id(), BOVAW32)).to_request(),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["outcome"], "signal");
    assert_eq!(h.store.snapshot().signals.len(), 1);
    assert!(h.events.published().is_empty());
    let (status, health) = json_of(
        test::call_service(&svc, test::TestRequest::get().uri("/health").to_request()).await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], "degraded");
    assert_eq!(health["cache"], "disconnected");
    assert_eq!(health["database"], "connected");

    let res = test::call_service(&svc, test::TestRequest::get().uri("/metrics").to_request()).await;
    let text = String::from_utf8(test::read_body(res).await.to_vec()).expect("utf8");
    let failures = text
        .lines()
        .find(|l| l.starts_with("tpcapital_ingest_side_effect_failures_total"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<f64>().ok())
        .expect("side effect counter");
    assert!(
        failures >= 2.0,
        "invalidation + publish counted: {failures}"
    );
}

#[actix_web::test]
async fn traceparent_continues_into_events_and_metrics_are_exposed() {
    let h = harness();
    let svc = test::init_service(app(&settings(), &h.state)).await;
    let res = test::call_service(
        &svc,
        post("/ingest", &msg(unique_id(), BOVAW32))
            .insert_header((
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let events = h.events.published();
    assert_eq!(events.len(), 1);
    let carried = events[0]
        .traceparent
        .as_ref()
        .map(|t| t.as_str())
        .expect("traceparent in the event");
    assert!(
        carried.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "the gateway's trace continues: {carried}"
    );

    let res = test::call_service(&svc, test::TestRequest::get().uri("/metrics").to_request()).await;
    let text = String::from_utf8(test::read_body(res).await.to_vec()).expect("utf8");
    for needle in [
        r#"tpcapital_ingest_messages_total{outcome="signal"}"#,
        r#"tpcapital_ingest_messages_total{outcome="edited"}"#,
        "tpcapital_ingest_signals_created_total",
        "tpcapital_ingest_last_success_timestamp_seconds",
        r#"route="/ingest""#,
        "tpcapital_http_request_duration_seconds_bucket",
    ] {
        assert!(text.contains(needle), "missing {needle}");
    }
    let res = test::call_service(
        &svc,
        test::TestRequest::get()
            .uri("/api-docs/openapi.json")
            .to_request(),
    )
    .await;
    let (status, doc) = json_of(res).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["paths"]["/ingest/batch"]["post"].is_object());
    assert!(doc["components"]["schemas"]["Problem"].is_object());
}

#[actix_web::test]
async fn gateway_sync_needs_its_token_and_a_gateway() {
    let h = harness();
    let svc = test::init_service(app(&settings(), &h.state)).await;
    for token in [None, Some("wrong"), Some(TOKEN)] {
        let mut req = test::TestRequest::post().uri("/gateway/sync");
        if let Some(t) = token {
            req = req.insert_header(("X-Sync-Token", t));
        }
        let (status, _) = problem_of(test::call_service(&svc, req.to_request()).await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}");
    }
    let req = test::TestRequest::post()
        .uri("/gateway/sync")
        .insert_header(("X-Sync-Token", SYNC_TOKEN))
        .to_request();
    let (status, body) = problem_of(test::call_service(&svc, req).await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["success"], false);
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("TP_CAPITAL_GATEWAY_URL")),
        "{body}"
    );
}
