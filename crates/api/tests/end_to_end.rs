//! The api end to end, with the ingest, both served in process on a database of each test's
//! own (`test_support::api_client::spawn`): messages ingested through the ingest are read
//! through the api — `/signals` (legacy and new fields, the dashboard's query, the cache and its
//! invalidation), detail, delete, stats, export, the SSE stream, the archive, channels, logs,
//! re-parse and hostile input (the OpenAPI document and Swagger UI: `openapi.rs`).

use std::time::{Duration, Instant};

use serde_json::json;
use test_support::api_client::*;

#[tokio::test]
async fn an_ingested_signal_is_served_with_legacy_and_new_fields() {
    let Some(s) = spawn("an_ingested_signal_is_served_with_legacy_and_new_fields").await else {
        return;
    };
    let ch = unique_channel();
    let answer = s.ingest(ch, 4521, "2025-10-20T13:00:00Z", BOVAW32).await;
    assert_eq!(answer["outcome"], "signal");
    let rows = s.signals_of(ch, "").await;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row["id"], answer["signalId"]);
    assert_eq!(row["ts"], 1_760_965_200_000_i64);
    assert_eq!(row["channel"], ch.to_string());
    assert_eq!(row["signal_type"], "Swing Trade");
    assert_eq!(row["asset"], "BOVAW32");
    assert_eq!(
        (row["buy_min"].as_f64(), row["buy_max"].as_f64()),
        (Some(1.04), Some(1.06))
    );
    assert_eq!(
        (row["target_1"].as_f64(), row["target_2"].as_f64()),
        (Some(1.15), Some(2.15))
    );
    assert_eq!(
        (row["target_final"].as_f64(), row["stop"].as_f64()),
        (Some(3.5), Some(0.7))
    );
    assert_eq!(row["raw_message"], BOVAW32);
    assert!(
        row["ingested_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert_eq!(row["channel_id"], ch);
    assert_eq!(row["message_id"], 4521);
    assert_eq!(row["direction"], "long");
    assert_eq!(row["targets"], json!([1.15, 2.15]));
    assert_eq!(row["status"], "open");
    assert_eq!(row["valid_until"], "2025-10-28");
    assert_eq!(row["revision"], 1);
    // The dashboard's month filter returns it; another month does not.
    let october = s
        .signals_of(
            ch,
            "&type=Swing%20Trade&search=bova&from=2025-10-01&to=2025-10-31",
        )
        .await;
    assert_eq!(october.len(), 1);
    let september = s.signals_of(ch, "&from=2025-09-01&to=2025-09-30").await;
    assert!(september.is_empty());
}

#[tokio::test]
async fn date_only_bounds_are_days_of_the_desk_time_zone() {
    let Some(s) = spawn("date_only_bounds_are_days_of_the_desk_time_zone").await else {
        return;
    };
    let ch = unique_channel();
    // 23:30 in São Paulo on the range's last day is already 1 November in UTC.
    s.ingest(ch, 1, "2025-10-31T23:30:00-03:00", BOVAW32).await;
    // 23:00 in São Paulo the day before the range starts is 1 October in UTC.
    s.ingest(ch, 2, "2025-09-30T23:00:00-03:00", PETR4).await;
    let october = s.signals_of(ch, "&from=2025-10-01&to=2025-10-31").await;
    let assets: Vec<&str> = october.iter().filter_map(|r| r["asset"].as_str()).collect();
    assert_eq!(assets, vec!["BOVAW32"], "{october:?}");
    assert_eq!(
        october[0]["ts"], 1_761_964_200_000_i64,
        "2025-11-01T02:30:00Z"
    );
    let november = s.signals_of(ch, "&from=2025-11-01&to=2025-11-30").await;
    assert!(november.is_empty(), "{november:?}");
    let september = s.signals_of(ch, "&from=2025-09-30&to=2025-09-30").await;
    let assets: Vec<&str> = september
        .iter()
        .filter_map(|r| r["asset"].as_str())
        .collect();
    assert_eq!(assets, vec!["PETR4"], "{september:?}");
    // A date-time with its offset is taken as given.
    let utc = s
        .signals_of(ch, "&from=2025-10-01T00:00:00Z&to=2025-10-31T23:59:59Z")
        .await;
    let assets: Vec<&str> = utc.iter().filter_map(|r| r["asset"].as_str()).collect();
    assert_eq!(assets, vec!["PETR4"], "{utc:?}");
}

#[tokio::test]
async fn reads_are_cached_and_fresh_within_a_second_of_an_ingest() {
    let Some(s) = spawn("reads_are_cached_and_fresh_within_a_second_of_an_ingest").await else {
        return;
    };
    let ch = unique_channel();
    s.ingest(ch, 1, "2025-10-21T14:00:00Z", PETR4).await;
    let path = format!("/signals?channel={ch}&limit=50");
    // Other tests' commits may invalidate everything meanwhile (a label change): look for a hit.
    let mut hit = false;
    for _ in 0..200 {
        let first = s.get(&path).await;
        let second = s.get(&path).await;
        assert_eq!(first.status, 200);
        if second.header("x-cache") == Some("hit") {
            assert_eq!(first.body, second.body);
            hit = true;
            break;
        }
    }
    assert!(hit, "a repeated read is served from Redis");
    let before = s.signals_of(ch, "").await.len();
    s.ingest(ch, 2, "2025-10-21T15:00:00Z", BOVAW32).await;
    let committed = Instant::now();
    let after = s.get(&path).await;
    assert_ne!(
        after.header("x-cache"),
        Some("hit"),
        "the ingest invalidated the cache"
    );
    assert_eq!(
        after.json()["data"].as_array().map(Vec::len),
        Some(before + 1)
    );
    assert!(committed.elapsed() < Duration::from_secs(1));
    let metrics = s.get("/metrics").await.body;
    assert!(
        metrics.contains("tpcapital_cache_requests_total{"),
        "cache metric exposed"
    );
}

#[tokio::test]
async fn detail_history_and_soft_delete() {
    let Some(s) = spawn("detail_history_and_soft_delete").await else {
        return;
    };
    let ch = unique_channel();
    let id = s.ingest(ch, 10, "2025-10-22T10:00:00Z", BOVAW32).await["signalId"]
        .as_i64()
        .expect("signal id");
    s.ingest_payload(json!({
        "channelId": ch, "messageId": 10, "text": BOVAW32.replace("Stop: 0,70", "Stop: 0,80"),
        "timestamp": "2025-10-22T10:00:00Z", "editDate": "2025-10-22T10:05:00Z",
    }))
    .await;
    s.ingest(
        ch,
        11,
        "2025-10-22T11:00:00Z",
        "✅ Alvo 1 atingido em BOVAW32!",
    )
    .await;
    let d = s.get(&format!("/signals/{id}")).await;
    assert_eq!(d.status, 200, "{}", d.body);
    let d = d.json();
    assert_eq!(d["revision"], 2);
    assert_eq!(d["stop"].as_f64(), Some(0.8));
    assert_eq!(d["revisions"][0]["stop"].as_f64(), Some(0.7));
    assert_eq!(d["status"], "target_hit");
    assert_eq!(d["status_history"][0]["status"], "target_hit");

    let url = s.url(&format!("/signals/{id}"));
    s.send(s.http.delete(&url)).await.problem(401);
    s.send(s.http.delete(&url).header("X-API-Key", "wrong"))
        .await
        .problem(401);
    let ok = s
        .send(s.http.delete(&url).header("X-API-Key", &s.key))
        .await;
    assert_eq!(ok.status, 204, "{}", ok.body);
    s.get(&format!("/signals/{id}")).await.problem(404);
    assert!(
        s.signals_of(ch, "").await.is_empty(),
        "gone from the list at once"
    );
}

#[tokio::test]
async fn stats_and_export_include_the_signal() {
    let Some(s) = spawn("stats_and_export_include_the_signal").await else {
        return;
    };
    let ch = unique_channel();
    // The previous hour: recent hours are aggregated live, whatever the view's last refresh.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let hour = now / 3600 * 3600 - 3600;
    s.ingest_payload(
        json!({"channelId": ch, "messageId": 1, "text": BOVAW32, "timestamp": hour + 900}),
    )
    .await;
    s.ingest_payload(
        json!({"channelId": ch, "messageId": 2, "text": PETR4, "timestamp": hour + 2700}),
    )
    .await;
    let stats = s
        .get(&format!(
            "/signals/stats?channel={ch}&from={}",
            (hour - 3600) * 1000
        ))
        .await;
    assert_eq!(stats.status, 200, "{}", stats.body);
    let stats = stats.json();
    assert_eq!(stats["total"], 2);
    assert_eq!(stats["by_hour"].as_array().map(Vec::len), Some(1));
    assert_eq!(stats["by_hour"][0]["count"], 2);
    assert_eq!(stats["by_channel"][0]["channel_id"], ch);
    assert_eq!(stats["by_asset"].as_array().map(Vec::len), Some(2));
    // The database is this test's own: the totals across every channel are exactly its two.
    let all = s
        .get(&format!("/signals/stats?from={}", (hour - 3600) * 1000))
        .await;
    assert_eq!(all.status, 200, "{}", all.body);
    let all = all.json();
    assert_eq!(all["total"], 2, "{all}");
    assert_eq!(all["by_channel"].as_array().map(Vec::len), Some(1), "{all}");
    let listed = s.get("/signals?limit=100").await.json();
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(2), "{listed}");

    let csv = s
        .get(&format!("/signals/export?format=csv&channel={ch}"))
        .await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.header("content-type")
            .unwrap_or("")
            .starts_with("text/csv")
    );
    assert!(csv.body.starts_with("id,ts,channel,signal_type,asset"));
    assert!(csv.body.contains(",Swing Trade,BOVAW32,1.04,1.06,"));
    assert!(csv.body.contains(",Day Trade,PETR4,38.5,38.5,"));
    let json = s
        .get(&format!("/signals/export?format=json&channel={ch}"))
        .await
        .json();
    let assets: Vec<&str> = json
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|r| r["asset"].as_str())
        .collect();
    assert_eq!(assets, vec!["PETR4", "BOVAW32"]);
}

