//! `/signals` in process: legacy and new fields with their types, the dashboard's query, every
//! filter, keyset pages, the cache (hit, invalidation, Redis down), detail, delete, stats and
//! export.

mod common;

use actix_web::test;
use common::*;
use domain::ports::{SignalEventKind, SignalQueries};

#[actix_web::test]
async fn rows_carry_the_legacy_fields_with_legacy_types_and_the_new_ones() {
    let w = world();
    w.seed().await;
    let r = send(&w, get("/signals?limit=10")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = r.json();
    let rows = body["data"].as_array().expect("data array");
    assert_eq!(rows.len(), 3);
    assert!(body["next_cursor"].is_null());
    let bova = rows
        .iter()
        .find(|r| r["asset"] == "BOVAW32")
        .expect("the BOVAW32 signal");
    assert!(bova["id"].is_i64());
    assert_eq!(bova["ts"], at(20, 13).timestamp_millis());
    assert_eq!(bova["channel"], CHANNEL.to_string());
    assert_eq!(bova["signal_type"], "Swing Trade");
    assert_eq!(bova["buy_min"], 1.04);
    assert_eq!(bova["buy_max"], 1.06);
    assert_eq!(bova["target_1"], 1.15);
    assert_eq!(bova["target_2"], 2.15);
    assert_eq!(bova["target_final"], 3.5);
    assert_eq!(bova["stop"], 0.7);
    assert_eq!(bova["raw_message"], BOVAW32);
    assert_eq!(bova["source"], "bot");
    for t in ["ingested_at", "created_at", "updated_at"] {
        let text = bova[t].as_str().expect("ISO timestamp");
        assert!(
            chrono::DateTime::parse_from_rfc3339(text).is_ok() && text.ends_with('Z'),
            "{t} = {text}"
        );
    }
    assert_eq!(bova["channel_id"], CHANNEL);
    assert_eq!(bova["message_id"], 1);
    assert_eq!(bova["direction"], "long");
    assert_eq!(bova["targets"], serde_json::json!([1.15, 2.15]));
    assert_eq!(bova["status"], "open");
    assert_eq!(bova["valid_until"], "2025-10-28");
    assert_eq!(bova["revision"], 1);
    assert_eq!(bova["kind"], "swing_trade");
    let petr = rows.iter().find(|r| r["asset"] == "PETR4").expect("PETR4");
    assert_eq!(petr["signal_type"], "Day Trade");
    assert!(petr["target_2"].is_null(), "absent prices are null");
    let order: Vec<i64> = rows.iter().map(|r| r["ts"].as_i64().unwrap_or(0)).collect();
    assert!(
        order.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {order:?}"
    );
}

#[actix_web::test]
async fn the_dashboards_query_works_unchanged() {
    let w = world();
    w.seed().await;
    w.ingest(&[message(
        CHANNEL,
        9,
        at(1, 3),
        PETR4.replace("PETR4", "ITUB4").as_str(),
    )])
    .await;
    let october = send(&w, get("/signals?from=2025-10-01&to=2025-10-31"))
        .await
        .json();
    assert_eq!(
        october["data"].as_array().map(Vec::len),
        Some(4),
        "the month's São Paulo days: 31 October 23:00 UTC and 1 October 00:00 -03:00 included"
    );
    let query =
        "/signals?limit=50&channel=&type=Swing%20Trade&search=bova&from=2025-10-01&to=2025-10-31";
    let r = send(&w, get(query)).await.json();
    let assets: Vec<&str> = r["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|r| r["asset"].as_str())
        .collect();
    assert_eq!(assets, vec!["BOVAW32"]);
    let day = send(&w, get("/signals?from=2025-10-21&to=2025-10-21"))
        .await
        .json();
    assert_eq!(
        day["data"][0]["asset"], "PETR4",
        "to=date covers that whole day"
    );
    let ms = at(21, 0).timestamp_millis();
    let epoch = send(&w, get(&format!("/signals?from={ms}"))).await.json();
    assert_eq!(epoch["data"].as_array().map(Vec::len), Some(2));
    let iso = send(&w, get("/signals?to=2025-10-20T13:00:00Z"))
        .await
        .json();
    assert_eq!(
        iso["data"].as_array().map(Vec::len),
        Some(2),
        "BOVA at 13:00 and ITUB"
    );
}

#[actix_web::test]
async fn every_filter_is_applied() {
    let w = world();
    w.seed().await;
    let count = |v: serde_json::Value| v["data"].as_array().map_or(0, Vec::len);
    let cases = [
        ("/signals?type=day_trade", 1),
        ("/signals?type=Swing%20Trade", 2),
        ("/signals?asset=petr4", 1),
        ("/signals?asset=ALVO1", 0),
        (&format!("/signals?channel={CHANNEL}") as &str, 2),
        ("/signals?channel=-100200", 1),
        ("/signals?status=open", 3),
        ("/signals?status=stopped", 0),
        ("/signals?search=VALE", 1),
        ("/signals?search=ordem%20fica", 1),
    ];
    for (uri, expected) in cases {
        let r = send(&w, get(uri)).await;
        assert_eq!(r.status, 200, "{uri}");
        assert_eq!(count(r.json()), expected, "{uri}");
    }
    // A label set on the channel filters and shows as `channel`.
    let put = send(
        &w,
        test::TestRequest::put()
            .uri(&format!("/channels/{CHANNEL}"))
            .insert_header(("X-API-Key", KEY))
            .set_json(serde_json::json!({"label": "TP Capital"})),
    )
    .await;
    assert_eq!(put.status, 200);
    let r = send(&w, get("/signals?channel=tp%20capital")).await.json();
    assert_eq!(count(r.clone()), 2);
    assert_eq!(r["data"][0]["channel"], "TP Capital");
}

#[actix_web::test]
async fn keyset_pages_walk_everything_once() {
    let w = world();
    let messages: Vec<_> = (0..7)
        .map(|i| message(CHANNEL, 100 + i, at(10 + i as u32, 12), PETR4))
        .collect();
    w.ingest(&messages).await;
    let mut seen = Vec::new();
    let mut uri = "/signals?limit=3".to_owned();
    for _ in 0..5 {
        let page = send(&w, get(&uri)).await.json();
        seen.extend(
            page["data"]
                .as_array()
                .expect("data")
                .iter()
                .map(|r| r["message_id"].as_i64().unwrap_or(0)),
        );
        match page["next_cursor"].as_str() {
            Some(c) => uri = format!("/signals?limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, vec![106, 105, 104, 103, 102, 101, 100]);
}

#[actix_web::test]
async fn answers_are_cached_invalidated_by_ingest_and_served_without_redis() {
    let w = world();
    w.seed().await;
    let svc = test::init_service(api::app(&w.parts)).await;
    let mut reads = Vec::new();
    for _ in 0..3 {
        reads.push(call(&svc, get("/signals?limit=50")).await);
    }
    let cache: Vec<_> = reads.iter().map(|r| r.header("x-cache")).collect();
    assert_eq!(
        cache,
        [Some("miss"), Some("miss"), Some("hit")],
        "cached from the second miss"
    );
    assert!(reads.iter().all(|r| r.body == reads[0].body));
    w.ingest(&[message(CHANNEL, 50, at(22, 10), VALE3)]).await;
    let after = call(&svc, get("/signals?limit=50")).await;
    assert_eq!(
        after.header("x-cache"),
        Some("miss"),
        "an ingest invalidates (a page read before is cached again at once)"
    );
    assert_eq!(
        call(&svc, get("/signals?limit=50")).await.header("x-cache"),
        Some("hit")
    );
    assert_eq!(after.json()["data"].as_array().map(Vec::len), Some(4));
    for uri in ["/signals/stats", "/channels"] {
        for _ in 0..2 {
            assert_eq!(call(&svc, get(uri)).await.header("x-cache"), Some("miss"));
        }
        assert_eq!(
            call(&svc, get(uri)).await.header("x-cache"),
            Some("hit"),
            "{uri}"
        );
    }
    w.cache.set_unavailable(true);
    for uri in ["/signals?limit=50", "/signals/stats", "/channels"] {
        let r = call(&svc, get(uri)).await;
        assert_eq!(r.status, 200, "{uri} without Redis");
        assert_eq!(r.header("x-cache"), Some("error"));
    }
    let health = call(&svc, get("/health")).await.json();
    assert_eq!(health["status"], "degraded");
    let metrics = call(&svc, get("/metrics")).await;
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(text.contains("tpcapital_cache_requests_total{"), "{text}");
    assert!(text.contains("result=\"hit\""));
}

#[actix_web::test]
async fn database_down_is_a_503_problem_never_a_500() {
    let w = world();
    w.store.set_unavailable(true);
    for uri in [
        "/signals",
        "/signals/1",
        "/signals/stats",
        "/signals/export",
        "/messages",
        "/channels",
        "/logs",
    ] {
        let r = send(&w, get(uri)).await;
        let p = r.problem(503);
        assert!(r.header("retry-after").is_some(), "{uri}");
        assert!(
            !p["detail"].as_str().unwrap_or("").contains("memory"),
            "no internals: {p}"
        );
    }
    assert_eq!(send(&w, get("/health/ready")).await.status, 503);
    assert_eq!(send(&w, get("/health/live")).await.status, 200);
}

#[actix_web::test]
async fn detail_shows_revisions_and_status_history() {
    let w = world();
    let report = w.seed().await;
    let id = report.receipts[0].signal_id.expect("BOVA stored").0;
    let mut edit = message(
        CHANNEL,
        1,
        at(20, 13),
        &BOVAW32.replace("Stop: 0,70", "Stop: 0,80"),
    );
    edit.edit_date = Some(at(20, 14));
    w.ingest(&[edit]).await;
    w.ingest(&[message(
        CHANNEL,
        7,
        at(22, 10),
        "✅ Alvo 1 atingido em BOVAW32!",
    )])
    .await;
    let d = send(&w, get(&format!("/signals/{id}"))).await;
    assert_eq!(d.status, 200);
    let d = d.json();
    assert_eq!(d["id"], id);
    assert_eq!(d["revision"], 2);
    assert_eq!(d["stop"], 0.8);
    assert_eq!(d["status"], "target_hit");
    assert_eq!(d["target_index"], 1);
    assert_eq!(d["revisions"][0]["revision"], 1);
    assert_eq!(d["revisions"][0]["stop"], 0.7);
    assert_eq!(d["status_history"][0]["status"], "target_hit");
    assert_eq!(d["status_history"][0]["message_id"], 7);
    assert!(d["parser_version"].is_string());
    assert_eq!(
        send(&w, get("/signals/999999")).await.problem(404)["status"],
        404
    );
}

#[actix_web::test]
async fn delete_needs_the_key_and_hides_the_signal() {
    let w = world();
    let report = w.seed().await;
    let id = report.receipts[0].signal_id.expect("stored").0;
    let uri = format!("/signals/{id}");
    let del = || test::TestRequest::delete().uri(&uri);
    let p = send(&w, del()).await.problem(401);
    assert!(p["detail"].as_str().unwrap_or("").contains("X-API-Key"));
    send(&w, del().insert_header(("X-API-Key", "wrong")))
        .await
        .problem(401);
    let ok = send(&w, del().insert_header(("X-API-Key", KEY))).await;
    assert_eq!(ok.status, 204);
    send(&w, del().insert_header(("X-API-Key", KEY)))
        .await
        .problem(404);
    send(&w, get(&uri)).await.problem(404);
    let list = send(&w, get("/signals")).await.json();
    assert!(
        list["data"]
            .as_array()
            .expect("data")
            .iter()
            .all(|r| r["id"] != id)
    );
    let kept = w.store.snapshot();
    assert!(
        kept.signals.values().any(|s| s.id.0 == id && s.deleted),
        "soft delete"
    );
    let published = w.events.published();
    assert!(
        published
            .iter()
            .any(|e| e.kind == SignalEventKind::Deleted && e.signal_id.0 == id)
    );
}

#[actix_web::test]
async fn stats_count_per_hour_asset_and_channel() {
    let w = world();
    w.seed().await;
    w.ingest(&[message(
        CHANNEL,
        60,
        at(20, 13),
        &PETR4.replace("38,50", "38,60"),
    )])
    .await;
    let r = send(&w, get("/signals/stats?from=2025-10-01&to=2025-10-31")).await;
    assert_eq!(r.status, 200);
    let s = r.json();
    assert_eq!(s["total"], 4);
    assert_eq!(s["by_hour"][0]["bucket"], "2025-10-20T13:00:00.000Z");
    assert_eq!(s["by_hour"][0]["count"], 2);
    assert_eq!(s["by_asset"][0]["asset"], "PETR4");
    assert_eq!(s["by_asset"][0]["count"], 2);
    assert_eq!(s["by_channel"][0]["channel_id"], CHANNEL);
    assert_eq!(s["by_channel"][0]["count"], 3);
    let bova = s["by_asset"]
        .as_array()
        .expect("assets")
        .iter()
        .find(|a| a["asset"] == "BOVAW32")
        .expect("BOVA");
    let range = bova["avg_range"].as_f64().expect("range");
    assert!((range - 0.02).abs() < 1e-9, "{range}");
    let only = send(
        &w,
        get("/signals/stats?from=2025-10-01&channel=-100200&top=1"),
    )
    .await
    .json();
    assert_eq!(only["total"], 1);
    let default_window = send(&w, get("/signals/stats?to=2025-10-22")).await.json();
    assert_eq!(default_window["total"], 3, "the 7 days before `to`");
}

#[actix_web::test]
async fn export_streams_csv_and_json_with_the_filters() {
    let w = world();
    let messages: Vec<_> = (0..2500)
        .map(|i| {
            message(
                CHANNEL,
                1000 + i,
                at(1 + (i % 28) as u32, 10) + chrono::TimeDelta::seconds(i),
                PETR4,
            )
        })
        .collect();
    for chunk in messages.chunks(500) {
        w.ingest(chunk).await;
    }
    w.ingest(&[message(
        -100200,
        1,
        at(5, 9),
        "Ativo: TAEE11\nCompra: 35,00\nAlvo 1: 36,00\nStop: 34,00\n=cmd",
    )])
    .await;
    let csv = send(&w, get("/signals/export?format=csv")).await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.header("content-type")
            .unwrap_or("")
            .starts_with("text/csv")
    );
    assert!(
        csv.header("content-disposition")
            .unwrap_or("")
            .contains("attachment")
    );
    let text = String::from_utf8_lossy(&csv.body).to_string();
    assert!(text.starts_with("id,ts,channel,signal_type,asset,buy_min"));
    assert_eq!(text.matches(",Day Trade,PETR4,").count(), 2500, "every row");
    assert_eq!(text.matches(",Swing Trade,TAEE11,").count(), 1);
    assert!(
        text.contains("\"Ativo: TAEE11\nCompra: 35,00\nAlvo 1: 36,00\nStop: 34,00\n=cmd\""),
        "quoted multi-line text"
    );
    let json = send(&w, get("/signals/export?format=json&asset=TAEE11")).await;
    assert_eq!(json.header("content-type"), Some("application/json"));
    let rows = json.json();
    assert_eq!(rows.as_array().map(Vec::len), Some(1));
    assert_eq!(rows[0]["asset"], "TAEE11");
    let all = send(&w, get("/signals/export?format=json")).await.json();
    let all = all.as_array().expect("array");
    assert_eq!(all.len(), 2501);
    let mut ids: Vec<i64> = all.iter().filter_map(|r| r["id"].as_i64()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 2501, "no row twice across pages");
    let limited = send(&w, get("/signals/export?format=json&limit=999"))
        .await
        .json();
    assert_eq!(limited.as_array().map(Vec::len), Some(999));
    let empty = send(&w, get("/signals/export?format=json&asset=ALVO1"))
        .await
        .json();
    assert_eq!(empty, serde_json::json!([]));
    send(&w, get("/signals/export?format=xml"))
        .await
        .problem(400);
    // The store is read in pages of at most 1000 rows.
    let page = w
        .store
        .list_signals(&domain::ports::SignalQuery {
            limit: 5000,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(page.rows.len(), 1000);
}
