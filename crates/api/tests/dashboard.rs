//! What the legacy React dashboard needs from the services (issue 19; the api and the ingest
//! served in process on a database of each test's own): `ingested_at`
//! unique per signal with microseconds (it keys its table rows by it), channels named after
//! their Telegram title unless an operator named them, `source` never null, and error bodies
//! it can show (`success: false`, `message`).

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Value, json};
use test_support::api_client::*;

/// `2025-10-20T13:00:01.123456Z`: six fractional digits and `Z`.
fn micros_on_the_wire(t: &str) -> bool {
    let Some((_, frac)) = t.strip_suffix('Z').and_then(|t| t.rsplit_once('.')) else {
        return false;
    };
    frac.len() == 6 && frac.bytes().all(|b| b.is_ascii_digit())
}

fn call(channel: i64, message_id: i64) -> Value {
    json!({
        "channelId": channel.to_string(),
        "messageId": message_id,
        "text": BOVAW32,
        "telegramDate": "2025-10-20T13:00:00Z",
        "source": "bot",
    })
}

/// The `ingested_at` of every signal of `channel` (up to 1,000), asserting the wire format.
async fn ingested_at_of(s: &Stack, channel: i64) -> Vec<String> {
    let r = s
        .get(&format!("/signals?channel={channel}&limit=1000"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rows = r.json()["data"].as_array().cloned().unwrap_or_default();
    rows.iter()
        .map(|row| {
            let t = row["ingested_at"].as_str().expect("ingested_at").to_owned();
            assert!(micros_on_the_wire(&t), "{t}");
            t
        })
        .collect()
}

// Several threads: the test's 64 clients share the runtime with the ingest's group commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_of_1000_and_a_burst_of_1000_single_posts_get_1000_distinct_ingested_at() {
    let Some(s) =
        spawn("a_batch_of_1000_and_a_burst_of_1000_single_posts_get_1000_distinct_ingested_at")
            .await
    else {
        return;
    };
    let batch_channel = unique_channel();
    let messages: Vec<Value> = (1..=1000).map(|id| call(batch_channel, id)).collect();
    let r = s
        .send(
            s.http
                .post(format!("{}/ingest/batch", s.ingest))
                .header("X-Gateway-Token", &s.token)
                .json(&json!({ "messages": messages })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let batch = ingested_at_of(&s, batch_channel).await;
    assert_eq!(batch.len(), 1000);
    assert_eq!(
        batch.iter().collect::<HashSet<_>>().len(),
        1000,
        "one batch"
    );

    let burst_channel = unique_channel();
    let s = Arc::new(s);
    let gate = Arc::new(tokio::sync::Semaphore::new(64));
    let mut posts = tokio::task::JoinSet::new();
    for id in 1..=1000 {
        let (s, gate) = (s.clone(), gate.clone());
        posts.spawn(async move {
            let _permit = gate.acquire().await.expect("semaphore");
            s.ingest_payload(call(burst_channel, id)).await
        });
    }
    while let Some(answer) = posts.join_next().await {
        assert_eq!(answer.expect("post")["outcome"], "signal");
    }
    let burst = ingested_at_of(&s, burst_channel).await;
    assert_eq!(burst.len(), 1000);
    assert_eq!(
        burst.iter().collect::<HashSet<_>>().len(),
        1000,
        "concurrent single posts share group commits, not receipt times"
    );
}

#[tokio::test]
async fn a_channel_is_named_after_its_telegram_title_unless_an_operator_named_it() {
    let Some(s) =
        spawn("a_channel_is_named_after_its_telegram_title_unless_an_operator_named_it").await
    else {
        return;
    };
    let ch = unique_channel();
    let titled = |id: i64, title: &str| {
        let mut m = call(ch, id);
        m["metadata"] = json!({"telegramDetails": {"chatTitle": title, "chatType": "channel"}});
        m
    };
    s.ingest_payload(titled(1, "  TP Capital Opções ")).await;
    let label = |channels: Value| {
        channels["data"]
            .as_array()
            .and_then(|all| all.iter().find(|c| c["channel_id"] == ch).cloned())
            .map(|c| c["label"].clone())
    };
    assert_eq!(
        label(
            s.fresh("/channels", |c| label(c.clone())
                == Some(json!("TP Capital Opções")))
                .await
        ),
        Some(json!("TP Capital Opções"))
    );
    let rows = s.signals_of(ch, "").await;
    assert_eq!(rows[0]["channel"], "TP Capital Opções");
    assert_eq!(
        s.signals_of(ch, "").await.len(),
        s.get("/signals?channel=TP%20Capital%20Op%C3%A7%C3%B5es&limit=100")
            .await
            .json()["data"]
            .as_array()
            .map_or(0, Vec::len),
        "the learned label filters like a set one"
    );
    // A renamed chat is learned again.
    s.ingest_payload(titled(2, "TP Capital VIP")).await;
    assert_eq!(
        label(
            s.fresh("/channels", |c| label(c.clone())
                == Some(json!("TP Capital VIP")))
                .await
        ),
        Some(json!("TP Capital VIP"))
    );
    // An operator's label wins over every later title.
    let put = s
        .send(
            s.http
                .put(s.url(&format!("/channels/{ch}")))
                .header("X-API-Key", &s.key)
                .json(&json!({"label": "Mesa B3"})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    s.ingest_payload(titled(3, "Another title")).await;
    assert_eq!(
        label(
            s.fresh("/channels", |c| label(c.clone()) == Some(json!("Mesa B3")))
                .await
        ),
        Some(json!("Mesa B3"))
    );
}

#[tokio::test]
async fn source_is_the_gateways_or_telegram() {
    let Some(s) = spawn("source_is_the_gateways_or_telegram").await else {
        return;
    };
    let ch = unique_channel();
    let mut anonymous = call(ch, 1);
    anonymous.as_object_mut().map(|m| m.remove("source"));
    s.ingest_payload(anonymous).await;
    let mut user = call(ch, 2);
    user["source"] = json!("user_client");
    s.ingest_payload(user).await;
    let rows = s.signals_of(ch, "").await;
    let mut sources: Vec<&str> = rows.iter().filter_map(|r| r["source"].as_str()).collect();
    sources.sort_unstable();
    assert_eq!(sources, ["telegram", "user_client"]);
}

#[tokio::test]
async fn errors_are_problems_that_legacy_clients_can_show() {
    let Some(s) = spawn("errors_are_problems_that_legacy_clients_can_show").await else {
        return;
    };
    let p = s.get("/signals?limit=0").await.problem(400);
    assert_eq!(p["success"], false);
    assert_eq!(p["message"], p["detail"]);
    let p = s.get("/no-such-route").await.problem(404);
    assert_eq!(p["success"], false);
    assert!(p["message"].as_str().is_some_and(|m| !m.is_empty()));
}