#[tokio::test]
async fn the_stream_delivers_new_signals_live() {
    let Some(s) = spawn("the_stream_delivers_new_signals_live").await else {
        return;
    };
    let ch = unique_channel();
    let mut res = s
        .http
        .get(s.url("/signals/stream"))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("stream");
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let mut seen = String::new();
    let mut ingested = false;
    let deadline = Instant::now() + Duration::from_secs(20);
    let needle = format!("\"channel_id\":{ch}");
    while !seen.contains(&needle) {
        assert!(
            Instant::now() < deadline,
            "no event for channel {ch}: {seen}"
        );
        if !ingested && seen.contains(": connected") {
            s.ingest(ch, 1, "2025-10-24T10:00:00Z", BOVAW32).await;
            ingested = true;
        }
        match tokio::time::timeout(Duration::from_secs(20), res.chunk()).await {
            Ok(Ok(Some(bytes))) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            other => panic!("stream stopped: {other:?}; got {seen}"),
        }
    }
    let event = seen
        .split("\n\n")
        .find(|e| e.contains(&needle))
        .expect("the event");
    assert!(event.contains("event: signal"));
    assert!(event.lines().any(|l| l.starts_with("id: ")));
    assert!(event.contains("\"kind\":\"created\""));
    assert!(event.contains("\"buy_min\":1.04"));
}

