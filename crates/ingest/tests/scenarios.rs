//! The ingest service end to end as the Telegram gateway uses it, served in process on a
//! database of each test's own (`common::spawn_ingest`) and checked in that database: every
//! outcome, the legacy payload, idempotent re-delivery (also concurrent), edits, updates,
//! deletions, batches, and every kind of bad request. The fault tests (the real binary on the
//! stack, through PgBouncer) are in `tests/tests/ingest_faults.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde_json::{Value, json};
use test_support::ingest_client::*;
use test_support::spawn::spawn_ingest;

/// The validity the parser infers for "até dia 28/10" in a message of `date`: that day of the
/// message's year, or of the next year when it is already past.
fn validity_of_28_10(date: DateTime<Utc>) -> String {
    let day = date.date_naive();
    let this_year = NaiveDate::from_ymd_opt(day.year(), 10, 28).expect("a date");
    if this_year < day {
        NaiveDate::from_ymd_opt(day.year() + 1, 10, 28)
            .expect("a date")
            .to_string()
    } else {
        this_year.to_string()
    }
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

#[tokio::test]
async fn the_canonical_bovaw32_message_is_one_signal_in_the_database() {
    let Some(s) = spawn_ingest("the_canonical_bovaw32_message_is_one_signal_in_the_database").await
    else {
        return;
    };
    let ch = unique_channel();
    let date = recent(90);
    let payload = message(ch, 4521, BOVAW32, date);

    let first = s.ingest(&payload).await;
    assert_eq!(first["outcome"], "signal", "{first}");
    assert_eq!(first["stored"], true);
    assert_eq!(first["channelId"], ch);
    assert_eq!(first["messageId"], 4521);
    assert!(first["reason"].is_null(), "{first}");
    let id = first["signalId"].as_i64().expect("signalId");

    // Posted three times in all: one row.
    for _ in 0..2 {
        let again = s.ingest(&payload).await;
        assert_eq!(again["outcome"], "duplicate", "{again}");
        assert_eq!(again["stored"], false, "{again}");
    }

    let signals = s.signals(ch).await;
    assert_eq!(signals.len(), 1, "{signals:#?}");
    let row = &signals[0];
    assert_eq!(row.id, id);
    assert_eq!(row.message_id, 4521);
    assert_eq!(row.asset, "BOVAW32");
    assert_eq!(row.kind.as_deref(), Some("swing_trade"));
    assert_eq!(row.direction, "long");
    assert_eq!(row.entry_min.as_deref(), Some("1.04"));
    assert_eq!(row.entry_max.as_deref(), Some("1.06"));
    assert_eq!(row.targets, "1.15,2.15");
    assert_eq!(row.target_final.as_deref(), Some("3.5"));
    assert_eq!(row.stop.as_deref(), Some("0.7"));
    assert_eq!(row.valid_until, Some(validity_of_28_10(date)));
    assert_eq!(row.status, "open");
    assert_eq!(row.target_index, None);
    assert_eq!(row.revision, 1);
    assert_eq!(row.raw_message, BOVAW32);
    assert_eq!(row.source.as_deref(), Some("user_client"));
    assert_eq!(row.date_ms, ms(date));
    assert_eq!(row.edit_ms, None);
    assert!(!row.parser_version.is_empty());
    assert!(!row.deleted);

    let archive = s.archive(ch).await;
    assert_eq!(archive.len(), 1, "{archive:#?}");
    assert_eq!(archive[0].outcome, "signal");
    assert_eq!(archive[0].reason, None);
    assert_eq!(archive[0].text, BOVAW32);
    assert_eq!(archive[0].date_ms, ms(date));

    // A wrong token is 401 and `{}` is 400; neither stores anything.
    let wrong = s
        .send(
            s.http
                .post(s.url("/ingest"))
                .header("X-Gateway-Token", "not-the-token")
                .json(&message(ch, 4522, BOVAW32, date)),
        )
        .await;
    wrong.problem(401);
    s.post("/ingest", &json!({})).await.invalid("channelId");
    assert_eq!(s.archive(ch).await.len(), 1);
    assert_eq!(s.signals(ch).await.len(), 1);
}

#[tokio::test]
async fn every_outcome_is_answered_archived_and_counted() {
    let Some(s) = spawn_ingest("every_outcome_is_answered_archived_and_counted").await else {
        return;
    };
    let outcomes = [
        "signal",
        "update",
        "ignored",
        "rejected",
        "duplicate",
        "edited",
    ];
    let series = |o: &str| format!("tpcapital_ingest_messages_total{{outcome=\"{o}\"}}");
    let mut before = BTreeMap::new();
    for o in outcomes {
        before.insert(o, s.metric(&series(o)).await);
    }
    let signals_before = s.metric("tpcapital_ingest_signals_created_total").await;
    let started = Utc::now().timestamp() as f64;

    let ch = unique_channel();
    let t = recent(60);
    let signal = s.ingest(&message(ch, 1, BOVAW32, t)).await;
    assert_eq!(signal["outcome"], "signal", "{signal}");
    let id = signal["signalId"].as_i64().expect("signalId");

    let update = s
        .ingest(&message(
            ch,
            2,
            BOVAW32_TARGET_1_HIT,
            t + chrono::Duration::minutes(1),
        ))
        .await;
    assert_eq!(update["outcome"], "update", "{update}");
    assert_eq!(update["stored"], true);
    assert_eq!(update["signalId"], id, "the update hits the signal");

    let ignored = s
        .ingest(&message(ch, 3, GREETING, t + chrono::Duration::minutes(2)))
        .await;
    assert_eq!(ignored["outcome"], "ignored", "{ignored}");
    assert_eq!(ignored["stored"], true);
    assert!(ignored["signalId"].is_null());
    let ignored_reason = ignored["reason"].as_str().expect("a reason").to_owned();

    let rejected_payload = message(ch, 4, TARGET_BELOW_ENTRY, t + chrono::Duration::minutes(3));
    let rejected = s.ingest(&rejected_payload).await;
    assert_eq!(rejected["outcome"], "rejected", "{rejected}");
    assert!(rejected["signalId"].is_null());
    let rejected_reason = rejected["reason"].as_str().expect("a reason").to_owned();
    assert!(
        rejected_reason.contains("target"),
        "the reason says why: {rejected_reason}"
    );

    let duplicate = s.ingest(&rejected_payload).await;
    assert_eq!(duplicate["outcome"], "duplicate", "{duplicate}");
    assert_eq!(duplicate["stored"], false);

    let mut edit = message(ch, 1, &BOVAW32.replace("Stop: 0,70", "Stop: 0,80"), t);
    edit["editDate"] = json!(iso(t + chrono::Duration::minutes(5)));
    let edited = s.ingest(&edit).await;
    assert_eq!(edited["outcome"], "edited", "{edited}");
    assert_eq!(edited["stored"], true);
    assert_eq!(edited["signalId"], id);

    // The archive holds every delivery with its outcome and reason.
    let archive = s.archive(ch).await;
    let seen: Vec<_> = archive
        .iter()
        .map(|a| (a.message_id, a.outcome.as_str(), a.edit_ms.is_some()))
        .collect();
    assert_eq!(
        seen,
        [
            (1, "signal", false),
            (1, "signal", true),
            (2, "update", false),
            (3, "ignored", false),
            (4, "rejected", false)
        ]
    );
    assert_eq!(archive[3].reason.as_deref(), Some(ignored_reason.as_str()));
    assert_eq!(archive[4].reason.as_deref(), Some(rejected_reason.as_str()));

    // One signal: its first target hit, revised by the edit.
    let signals = s.signals(ch).await;
    assert_eq!(signals.len(), 1, "{signals:#?}");
    assert_eq!(
        (signals[0].status.as_str(), signals[0].target_index),
        ("target_hit", Some(1))
    );
    assert_eq!(signals[0].revision, 2);
    assert_eq!(signals[0].stop.as_deref(), Some("0.8"));
    let history = s.status_events(id).await;
    assert!(
        history.contains(&("target_hit".to_owned(), Some(1), Some(2))),
        "{history:?}"
    );

    // Each outcome is counted (other tests share the service: at least ours).
    for o in outcomes {
        let after = s.metric(&series(o)).await;
        assert!(after >= before[o] + 1.0, "{o}: {} -> {after}", before[o]);
    }
    assert!(s.metric("tpcapital_ingest_signals_created_total").await >= signals_before + 1.0);
    assert!(
        s.metric("tpcapital_ingest_last_success_timestamp_seconds")
            .await
            >= started - 1.0
    );
}

#[tokio::test]
async fn an_update_changes_the_latest_open_signal_of_its_asset_in_its_channel() {
    let Some(s) =
        spawn_ingest("an_update_changes_the_latest_open_signal_of_its_asset_in_its_channel").await
    else {
        return;
    };
    let (ch, other) = (unique_channel(), unique_channel());
    let later_call = "Ativo: BOVAW32\nCompra: 1,10\nAlvo: 1,30\nStop: 0,90";
    // The later call is delivered first: "latest" is by message time, not arrival.
    let newer = s.ingest(&message(ch, 11, later_call, recent(50))).await["signalId"]
        .as_i64()
        .expect("signal");
    let older = s.ingest(&message(ch, 10, BOVAW32, recent(60))).await["signalId"]
        .as_i64()
        .expect("signal");
    let petr = s.ingest(&message(ch, 12, PETR4, recent(45))).await["signalId"]
        .as_i64()
        .expect("signal");
    let elsewhere = s.ingest(&message(other, 10, BOVAW32, recent(40))).await["signalId"]
        .as_i64()
        .expect("signal");

    let stop = s
        .ingest(&message(ch, 13, "🛑 Stop acionado em BOVAW32", recent(30)))
        .await;
    assert_eq!(stop["outcome"], "update", "{stop}");
    assert_eq!(stop["signalId"], newer, "{stop}");

    let status = |rows: &[SignalRow], id: i64| {
        rows.iter()
            .find(|r| r.id == id)
            .map(|r| (r.status.clone(), r.target_index))
            .expect("signal present")
    };
    let rows = s.signals(ch).await;
    assert_eq!(status(&rows, newer), ("stopped".to_owned(), None));
    assert_eq!(status(&rows, older), ("open".to_owned(), None));
    assert_eq!(status(&rows, petr), ("open".to_owned(), None));
    assert_eq!(
        status(&s.signals(other).await, elsewhere),
        ("open".to_owned(), None),
        "another channel's signal is untouched"
    );
    assert_eq!(
        s.status_events(newer).await,
        [("stopped".to_owned(), None, Some(13))]
    );

    // The stopped signal is closed: the next update goes to the older open one, and a
    // target_hit signal is still open for the next target.
    let hit = s
        .ingest(&message(ch, 14, BOVAW32_TARGET_1_HIT, recent(20)))
        .await;
    assert_eq!(hit["signalId"], older, "{hit}");
    let hit2 = s
        .ingest(&message(ch, 15, "Alvo 2 atingido BOVAW32 🎯", recent(19)))
        .await;
    assert_eq!(hit2["signalId"], older, "{hit2}");
    let cancel = s
        .ingest(&message(ch, 16, "Operação cancelada: PETR4", recent(18)))
        .await;
    assert_eq!(cancel["signalId"], petr, "{cancel}");
    let rows = s.signals(ch).await;
    assert_eq!(status(&rows, older), ("target_hit".to_owned(), Some(2)));
    assert_eq!(status(&rows, petr), ("cancelled".to_owned(), None));
    assert_eq!(status(&rows, newer), ("stopped".to_owned(), None));
    assert_eq!(
        s.status_events(older).await,
        [
            ("target_hit".to_owned(), Some(1), Some(14)),
            ("target_hit".to_owned(), Some(2), Some(15))
        ]
    );

    // An update about an asset without an open signal is archived with a reason, changes nothing.
    let orphan = s
        .ingest(&message(ch, 17, "Alvo 1 atingido em VALE3", recent(10)))
        .await;
    assert_eq!(orphan["outcome"], "update", "{orphan}");
    assert_eq!(orphan["stored"], true);
    assert!(orphan["signalId"].is_null(), "{orphan}");
    assert!(
        orphan["reason"]
            .as_str()
            .is_some_and(|r| r.contains("VALE3")),
        "{orphan}"
    );
    assert_eq!(s.signals(ch).await.len(), 3);
    assert_eq!(s.archive(ch).await.len(), 8, "every delivery archived");
}

#[tokio::test]
async fn the_legacy_gateway_payload_in_every_shape() {
    let Some(s) = spawn_ingest("the_legacy_gateway_payload_in_every_shape").await else {
        return;
    };
    let ch = unique_channel();
    let t = recent(120);
    let epoch = t.timestamp();
    let brasilia = t
        .with_timezone(&chrono::FixedOffset::west_opt(3 * 3600).expect("offset"))
        .to_rfc3339();
    let id_forms = [
        // channelId as a number, epoch seconds
        json!({"channelId": ch, "messageId": 1, "text": BOVAW32, "timestamp": epoch}),
        // as a string, messageId as a string, epoch milliseconds
        json!({"channelId": ch.to_string(), "messageId": "2", "text": BOVAW32, "telegramDate": epoch * 1000}),
        // ISO 8601 with an offset
        json!({"channelId": ch, "messageId": 3, "text": BOVAW32, "telegramDate": brasilia}),
        // ISO 8601 with milliseconds, under the legacy name
        json!({"channelId": ch.to_string(), "messageId": 4, "text": BOVAW32, "timestamp": t.format("%Y-%m-%dT%H:%M:%S.000Z").to_string()}),
        // epoch seconds and milliseconds as numeric strings
        json!({"channelId": ch, "messageId": 5, "text": BOVAW32, "telegramDate": epoch.to_string()}),
        json!({"channelId": ch, "messageId": 6, "text": BOVAW32, "timestamp": (epoch * 1000).to_string()}),
    ];
    for payload in &id_forms {
        let r = s.ingest(payload).await;
        assert_eq!(r["outcome"], "signal", "{payload}: {r}");
        assert_eq!(r["channelId"], ch, "{r}");
    }

    // Both dates: telegramDate is the message time, the legacy timestamp is kept.
    let both = json!({"channelId": ch, "messageId": 7, "text": GREETING, "telegramDate": iso(t),
                      "timestamp": epoch - 3600});
    assert_eq!(s.ingest(&both).await["outcome"], "ignored");
    // A caption with photos is read like a text.
    let caption = json!({"channelId": ch.to_string(), "messageId": 8, "caption": BOVAW32,
                         "telegramDate": iso(t), "photos": [{"fileId": "AgAD1", "width": 1280}],
                         "mediaType": "photo"});
    assert_eq!(s.ingest(&caption).await["outcome"], "signal");
    // A photo without caption, or no text at all, is archived as ignored: nothing blocks.
    let photo_only = json!({"channelId": ch, "messageId": 9, "text": "",
                            "photos": [{"fileId": "AgAD2"}], "timestamp": epoch});
    let r = s.ingest(&photo_only).await;
    assert_eq!(r["outcome"], "ignored", "{r}");
    assert!(r["reason"].is_string(), "{r}");
    let media_only =
        json!({"channelId": ch, "messageId": 10, "mediaType": "video", "timestamp": epoch});
    assert_eq!(s.ingest(&media_only).await["outcome"], "ignored");
    // Text and caption: the text is read, the caption kept; unknown fields are kept, never refused.
    let everything = json!({
        "channelId": ch.to_string(), "messageId": 11, "text": BOVAW32, "caption": "legenda",
        "telegramDate": iso(t), "source": "bot", "messageType": "channel_post", "threadId": 77,
        "metadata": {"gateway": "v2", "chatTitle": "TP Capital"},
        "someFutureField": {"nested": [1, true, null]}, "forwardFrom": "canal X",
    });
    assert_eq!(s.ingest(&everything).await["outcome"], "signal");

    let archive = s.archive(ch).await;
    assert_eq!(archive.len(), 11, "{archive:#?}");
    let by_id = |id: i64| {
        archive
            .iter()
            .find(|a| a.message_id == id)
            .unwrap_or_else(|| panic!("message {id} archived"))
    };
    for a in &archive {
        assert_eq!(a.date_ms, ms(t), "message {} date", a.message_id);
        assert_eq!(a.edit_ms, None);
    }
    assert_eq!(by_id(7).outcome, "ignored");
    assert!(by_id(7).metadata["timestamp"].is_string(), "{:?}", by_id(7));
    assert_eq!(by_id(8).text, BOVAW32);
    assert_eq!(by_id(8).media_type.as_deref(), Some("photo"));
    assert_eq!(
        by_id(8).metadata["photos"],
        json!([{"fileId": "AgAD1", "width": 1280}])
    );
    assert_eq!(by_id(9).outcome, "ignored");
    assert_eq!(by_id(9).text, "");
    assert_eq!(by_id(9).media_type.as_deref(), Some("photo"));
    assert_eq!(by_id(10).outcome, "ignored");
    assert_eq!(by_id(10).media_type.as_deref(), Some("video"));
    let kept = by_id(11);
    assert_eq!(kept.text, BOVAW32);
    assert_eq!(kept.source.as_deref(), Some("bot"));
    let m = &kept.metadata;
    assert_eq!(m["caption"], "legenda", "{m}");
    assert_eq!(m["messageType"], "channel_post", "{m}");
    assert_eq!(m["threadId"], 77, "{m}");
    assert_eq!(m["gateway"], "v2", "{m}");
    assert_eq!(m["chatTitle"], "TP Capital", "{m}");
    assert_eq!(
        m["someFutureField"],
        json!({"nested": [1, true, null]}),
        "{m}"
    );
    assert_eq!(m["forwardFrom"], "canal X", "{m}");

    let signals = s.signals(ch).await;
    let ids: Vec<i64> = signals.iter().map(|r| r.message_id).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5, 6, 8, 11]);
    assert!(
        signals
            .iter()
            .all(|r| r.date_ms == ms(t) && r.asset == "BOVAW32")
    );
    assert_eq!(signals[7].source.as_deref(), Some("bot"));
}

