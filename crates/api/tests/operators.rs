//! The operators' routes in process: the archive (and its legacy alias), re-parse, channels and
//! the ingestion log.

mod common;

use std::sync::Arc;

use actix_web::test;
use common::*;
use domain::ports::{ArchiveEntry, SignalStore};

#[actix_web::test]
async fn the_archive_lists_every_delivery_with_its_outcome() {
    let w = world();
    w.seed().await;
    let all = send(&w, get("/messages")).await.json();
    let rows = all["data"].as_array().expect("data");
    assert_eq!(rows.len(), 5);
    let rejected = send(&w, get("/messages?outcome=rejected")).await.json();
    assert_eq!(rejected["data"].as_array().map(Vec::len), Some(1));
    let row = &rejected["data"][0];
    assert_eq!(row["outcome"], "rejected");
    assert!(row["reason"].as_str().unwrap_or("").contains("asset"));
    assert_eq!(row["message_text"], row["text"]);
    assert_eq!(row["source_channel_id"], CHANNEL.to_string());
    assert!(row["ts"].is_i64());
    let legacy = send(&w, get("/forwarded-messages?channelId=-100200"))
        .await
        .json();
    assert_eq!(legacy["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(legacy["data"][0]["channel_id"], -100200);
    let window = send(&w, get("/messages?from=2025-10-21&to=2025-10-21&limit=2"))
        .await
        .json();
    assert_eq!(window["data"].as_array().map(Vec::len), Some(2));
    let cursor = window["next_cursor"].as_str().expect("more on the 21st");
    let next = send(
        &w,
        get(&format!(
            "/messages?from=2025-10-21&to=2025-10-21&limit=2&cursor={cursor}"
        )),
    )
    .await
    .json();
    assert_eq!(next["data"].as_array().map(Vec::len), Some(1));
    assert!(next["next_cursor"].is_null());
}

#[actix_web::test]
async fn reparse_turns_rejected_calls_into_signals_once() {
    let w = world();
    // Archive a good call as an old parser judged it.
    let call = message(CHANNEL, 77, at(23, 10), BOVAW32);
    let store: Arc<dyn SignalStore> = Arc::new(w.store.clone());
    let mut tx = store.begin().await.expect("begin");
    tx.archive(&[ArchiveEntry {
        message: &call,
        outcome: "rejected",
        reason: Some("old parser"),
        parser_version: "0.0.1",
    }])
    .await
    .expect("archive");
    tx.commit().await.expect("commit");

    let post = |body: serde_json::Value| {
        test::TestRequest::post()
            .uri("/messages/reparse")
            .set_json(body)
    };
    send(&w, post(serde_json::json!({}))).await.problem(401);
    let dry = send(
        &w,
        post(serde_json::json!({"dry_run": true})).insert_header(("X-API-Key", KEY)),
    )
    .await;
    assert_eq!(dry.status, 200);
    let dry = dry.json();
    assert_eq!(
        (dry["examined"].as_u64(), dry["reclassified"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(dry["transitions"][0]["to"], "signal");
    assert_eq!(
        send(&w, get("/signals")).await.json()["data"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );

    let done = send(
        &w,
        post(serde_json::json!({})).insert_header(("X-API-Key", KEY)),
    )
    .await
    .json();
    assert_eq!(done["signals_created"], 1);
    assert!(done["next_cursor"].is_null());
    let signals = send(&w, get("/signals")).await.json();
    assert_eq!(signals["data"][0]["asset"], "BOVAW32");
    let archived = send(&w, get("/messages")).await.json();
    assert_eq!(archived["data"][0]["outcome"], "signal");

    let range = send(
        &w,
        post(serde_json::json!({"from": "2025-10-01", "to": 1761955199000_i64}))
            .insert_header(("X-API-Key", KEY)),
    )
    .await
    .json();
    assert_eq!(range["examined"], 1);
    assert_eq!(range["signals_created"], 0, "never a second signal");
    assert_eq!(
        send(&w, get("/signals")).await.json()["data"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[actix_web::test]
async fn a_dry_run_by_query_needs_no_body_and_writes_nothing() {
    let w = world();
    let call = message(CHANNEL, 78, at(23, 11), BOVAW32);
    let store: Arc<dyn SignalStore> = Arc::new(w.store.clone());
    let mut tx = store.begin().await.expect("begin");
    tx.archive(&[ArchiveEntry {
        message: &call,
        outcome: "ignored",
        reason: Some("old parser"),
        parser_version: "0.0.1",
    }])
    .await
    .expect("archive");
    tx.commit().await.expect("commit");
    let dry = send(
        &w,
        test::TestRequest::post()
            .uri("/messages/reparse?dry_run=true")
            .insert_header(("X-API-Key", KEY)),
    )
    .await
    .json();
    assert_eq!(dry["dry_run"], true);
    // Without from/to the rejected set is re-read: nothing; with the ignored outcome, the call.
    assert_eq!(dry["examined"], 0);
    let dry = send(
        &w,
        test::TestRequest::post()
            .uri("/messages/reparse?dry_run=true")
            .insert_header(("X-API-Key", KEY))
            .set_json(serde_json::json!({"outcome": "ignored"})),
    )
    .await
    .json();
    assert_eq!(
        (dry["new_signals"].as_u64(), dry["signals_created"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(dry["samples"][0]["message_id"], 78);
    assert_eq!(dry["samples"][0]["to"], "signal");
    assert_eq!(
        send(&w, get("/signals")).await.json()["data"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    let bad = send(
        &w,
        test::TestRequest::post()
            .uri("/messages/reparse?dry_run=maybe")
            .insert_header(("X-API-Key", KEY)),
    )
    .await;
    bad.problem(400);
}

#[actix_web::test]
async fn channels_show_activity_and_take_a_label_and_default_kind() {
    let w = world();
    w.seed().await;
    let list = send(&w, get("/channels")).await.json();
    let main = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|c| c["channel_id"] == CHANNEL)
        .cloned()
        .expect("the seeded channel");
    assert_eq!(main["signal_count"], 2);
    assert_eq!(main["messages"]["signal"], 2);
    assert_eq!(main["messages"]["ignored"], 1);
    assert_eq!(main["messages"]["rejected"], 1);
    assert_eq!(main["last_signal_at"], "2025-10-21T14:00:00.000Z");
    assert!(main["label"].is_null());

    let put = |id: i64, body: serde_json::Value| {
        test::TestRequest::put()
            .uri(&format!("/channels/{id}"))
            .insert_header(("X-API-Key", KEY))
            .set_json(body)
    };
    // VALE says no kind: the channel default decides its type.
    let before = send(&w, get("/signals?asset=VALE3")).await.json();
    assert_eq!(before["data"][0]["signal_type"], "Swing Trade");
    let r = send(
        &w,
        put(
            -100200,
            serde_json::json!({"label": "Canal B", "default_kind": "Day Trade"}),
        ),
    )
    .await;
    assert_eq!(r.status, 200);
    let c = r.json();
    assert_eq!(
        (c["label"].as_str(), c["default_kind"].as_str()),
        (Some("Canal B"), Some("day_trade"))
    );
    let after = send(&w, get("/signals?asset=VALE3")).await.json();
    assert_eq!(
        after["data"][0]["signal_type"], "Day Trade",
        "the cache was invalidated"
    );
    assert_eq!(after["data"][0]["channel"], "Canal B");
    let kept = send(&w, put(-100200, serde_json::json!({"label": null})))
        .await
        .json();
    assert!(kept["label"].is_null());
    assert_eq!(
        kept["default_kind"], "day_trade",
        "omitted fields keep their value"
    );
    let fresh = send(&w, put(-555, serde_json::json!({"label": "Novo"})))
        .await
        .json();
    assert_eq!(
        (fresh["signal_count"].as_u64(), fresh["label"].as_str()),
        (Some(0), Some("Novo"))
    );
    send(
        &w,
        test::TestRequest::put()
            .uri("/channels/-1")
            .set_json(serde_json::json!({})),
    )
    .await
    .problem(401);
    send(&w, put(-1, serde_json::json!({})).uri("/channels/abc"))
        .await
        .problem(400);
}

#[actix_web::test]
async fn the_log_comes_from_the_archive_by_level() {
    let w = world();
    w.seed().await;
    let all = send(&w, get("/logs")).await.json();
    let entries = all["data"].as_array().expect("data");
    assert_eq!(entries.len(), 5);
    for e in entries {
        assert!(e["timestamp"].is_string() && e["message"].is_string() && e["context"].is_object());
    }
    let warn = send(&w, get("/logs?level=warn")).await.json();
    let warn = warn["data"].as_array().expect("data");
    assert_eq!(warn.len(), 1);
    assert_eq!(warn[0]["level"], "warn");
    assert!(
        warn[0]["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("Message rejected")
    );
    let info = send(&w, get("/logs?level=info&limit=2")).await.json();
    assert_eq!(info["data"].as_array().map(Vec::len), Some(2));
    let errors = send(&w, get("/logs?level=error")).await.json();
    assert_eq!(errors["data"], serde_json::json!([]));
}
