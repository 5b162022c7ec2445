//! The legacy routes an older dashboard build calls (`/healthz`, `/telegram-channels`,
//! `DELETE /signals` with `{ingestedAt}`), deprecated in the OpenAPI document, and
//! `/sync-messages` without a configured sync.

mod common;

use actix_web::test;
use common::*;

fn delete_by_reception(body: &str, key: Option<&str>) -> test::TestRequest {
    let mut req = test::TestRequest::delete()
        .uri("/signals")
        .insert_header(("Content-Type", "application/json"))
        .set_payload(body.to_owned());
    if let Some(key) = key {
        req = req.insert_header(("X-API-Key", key));
    }
    req
}

#[actix_web::test]
async fn healthz_answers_the_legacy_liveness() {
    let w = world();
    let r = send(&w, get("/healthz")).await;
    assert_eq!(r.status, 200);
    let body = r.json();
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["service"], "tp-capital");
    assert!(body["uptime"].is_u64());
}

#[actix_web::test]
async fn telegram_channels_is_the_channel_list_with_legacy_field_names() {
    let w = world();
    w.seed().await;
    let body = send(&w, get("/telegram-channels")).await.json();
    let rows = body["data"].as_array().expect("data");
    assert_eq!(rows.len(), 2, "{body}");
    let tp = rows
        .iter()
        .find(|c| c["channel_id"].as_str().and_then(|id| id.parse().ok()) == Some(CHANNEL))
        .expect("the fixture channel");
    assert_eq!(tp["id"], CHANNEL.to_string());
    assert_eq!(tp["label"], CHANNEL.to_string(), "unlabelled: the id");
    assert_eq!(tp["channel_type"], "source");
    assert_eq!(tp["status"], "active");
    assert_eq!(tp["signal_count"], 2);
    assert_eq!(tp["last_signal"], "2025-10-21T14:00:00.000Z");
    for field in ["description", "created_at", "updated_at"] {
        assert!(tp[field].is_string(), "{field}: {tp}");
    }
}

#[actix_web::test]
async fn delete_signals_by_ingested_at_soft_deletes_that_signal_only() {
    let w = world();
    w.seed().await;
    let list = send(&w, get("/signals")).await.json();
    let rows = list["data"].as_array().expect("data");
    assert_eq!(rows.len(), 3);
    let target = &rows[1];
    let at = target["ingested_at"].as_str().expect("ingested_at");
    let body = format!(r#"{{"ingestedAt":"{at}"}}"#);

    let r = send(&w, delete_by_reception(&body, None)).await;
    let p = r.problem(401);
    assert!(p["message"].is_string());

    let r = send(&w, delete_by_reception(&body, Some(KEY))).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["status"], "ok");
    assert_eq!(r.json()["id"], target["id"]);

    let after = send(&w, get("/signals")).await.json();
    let ids: Vec<_> = after["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|s| s["id"].clone())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(!ids.contains(&target["id"]));

    // Again: nothing left at that instant.
    send(&w, delete_by_reception(&body, Some(KEY)))
        .await
        .problem(404);
    // No or a bad instant: a 400 naming the field.
    for bad in [r#"{}"#, r#"{"ingestedAt":"yesterday"}"#, r#"[]"#] {
        let p = send(&w, delete_by_reception(bad, Some(KEY)))
            .await
            .problem(400);
        assert!(p["message"].is_string(), "{bad}: {p}");
    }
}

#[actix_web::test]
async fn the_legacy_routes_are_deprecated_in_the_openapi_document() {
    let w = world();
    let doc = send(&w, get("/api-docs/openapi.json")).await.json();
    let paths = &doc["paths"];
    assert_eq!(paths["/healthz"]["get"]["deprecated"], true);
    assert_eq!(paths["/telegram-channels"]["get"]["deprecated"], true);
    assert_eq!(paths["/signals"]["delete"]["deprecated"], true);
    assert!(
        paths["/signals"]["get"]["deprecated"].is_null(),
        "the list is current"
    );
    assert!(paths["/sync-messages"]["post"].is_object());
}

#[actix_web::test]
async fn sync_messages_without_a_configured_sync_is_a_503_with_a_message() {
    let w = world();
    let req = test::TestRequest::post()
        .uri("/sync-messages")
        .insert_header(("Content-Type", "application/json"))
        .insert_header(("X-API-Key", KEY));
    let p = send(&w, req).await.problem(503);
    assert_eq!(p["success"], false);
    assert!(
        p["message"]
            .as_str()
            .is_some_and(|m| m.contains("TP_CAPITAL_API_INGEST_URL")),
        "{p}"
    );
    // The admin key is checked first.
    let req = test::TestRequest::post().uri("/sync-messages");
    send(&w, req).await.problem(401);
}