#[tokio::test]
async fn re_delivery_in_any_payload_form_stores_once() {
    let Some(s) = spawn_ingest("re_delivery_in_any_payload_form_stores_once").await else {
        return;
    };
    let ch = unique_channel();
    let t = recent(15);
    // The same message as the gateway may send it on each retry.
    let forms = [
        message(ch, 42, BOVAW32, t),
        json!({"channelId": ch, "messageId": 42, "text": BOVAW32, "timestamp": t.timestamp()}),
        json!({"channelId": ch.to_string(), "messageId": "42", "text": BOVAW32,
               "telegramDate": t.timestamp_millis(), "someNewField": 1}),
    ];
    let outcomes: Vec<Value> = {
        let mut v = Vec::new();
        for f in &forms {
            v.push(s.ingest(f).await["outcome"].clone());
        }
        v
    };
    assert_eq!(outcomes, ["signal", "duplicate", "duplicate"]);
    // An ignored message is just as idempotent.
    let greeting = message(ch, 43, GREETING, t);
    for want in ["ignored", "duplicate", "duplicate"] {
        assert_eq!(s.ingest(&greeting).await["outcome"], want);
    }
    let archive = s.archive(ch).await;
    let ids: Vec<i64> = archive.iter().map(|a| a.message_id).collect();
    assert_eq!(ids, [42, 43], "one archive row per message");
    assert_eq!(s.signals(ch).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicates_store_exactly_once() {
    let Some(s) = spawn_ingest("concurrent_duplicates_store_exactly_once").await else {
        return;
    };
    let ch = unique_channel();
    let payload = message(ch, 7, BOVAW32, recent(5));
    let mut posts = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (s, payload) = (s.clone(), payload.clone());
        posts.spawn(async move { s.post("/ingest", &payload).await });
    }
    let mut outcomes = BTreeMap::<String, usize>::new();
    let mut ids = Vec::new();
    while let Some(reply) = posts.join_next().await {
        let reply = reply.expect("task");
        assert_eq!(
            reply.status, 200,
            "every delivery is answered 200: {}",
            reply.body
        );
        let r = reply.json();
        *outcomes
            .entry(r["outcome"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
        if let Some(id) = r["signalId"].as_i64() {
            ids.push(id);
        }
    }
    assert_eq!(
        outcomes,
        BTreeMap::from([("duplicate".to_owned(), 19), ("signal".to_owned(), 1)])
    );
    assert_eq!(s.archive(ch).await.len(), 1);
    let signals = s.signals(ch).await;
    assert_eq!(signals.len(), 1);
    assert!(ids.iter().all(|id| *id == signals[0].id), "{ids:?}");

    // The same batch of 100 messages delivered 5 times at once: each message stored once.
    let other = unique_channel();
    let t = recent(4);
    let batch: Vec<Value> = (1..=100)
        .map(|i| message(other, i, if i % 4 == 0 { GREETING } else { BOVAW32 }, t))
        .collect();
    let body = json!({ "messages": batch });
    let mut posts = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let (s, body) = (s.clone(), body.clone());
        posts.spawn(async move { s.post("/ingest/batch", &body).await });
    }
    let mut firsts = 0;
    while let Some(reply) = posts.join_next().await {
        let reply = reply.expect("task");
        assert_eq!(reply.status, 200, "{}", reply.body);
        let r = reply.json();
        assert_eq!(r["received"], 100);
        firsts += r["results"]
            .as_array()
            .expect("results")
            .iter()
            .filter(|x| x["outcome"] != "duplicate")
            .count();
    }
    assert_eq!(firsts, 100, "each message is new in exactly one delivery");
    assert_eq!(s.archive(other).await.len(), 100);
    assert_eq!(s.signals(other).await.len(), 75);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_edits_keep_the_newest_and_a_consistent_history() {
    let Some(s) = spawn_ingest("concurrent_edits_keep_the_newest_and_a_consistent_history").await
    else {
        return;
    };
    let ch = unique_channel();
    let t = recent(60);
    let id = s.ingest(&message(ch, 1, BOVAW32, t)).await["signalId"]
        .as_i64()
        .expect("signal");
    let stop_of = |n: i64| format!("0,{}", 50 + n);
    let mut posts = tokio::task::JoinSet::new();
    for n in 1..=12_i64 {
        let mut edit = message(ch, 1, &BOVAW32.replace("0,70", &stop_of(n)), t);
        edit["editDate"] = json!(iso(t + chrono::Duration::minutes(n)));
        let s = s.clone();
        posts.spawn(async move { s.post("/ingest", &edit).await });
    }
    let mut edited = 0;
    while let Some(reply) = posts.join_next().await {
        let reply = reply.expect("task");
        assert_eq!(reply.status, 200, "{}", reply.body);
        let r = reply.json();
        assert_eq!(r["signalId"], id, "{r}");
        if r["outcome"] == "edited" {
            edited += 1;
        }
    }
    assert!(edited >= 1);
    let signals = s.signals(ch).await;
    assert_eq!(signals.len(), 1);
    let row = &signals[0];
    assert_eq!(row.stop.as_deref(), Some("0.62"), "the newest edit wins");
    assert_eq!(row.edit_ms, Some(ms(t + chrono::Duration::minutes(12))));
    assert_eq!(row.revision, 1 + edited, "one revision per applied edit");
    let history = s.revisions(id).await;
    let revisions: Vec<i32> = history.iter().map(|h| h.0).collect();
    assert_eq!(revisions, (1..row.revision).collect::<Vec<_>>());
    assert_eq!(s.archive(ch).await.len(), 13, "every delivery archived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_distinct_messages_are_all_stored() {
    let Some(s) = spawn_ingest("concurrent_distinct_messages_are_all_stored").await else {
        return;
    };
    let ch = unique_channel();
    let t = recent(20);
    let mut posts = tokio::task::JoinSet::new();
    for id in 1..=50_i64 {
        let s = s.clone();
        let text = if id % 2 == 0 { PETR4 } else { BOVAW32 };
        let payload = message(ch, id, text, t + chrono::Duration::seconds(id));
        posts.spawn(async move { s.post("/ingest", &payload).await });
    }
    while let Some(reply) = posts.join_next().await {
        let reply = reply.expect("task");
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.json()["outcome"], "signal", "{}", reply.body);
    }
    let ids: Vec<i64> = s.signals(ch).await.iter().map(|r| r.message_id).collect();
    assert_eq!(ids, (1..=50).collect::<Vec<_>>());
    assert_eq!(s.archive(ch).await.len(), 50);
}

#[tokio::test]
async fn a_re_delivery_with_another_message_date_is_still_a_duplicate() {
    // SPEC 3: "the same (channel_id, message_id, edit_date) twice stores once". A gateway that
    // sends its forwarding time as `timestamp` changes the date on every retry.
    let Some(s) =
        spawn_ingest("a_re_delivery_with_another_message_date_is_still_a_duplicate").await
    else {
        return;
    };
    let ch = unique_channel();
    let first =
        json!({"channelId": ch, "messageId": 5, "text": PETR4, "timestamp": iso(recent(20))});
    let retry =
        json!({"channelId": ch, "messageId": 5, "text": PETR4, "timestamp": iso(recent(19))});
    assert_eq!(s.ingest(&first).await["outcome"], "signal");
    let again = s.ingest(&retry).await;
    assert_eq!(again["outcome"], "duplicate", "{again}");
    assert_eq!(again["stored"], false, "{again}");
    assert_eq!(s.archive(ch).await.len(), 1, "one archive row per delivery");
    assert_eq!(s.signals(ch).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deliveries_with_different_dates_make_one_signal() {
    // signals.signals is unique on (channel_id, message_id, message_date): deliveries of one
    // message that disagree on its date are not stopped by the constraint when they race.
    let Some(s) = spawn_ingest("concurrent_deliveries_with_different_dates_make_one_signal").await
    else {
        return;
    };
    for _ in 0..3 {
        let ch = unique_channel();
        let mut posts = tokio::task::JoinSet::new();
        for n in 0..10 {
            let payload = json!({"channelId": ch, "messageId": 1, "text": PETR4,
                                 "timestamp": iso(recent(30 - n))});
            let s = s.clone();
            posts.spawn(async move { s.post("/ingest", &payload).await });
        }
        while let Some(reply) = posts.join_next().await {
            assert_eq!(reply.expect("task").status, 200);
        }
        let signals = s.signals(ch).await;
        assert_eq!(signals.len(), 1, "one message, one signal: {signals:#?}");
    }
}

#[tokio::test]
async fn a_newer_edit_is_a_new_revision_and_the_history_is_kept() {
    let Some(s) = spawn_ingest("a_newer_edit_is_a_new_revision_and_the_history_is_kept").await
    else {
        return;
    };
    let ch = unique_channel();
    let t = recent(40);
    let at = |minutes: i64| t + chrono::Duration::minutes(minutes);
    let original = message(ch, 7, BOVAW32, t);
    let id = s.ingest(&original).await["signalId"]
        .as_i64()
        .expect("signal");

    let first_text = BOVAW32.replace("Stop: 0,70", "Stop: 0,80");
    let mut first_edit = message(ch, 7, &first_text, t);
    first_edit["editDate"] = json!(iso(at(2)));
    let r = s.ingest(&first_edit).await;
    assert_eq!(
        (&r["outcome"], &r["stored"], &r["signalId"]),
        (&json!("edited"), &json!(true), &json!(id)),
        "{r}"
    );
    // Re-deliveries of either version store nothing.
    assert_eq!(s.ingest(&first_edit).await["outcome"], "duplicate");
    assert_eq!(s.ingest(&original).await["outcome"], "duplicate");

    // A late delivery of an older edit is archived but does not roll the signal back.
    let mut stale = message(ch, 7, &BOVAW32.replace("Stop: 0,70", "Stop: 0,75"), t);
    stale["editDate"] = json!(at(1).timestamp());
    let r = s.ingest(&stale).await;
    assert_ne!(r["outcome"], "edited", "{r}");
    let row = &s.signals(ch).await[0];
    assert_eq!((row.revision, row.stop.as_deref()), (2, Some("0.8")));

    // A second edit (epoch milliseconds this time) is revision 3.
    let second_text = first_text.replace("Compra: 1,04 a 1,06", "Compra: 1,00 a 1,02");
    let mut second_edit = message(ch, 7, &second_text, t);
    second_edit["editDate"] = json!(at(10).timestamp_millis());
    assert_eq!(s.ingest(&second_edit).await["outcome"], "edited");

    let signals = s.signals(ch).await;
    assert_eq!(signals.len(), 1, "an edit never makes a second signal");
    let row = &signals[0];
    assert_eq!(row.id, id);
    assert_eq!(row.revision, 3);
    assert_eq!(row.edit_ms, Some(ms(at(10))));
    assert_eq!(row.date_ms, ms(t), "the message time does not move");
    assert_eq!(
        (row.entry_min.as_deref(), row.entry_max.as_deref()),
        (Some("1"), Some("1.02"))
    );
    assert_eq!(row.stop.as_deref(), Some("0.8"));
    assert_eq!(row.raw_message, second_text);
    assert_eq!(
        s.revisions(id).await,
        [
            (1, Some("0.7".to_owned()), BOVAW32.to_owned()),
            (2, Some("0.8".to_owned()), first_text.clone())
        ],
        "earlier revisions are kept"
    );
    let edits: Vec<Option<i64>> = s.archive(ch).await.iter().map(|a| a.edit_ms).collect();
    assert_eq!(
        edits,
        [None, Some(ms(at(1))), Some(ms(at(2))), Some(ms(at(10)))],
        "every delivery archived"
    );

    // A message that was not a call and is edited into one becomes a signal.
    let greeting = message(ch, 8, GREETING, t);
    assert_eq!(s.ingest(&greeting).await["outcome"], "ignored");
    let mut now_a_call = message(ch, 8, PETR4, t);
    now_a_call["editDate"] = json!(iso(at(3)));
    assert_eq!(s.ingest(&now_a_call).await["outcome"], "signal");
    let petr: Vec<_> = s
        .signals(ch)
        .await
        .into_iter()
        .filter(|r| r.message_id == 8)
        .collect();
    assert_eq!(petr.len(), 1);
    assert_eq!(petr[0].asset, "PETR4");
}

#[tokio::test]
async fn deletions_cancel_open_signals_and_remove_nothing() {
    let Some(s) = spawn_ingest("deletions_cancel_open_signals_and_remove_nothing").await else {
        return;
    };
    let (ch, other) = (unique_channel(), unique_channel());
    let t = recent(30);
    let open = s.ingest(&message(ch, 1, BOVAW32, t)).await["signalId"]
        .as_i64()
        .expect("signal");
    let stopped = s.ingest(&message(ch, 2, PETR4, t)).await["signalId"]
        .as_i64()
        .expect("signal");
    s.ingest(&message(ch, 3, GREETING, t)).await;
    s.ingest(&message(ch, 5, "Stop acionado PETR4", t)).await;
    let elsewhere = s.ingest(&message(other, 1, BOVAW32, t)).await["signalId"]
        .as_i64()
        .expect("signal");

    let notice = json!({"channelId": ch.to_string(), "messageIds": [1, 2, 3, 999]});
    let r = s.post("/ingest/deletions", &notice).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = r.json();
    assert_eq!(r["success"], true);
    assert_eq!(r["channelId"], ch);
    assert_eq!(r["cancelledSignalIds"], json!([open]), "only open signals");
    assert_eq!(r["archivedFlagged"], 3);

    let rows = s.signals(ch).await;
    assert_eq!(rows.len(), 2, "nothing hard-deleted");
    let status = |id: i64| {
        rows.iter()
            .find(|r| r.id == id)
            .map(|r| r.status.clone())
            .expect("kept")
    };
    assert_eq!(status(open), "cancelled");
    assert_eq!(status(stopped), "stopped");
    let history = s.status_events(open).await;
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0].0, "cancelled");
    let flags: Vec<(i64, bool)> = s
        .archive(ch)
        .await
        .iter()
        .map(|a| (a.message_id, a.deleted))
        .collect();
    assert_eq!(flags, [(1, true), (2, true), (3, true), (5, false)]);
    assert_eq!(s.signals(other).await[0].id, elsewhere);
    assert_eq!(
        s.signals(other).await[0].status,
        "open",
        "same message id, other channel"
    );

    // A repeated notice (ids as strings, channel as a number) cancels nothing twice.
    let again = json!({"channelId": ch, "messageIds": ["1", "2"]});
    let r = s.post("/ingest/deletions", &again).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["cancelledSignalIds"], json!([]));
    assert_eq!(s.status_events(open).await.len(), 1);

    // Bad notices name the field; without the token nothing happens.
    s.post(
        "/ingest/deletions",
        &json!({"channelId": ch, "messageIds": []}),
    )
    .await
    .invalid("messageIds");
    s.post(
        "/ingest/deletions",
        &json!({"channelId": ch, "messageIds": "1"}),
    )
    .await
    .invalid("messageIds");
    s.post("/ingest/deletions", &json!({"messageIds": [1]}))
        .await
        .invalid("channelId");
    s.send(
        s.http
            .post(s.url("/ingest/deletions"))
            .json(&json!({"channelId": other, "messageIds": [1]})),
    )
    .await
    .problem(401);
    assert_eq!(s.signals(other).await[0].status, "open");
}

#[tokio::test]
async fn a_batch_answers_each_item_and_holds_at_most_1000() {
    let Some(s) = spawn_ingest("a_batch_answers_each_item_and_holds_at_most_1000").await else {
        return;
    };
    let ch = unique_channel();
    let t = recent(25);
    let mixed = json!([
        message(ch, 1, BOVAW32, t),
        {"channelId": true, "messageId": 2, "text": "x", "telegramDate": iso(t)},
        message(ch, 3, GREETING, t),
        message(ch, 1, BOVAW32, t),
        {"channelId": ch, "messageId": 5, "text": "x"},
        message(ch, 6, BOVAW32_TARGET_1_HIT, t + chrono::Duration::minutes(1)),
    ]);
    let r = s.post("/ingest/batch", &mixed).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = r.json();
    assert_eq!(
        (&r["received"], &r["stored"], &r["invalid"], &r["success"]),
        (&json!(6), &json!(3), &json!(2), &json!(false)),
        "{r}"
    );
    let results = r["results"].as_array().expect("results");
    let outcomes: Vec<&Value> = results.iter().map(|x| &x["outcome"]).collect();
    assert_eq!(
        outcomes,
        [
            &json!("signal"),
            &Value::Null,
            &json!("ignored"),
            &json!("duplicate"),
            &Value::Null,
            &json!("update")
        ],
        "{r}"
    );
    assert_eq!(results[1]["success"], false);
    assert_eq!(results[1]["index"], 1);
    assert_eq!(results[1]["messageId"], 2);
    assert_eq!(results[1]["error"]["status"], 400);
    assert_eq!(results[1]["error"]["field"], "messages[1].channelId");
    assert_eq!(results[4]["error"]["field"], "messages[4].telegramDate");
    assert_eq!(
        results[5]["signalId"], results[0]["signalId"],
        "an update applies to a signal of the same batch"
    );
    let archive: Vec<i64> = s.archive(ch).await.iter().map(|a| a.message_id).collect();
    assert_eq!(archive, [1, 3, 6]);
    let signals = s.signals(ch).await;
    assert_eq!(signals.len(), 1);
    assert_eq!(signals[0].status, "target_hit");

    // 1,000 messages in the object form: all stored; sent again: all duplicates.
    let full = unique_channel();
    let items: Vec<Value> = (1..=1000)
        .map(|i| message(full, i, if i % 5 == 0 { GREETING } else { PETR4 }, t))
        .collect();
    let body = json!({ "messages": items });
    let r = s.post("/ingest/batch", &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = r.json();
    assert_eq!(
        (&r["received"], &r["stored"], &r["invalid"], &r["success"]),
        (&json!(1000), &json!(1000), &json!(0), &json!(true))
    );
    let results = r["results"].as_array().expect("results");
    assert_eq!(results.len(), 1000);
    assert!(results.iter().enumerate().all(|(i, x)| {
        x["messageId"] == i as i64 + 1
            && x["outcome"]
                == if (i + 1) % 5 == 0 {
                    "ignored"
                } else {
                    "signal"
                }
    }));
    assert_eq!(s.archive(full).await.len(), 1000);
    assert_eq!(s.signals(full).await.len(), 800);
    let r = s.post("/ingest/batch", &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = r.json();
    assert_eq!(r["stored"], 0);
    assert!(
        r["results"]
            .as_array()
            .expect("results")
            .iter()
            .all(|x| x["outcome"] == "duplicate")
    );
    assert_eq!(s.archive(full).await.len(), 1000);

    // 1,001 is refused whole.
    let over = unique_channel();
    let items: Vec<Value> = (1..=1001).map(|i| message(over, i, PETR4, t)).collect();
    s.post("/ingest/batch", &json!(items))
        .await
        .invalid("messages");
    assert!(s.archive(over).await.is_empty(), "nothing stored");
    // Not a batch at all.
    s.post("/ingest/batch", &json!({}))
        .await
        .invalid("messages");
    s.post("/ingest/batch", &json!({"messages": "x"}))
        .await
        .problem(400);
}

#[tokio::test]
async fn bad_input_is_a_400_problem_naming_the_field_never_a_500() {
    let Some(s) = spawn_ingest("bad_input_is_a_400_problem_naming_the_field_never_a_500").await
    else {
        return;
    };
    let ch = unique_channel();
    let t = recent(10);
    let date = iso(t);
    let far_future = iso(Utc::now() + chrono::Duration::days(30));
    let base = |extra: Value| {
        let mut m = json!({"channelId": ch, "messageId": 1, "text": "x", "telegramDate": date});
        if let (Some(m), Some(extra)) = (m.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                if v.is_null() {
                    m.remove(k);
                } else {
                    m.insert(k.clone(), v.clone());
                }
            }
        }
        m.to_string()
    };
    let mut deep = String::new();
    for _ in 0..5000 {
        deep.push('[');
    }
    let cases: Vec<(String, Option<&str>)> = vec![
        ("{not json".into(), None),
        (String::new(), None),
        ("[]".into(), None),
        ("null".into(), None),
        ("\"text\"".into(), None),
        ("{}".into(), Some("channelId")),
        (base(json!({"channelId": true})), Some("channelId")),
        (base(json!({"channelId": "abc"})), Some("channelId")),
        (base(json!({"channelId": 0})), Some("channelId")),
        (base(json!({"channelId": 1.5})), Some("channelId")),
        (base(json!({"channelId": null})), Some("channelId")),
        (base(json!({"messageId": "abc"})), Some("messageId")),
        (base(json!({"messageId": -3})), Some("messageId")),
        (base(json!({"messageId": 0})), Some("messageId")),
        (
            base(json!({"messageId": 18446744073709551615_u64})),
            Some("messageId"),
        ),
        (base(json!({"messageId": null})), Some("messageId")),
        (base(json!({"text": 5})), Some("text")),
        (base(json!({"caption": []})), Some("caption")),
        (
            base(json!({"telegramDate": "yesterday"})),
            Some("telegramDate"),
        ),
        (
            base(json!({"telegramDate": far_future})),
            Some("telegramDate"),
        ),
        (base(json!({"telegramDate": null})), Some("telegramDate")),
        (
            base(json!({"telegramDate": null, "timestamp": "yesterday"})),
            Some("timestamp"),
        ),
        (
            base(json!({"telegramDate": null, "timestamp": 5})),
            Some("timestamp"),
        ),
        (
            base(json!({"telegramDate": {"s": 1}})),
            Some("telegramDate"),
        ),
        (base(json!({"editDate": "x"})), Some("editDate")),
        (base(json!({"editDate": 5})), Some("editDate")),
        (base(json!({"source": 5})), Some("source")),
        (base(json!({"mediaType": {}})), Some("mediaType")),
        (base(json!({"messageType": 5})), Some("messageType")),
        (
            format!(
                r#"{{"channelId": {ch}, "messageId": 1, "telegramDate": "{date}", "metadata": {deep}"#
            ),
            None,
        ),
    ];
    for (body, field) in &cases {
        let shown: String = body.chars().take(80).collect();
        let reply = s
            .post_raw("/ingest", body.clone(), Some("application/json"))
            .await;
        assert_eq!(reply.status, 400, "{shown}: {}", reply.body);
        let problem = reply.problem(400);
        if let Some(field) = field {
            assert_eq!(problem["field"], *field, "{shown}: {problem}");
        }
    }
    // Not UTF-8.
    let reply = s
        .post_raw(
            "/ingest",
            b"{\"channelId\": 1, \"text\": \"\xff\xfe\"}".to_vec(),
            Some("application/json"),
        )
        .await;
    reply.problem(400);
    assert!(s.archive(ch).await.is_empty(), "nothing stored");

    // Unusual but valid input is stored, not refused: NUL in the text, metadata not an object.
    let nul = json!({"channelId": ch, "messageId": 2, "text": "Bom dia\u{0}!", "telegramDate": date,
                     "metadata": "from the old gateway"});
    assert_eq!(s.ingest(&nul).await["outcome"], "ignored");
    let archive = s.archive(ch).await;
    assert_eq!(archive.len(), 1);
    assert!(!archive[0].text.contains('\0'), "{:?}", archive[0].text);
    assert!(archive[0].text.starts_with("Bom dia"));
    assert_eq!(archive[0].metadata["metadata"], "from the old gateway");
    assert_eq!(s.get("/health/live").await.status, 200, "still serving");
    let metrics = s.get("/metrics").await.body;
    assert!(
        !metrics.contains("status=\"500\""),
        "no request ever ended in a 500"
    );
    assert!(metrics.contains("route=\"/ingest\",status=\"400\""));
}

#[tokio::test]
async fn oversized_bodies_wrong_content_types_and_methods_are_problems() {
    let Some(s) =
        spawn_ingest("oversized_bodies_wrong_content_types_and_methods_are_problems").await
    else {
        return;
    };
    let ch = unique_channel();
    let t = recent(10);
    let date = iso(t);
    let sized = |id: i64, bytes: usize| {
        json!({"channelId": ch, "messageId": id, "telegramDate": date,
               "text": format!("{BOVAW32}\n{}", "a".repeat(bytes))})
        .to_string()
    };
    let r = s
        .post_raw("/ingest", sized(1, 300 * 1024), Some("application/json"))
        .await;
    r.problem(413);
    let r = s
        .post_raw(
            "/ingest/deletions",
            format!(
                r#"{{"channelId": {ch}, "messageIds": [{}1]}}"#,
                "1, ".repeat(100_000)
            ),
            Some("application/json"),
        )
        .await;
    r.problem(413);
    let huge = json!({"messages": (1..=600)
        .map(|i| json!({"channelId": ch, "messageId": i, "telegramDate": date, "text": "b".repeat(30_000)}))
        .collect::<Vec<_>>()});
    let r = s
        .post_raw("/ingest/batch", huge.to_string(), Some("application/json"))
        .await;
    r.problem(413);
    assert!(s.archive(ch).await.is_empty(), "nothing stored");

    // Under the body limit a text over Telegram's 4,096 characters is refused on its own.
    let r = s
        .post_raw("/ingest", sized(2, 200 * 1024), Some("application/json"))
        .await;
    assert_eq!(r.problem(413)["field"], "text", "{}", r.body);
    // At the text limit a long message is fine.
    let r = s
        .post_raw("/ingest", sized(2, 3_800), Some("application/json"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["outcome"], "signal");

    let valid = message(ch, 3, GREETING, t).to_string();
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/xml"),
        None,
    ] {
        let r = s.post_raw("/ingest", valid.clone(), ct).await;
        assert_eq!(r.status, 415, "{ct:?}: {}", r.body);
        r.problem(415);
    }
    let r = s
        .post_raw(
            "/ingest",
            valid.clone(),
            Some("application/json; charset=utf-8"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    for (method, path) in [
        (reqwest::Method::GET, "/ingest"),
        (reqwest::Method::PUT, "/ingest"),
        (reqwest::Method::DELETE, "/ingest"),
        (reqwest::Method::PATCH, "/ingest/batch"),
        (reqwest::Method::GET, "/ingest/batch"),
        (reqwest::Method::GET, "/ingest/deletions"),
        (reqwest::Method::DELETE, "/ingest/deletions"),
        (reqwest::Method::POST, "/metrics"),
        (reqwest::Method::POST, "/health"),
    ] {
        let r = s
            .send(
                s.http
                    .request(method.clone(), s.url(path))
                    .header("X-Gateway-Token", &s.token),
            )
            .await;
        assert_eq!(r.status, 405, "{method} {path}: {}", r.body);
        r.problem(405);
    }
    s.get("/ingest/nope").await.problem(404);
    let ids: Vec<i64> = s.archive(ch).await.iter().map(|a| a.message_id).collect();
    assert_eq!(ids, [2, 3]);
}

#[tokio::test]
async fn health_metrics_and_the_openapi_document() {
    let Some(s) = spawn_ingest("health_metrics_and_the_openapi_document").await else {
        return;
    };
    let (status, health) = s.wait_health("healthy", Duration::from_secs(30)).await;
    assert_eq!(status, 200);
    assert_eq!(health["database"], "connected", "{health}");
    assert_eq!(health["cache"], "connected", "{health}");
    assert!(health["version"].is_string(), "{health}");
    assert!(health["uptime"].is_u64(), "{health}");
    assert_eq!(s.get("/health/live").await.status, 200);
    assert_eq!(s.get("/health/ready").await.status, 200);

    // The last-success time exists once something was stored: this test's own ingest.
    s.ingest(&message(unique_channel(), 1, BOVAW32, recent(1)))
        .await;
    let metrics = s.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    for name in [
        "tpcapital_ingest_messages_total{outcome=\"signal\"}",
        "tpcapital_ingest_messages_total{outcome=\"duplicate\"}",
        "tpcapital_signals_total",
        "tpcapital_ingest_last_success_timestamp_seconds",
    ] {
        assert!(metrics.body.contains(name), "{name} missing");
    }

    let doc = s.get("/api-docs/openapi.json").await;
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    for path in ["/ingest", "/ingest/batch", "/ingest/deletions"] {
        let responses = &doc["paths"][path]["post"]["responses"];
        for code in ["200", "400", "401", "413", "415", "503"] {
            assert!(responses[code].is_object(), "{path} documents {code}");
        }
    }
}
