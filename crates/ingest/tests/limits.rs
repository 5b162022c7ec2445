//! Sizes and dates the ingest bounds (served in process on a database of each test's own): a text over 4,096 characters (or a
//! caption over 1,024) is a 413 on `/ingest` and a final 413 result for its item in
//! `/ingest/batch` while the other items are stored; the echoed value is clipped; a message
//! dated before the horizon (730 days by default) is archived as rejected, never a signal.

use chrono::{Duration, Utc};
use serde_json::json;
use test_support::ingest_client::*;
use test_support::spawn::spawn_ingest;

const CALL: &str = "Day Trade 🔵\n\nPapel: PETR4\nEntrada: 38,50\nTP: 39,00\nSL: 38,00";

#[tokio::test]
async fn oversized_messages_are_413_alone_and_per_item_in_a_batch() {
    let Some(s) = spawn_ingest("oversized_messages_are_413_alone_and_per_item_in_a_batch").await
    else {
        return;
    };
    let channel = unique_channel();
    let long = format!("{CALL}\n{}", "x".repeat(4_100));
    let reply = s
        .post("/ingest", &message(channel, 1, &long, recent(5)))
        .await;
    let problem = reply.problem(413);
    assert_eq!(problem["field"], "text", "{problem}");
    assert!(
        reply.body.len() < 2_000,
        "the value is not echoed: {} bytes",
        reply.body.len()
    );

    let mut caption = message(channel, 2, "", recent(5));
    caption["text"] = json!(null);
    caption["caption"] = json!("c".repeat(1_025));
    s.post("/ingest", &caption).await.problem(413);

    let batch = json!([
        message(channel, 3, CALL, recent(4)),
        message(channel, 4, &long, recent(4)),
    ]);
    let reply = s.post("/ingest/batch", &batch).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let answer = reply.json();
    assert_eq!(
        (answer["stored"].as_u64(), answer["invalid"].as_u64()),
        (Some(1), Some(1)),
        "{answer}"
    );
    let item = &answer["results"][1];
    assert_eq!(item["success"], false, "{item}");
    assert_eq!(item["error"]["status"], 413, "{item}");
    assert_eq!(item["error"]["field"], "messages[1].text", "{item}");
    assert!(
        reply.body.len() < 4_000,
        "the value is not echoed: {} bytes",
        reply.body.len()
    );
    let archived: Vec<i64> = s
        .archive(channel)
        .await
        .iter()
        .map(|a| a.message_id)
        .collect();
    assert_eq!(archived, [3], "only the valid item is stored");

    // A huge invalid value is echoed clipped.
    let mut bad = message(channel, 5, CALL, recent(3));
    bad["telegramDate"] = json!("y".repeat(100_000));
    let reply = s.post("/ingest", &bad).await;
    reply.problem(400);
    assert!(
        reply.body.len() < 2_000,
        "{} bytes echoed",
        reply.body.len()
    );
}

#[tokio::test]
async fn messages_older_than_the_horizon_are_archived_as_rejected() {
    let Some(s) = spawn_ingest("messages_older_than_the_horizon_are_archived_as_rejected").await
    else {
        return;
    };
    let channel = unique_channel();
    let old = Utc::now() - Duration::days(1_100);
    let receipt = s.ingest(&message(channel, 1, CALL, old)).await;
    assert_eq!(receipt["outcome"], "rejected", "{receipt}");
    assert!(receipt["signalId"].is_null(), "{receipt}");
    let reason = receipt["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("horizon"), "{reason}");
    assert!(
        s.signals(channel).await.is_empty(),
        "no signal (and no chunk) for an old week"
    );
    let archive = s.archive(channel).await;
    assert_eq!(archive.len(), 1);
    assert_eq!(archive[0].outcome, "rejected");
}