#[tokio::test]
async fn archive_channels_logs_and_reparse() {
    let Some(s) = spawn("archive_channels_logs_and_reparse").await else {
        return;
    };
    let ch = unique_channel();
    // Recent message times: channel signal counts of recent hours are always live.
    let t = |minutes: i64| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64;
        now / 3600 * 3600 - 3600 + minutes * 60
    };
    s.ingest_at(ch, 1, t(0), "Bom dia pessoal!").await;
    let rejected = s.ingest_at(ch, 2, t(1), "Compra: 1,00\nStop: 0,90").await;
    assert_eq!(rejected["outcome"], "rejected");
    s.ingest_at(ch, 3, t(2), PETR4).await;

    let archive = s.get(&format!("/messages?channel={ch}")).await.json();
    assert_eq!(archive["data"].as_array().map(Vec::len), Some(3));
    let only = s
        .get(&format!("/messages?channel={ch}&outcome=rejected"))
        .await
        .json();
    assert_eq!(only["data"][0]["outcome"], "rejected");
    assert!(
        only["data"][0]["reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );
    let legacy = s
        .get(&format!("/forwarded-messages?channelId={ch}"))
        .await
        .json();
    assert_eq!(legacy["data"].as_array().map(Vec::len), Some(3));
    assert!(legacy["data"][0]["message_text"].is_string());

    let listed = |c: &serde_json::Value| {
        c["data"].as_array().is_some_and(|all| {
            all.iter()
                .any(|c| c["channel_id"] == ch && c["messages"]["rejected"] == 1)
        })
    };
    let channels = s.fresh("/channels", listed).await;
    let mine = channels["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|c| c["channel_id"] == ch)
        .cloned()
        .expect("the channel is listed");
    assert_eq!(mine["signal_count"], 1);
    assert_eq!(
        (
            mine["messages"]["ignored"].as_u64(),
            mine["messages"]["rejected"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let put = s
        .send(
            s.http
                .put(s.url(&format!("/channels/{ch}")))
                .header("X-API-Key", &s.key)
                .json(&json!({"label": format!("e2e {ch}"), "default_kind": "position"})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    let rows = s.signals_of(ch, "").await;
    assert_eq!(rows[0]["channel"], format!("e2e {ch}"));
    assert_eq!(
        rows[0]["signal_type"], "Day Trade",
        "the message's own kind wins"
    );
    let by_label = s.get(&format!("/signals?channel=e2e%20{ch}")).await.json();
    assert_eq!(by_label["data"].as_array().map(Vec::len), Some(1));

    let logs = s.get("/logs?level=warn&limit=1000").await.json();
    assert!(
        logs["data"]
            .as_array()
            .expect("data")
            .iter()
            .any(|e| e["context"]["channel_id"] == ch && e["level"] == "warn")
    );

    let reparse = s
        .send(
            s.http
                .post(s.url("/messages/reparse"))
                .header("X-API-Key", &s.key)
                .json(&json!({"channel_id": ch, "from": (t(0) * 1000), "dry_run": true})),
        )
        .await;
    assert_eq!(reparse.status, 200, "{}", reparse.body);
    assert_eq!(reparse.json()["examined"], 3);
    s.send(s.http.post(s.url("/messages/reparse")).json(&json!({})))
        .await
        .problem(401);
}

#[tokio::test]
async fn hostile_input_is_a_4xx_problem_never_a_500() {
    let Some(s) = spawn("hostile_input_is_a_4xx_problem_never_a_500").await else {
        return;
    };
    for (path, status) in [
        ("/signals?limit=-1", 400),
        ("/signals?limit=abc", 400),
        ("/signals?from=garbage", 400),
        ("/signals?cursor=garbage", 400),
        ("/signals/abc", 400),
        ("/signals/99999999999999999999", 400),
        ("/signals/99999999", 404),
        (
            "/signals?search=%27%3B%20DROP%20TABLE%20signals.signals%3B--",
            200,
        ),
        ("/messages?outcome=x", 400),
        ("/nope", 404),
    ] {
        let r = s.get(path).await;
        assert_eq!(r.status, status, "{path}: {}", r.body);
        if status >= 400 {
            r.problem(status);
        }
    }
    let r = s.send(s.http.post(s.url("/signals"))).await;
    r.problem(405);
    let r = s
        .send(
            s.http
                .put(s.url("/channels/-1"))
                .header("X-API-Key", &s.key)
                .header("content-type", "application/json")
                .body("{broken"),
        )
        .await;
    r.problem(400);
}
