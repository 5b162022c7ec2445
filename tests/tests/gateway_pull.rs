//! The gateway pull consumer end to end: the real `tp-capital-ingest serve` (on the test stack's
//! database and Redis) pulling from the fake gateway of `test-support`. Each scenario prints its
//! counts (sent / stored / duplicated / missing). Durations the issue states (a 2-minute kill, a
//! 90-second outage) are scaled down for CI together with the gateway's push retry schedule, and
//! can be set back with `TP_TEST_KILL_SECS` and `TP_TEST_GATEWAY_DOWN_SECS`.

mod gateway_common;

use std::time::{Duration, Instant};

use gateway_common::*;
use serde_json::Value;
use test_support::gateway::{Fault, PushConfig, posted};
use test_support::ingest_client::{BOVAW32, ingest, unique_channel};
use test_support::{FakeGateway, GatewayMessage};

fn chatter(i: i64) -> String {
    format!("Mensagem {i}: bom dia, pessoal, mercado abrindo agora")
}

/// Every row of `channel` at the fake is `published`.
fn all_acknowledged(gateway: &FakeGateway, channel: i64) -> bool {
    gateway
        .rows_of(channel)
        .iter()
        .all(|r| r.status == "published")
}

async fn wait_acknowledged(gateway: &FakeGateway, channel: i64, within: Duration) {
    let deadline = Instant::now() + within;
    while !all_acknowledged(gateway, channel) {
        assert!(
            Instant::now() < deadline,
            "channel {channel}: rows still pending at the gateway: {:?}",
            gateway
                .rows_of(channel)
                .iter()
                .filter(|r| r.status != "published")
                .map(|r| r.message.message_id)
                .take(20)
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn pull_with_push_off_stores_1000_messages_once_within_two_poll_intervals() {
    let Some(db) = ingest().await else { return };
    let gateway = FakeGateway::start().await;
    let channel = unique_channel();
    // The production default (the old consumer's 5 s).
    let poll_ms = 5_000;
    let service = PullIngest::start(&gateway, &[channel], poll_ms, &[]).await;

    let sent: Vec<i64> = (1..=1000).collect();
    for &id in &sent {
        let text = if id % 10 == 0 {
            BOVAW32.to_owned()
        } else {
            chatter(id)
        };
        gateway.receive(GatewayMessage::text(channel, id, &text, posted(30)));
    }
    // The gateway's own duplicates: 20 messages stored twice.
    for id in (1..=20).map(|i| i * 7) {
        gateway.receive_duplicate(GatewayMessage::text(channel, id, &chatter(id), posted(30)));
    }
    let took = wait_stored(&db, channel, &sent, Duration::from_secs(60)).await;
    let c = counts(&db, channel, &sent).await;
    eprintln!("push off: {c}; all stored {took:?} after they reached the gateway");
    assert_eq!((c.stored, c.duplicated, c.missing), (1000, 0, 0), "{c}");
    assert!(
        took <= Duration::from_millis(2 * poll_ms),
        "1,000 messages took {took:?}, more than two poll intervals"
    );
    wait_acknowledged(&gateway, channel, Duration::from_secs(10)).await;
    let name = format!("tp-capital:{channel}");
    assert!(
        gateway
            .rows_of(channel)
            .iter()
            .all(|r| r.processed_by.as_deref() == Some(name.as_str())),
        "every row acknowledged under the channel's consumer name"
    );

    // The api serves them.
    let api = e2e::stack_var("TP_CAPITAL_API_URL").expect("api");
    let page: Value = reqwest::get(format!("{api}/messages?channel={channel}&limit=1000"))
        .await
        .expect("api")
        .json()
        .await
        .expect("json");
    assert_eq!(
        page["data"].as_array().map(Vec::len),
        Some(1000),
        "api /messages"
    );

    // A gateway restart that loses its acknowledgements: everything comes back, nothing is
    // stored twice, everything is acknowledged again.
    gateway.restart_losing_acks().await;
    wait_acknowledged(&gateway, channel, Duration::from_secs(30)).await;
    let after = counts(&db, channel, &sent).await;
    assert_eq!(after, c, "a re-listing stores nothing new");
    let label = format!("{{channel=\"{channel}\"}}");
    let duplicates = format!("tpcapital_gateway_duplicates_total{label}");
    let deadline = Instant::now() + Duration::from_secs(15);
    // Every message again (a gateway duplicate row is acknowledged with its twin, by message id).
    while service.metric(&duplicates).await < 1000.0 {
        assert!(
            Instant::now() < deadline,
            "{}",
            gateway_lines(&service.metrics().await)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let metrics = service.metrics().await;
    assert_eq!(
        metric_in(&metrics, &format!("tpcapital_gateway_stored_total{label}")),
        1000.0
    );
    assert!(metric_in(&metrics, "tpcapital_gateway_last_success_timestamp_seconds") > 0.0);
    eprintln!("push off, after a gateway restart losing acks: {after}");
}

#[tokio::test]
async fn the_same_message_id_in_two_channels_is_stored_and_acknowledged_in_both() {
    let Some(db) = ingest().await else { return };
    let gateway = FakeGateway::start().await;
    let (a, b) = (unique_channel(), unique_channel());
    // Channel b has a backlog longer than a page; channel a's message 1120 is acknowledged (for
    // every channel, as the gateway does) before b's page reaches b's message 1120.
    let b_ids: Vec<i64> = (1000..1150).collect();
    for &id in &b_ids {
        gateway.receive(GatewayMessage::text(b, id, &chatter(id), posted(20)));
    }
    let a_ids: Vec<i64> = vec![1, 2, 3, 1120];
    for &id in &a_ids {
        gateway.receive(GatewayMessage::text(a, id, BOVAW32, posted(20)));
    }
    for id in [1, 2, 3] {
        gateway.receive(GatewayMessage::text(b, id, &chatter(id), posted(20)));
    }
    let mut b_all = b_ids.clone();
    b_all.extend([1, 2, 3]);
    let service = PullIngest::start(
        &gateway,
        &[a, b],
        1_000,
        &[
            ("TP_CAPITAL_GATEWAY_PAGE_SIZE", "100"),
            ("TP_CAPITAL_GATEWAY_RECONCILE_INTERVAL_SECS", "2"),
        ],
    )
    .await;
    wait_stored(&db, a, &a_ids, Duration::from_secs(30)).await;
    wait_stored(&db, b, &b_all, Duration::from_secs(30)).await;
    let (ca, cb) = (counts(&db, a, &a_ids).await, counts(&db, b, &b_all).await);
    eprintln!("two channels: a {ca}; b {cb}");
    assert_eq!(
        (ca.missing, ca.duplicated, cb.missing, cb.duplicated),
        (0, 0, 0, 0)
    );
    wait_acknowledged(&gateway, a, Duration::from_secs(10)).await;
    wait_acknowledged(&gateway, b, Duration::from_secs(10)).await;
    let healed = service
        .metric(&format!(
            "tpcapital_gateway_healed_total{{channel=\"{b}\"}}"
        ))
        .await;
    assert!(
        healed >= 1.0,
        "b's 1120 was hidden by a's acknowledgement and healed: {healed}"
    );
    assert!(service.log().contains("another channel's acknowledgement"));
}

#[tokio::test]
async fn gateway_down_opens_a_visible_breaker_and_nothing_is_lost() {
    let Some(db) = ingest().await else { return };
    let down_for = secs_from_env("TP_TEST_GATEWAY_DOWN_SECS", 8);
    let gateway = FakeGateway::start().await;
    let channel = unique_channel();
    // 200 photo-only messages at the head of the queue, then calls and chatter.
    let mut sent = Vec::new();
    for id in 1..=200 {
        gateway.receive(GatewayMessage::photo(channel, id, posted(40)));
        sent.push(id);
    }
    for id in 201..=400 {
        let text = if id % 5 == 0 {
            BOVAW32.to_owned()
        } else {
            chatter(id)
        };
        gateway.receive(GatewayMessage::text(channel, id, &text, posted(40)));
        sent.push(id);
    }
    // A burst of 429s, 500s and a slow answer at start.
    gateway.inject([
        Fault::RateLimited {
            retry_after_secs: 1,
        },
        Fault::ServerError,
        Fault::Slow(Duration::from_millis(800)),
        Fault::RateLimited {
            retry_after_secs: 1,
        },
    ]);
    let service = PullIngest::start(
        &gateway,
        &[channel],
        1_000,
        &[
            ("TP_CAPITAL_GATEWAY_BREAKER_FAILURES", "2"),
            ("TP_CAPITAL_GATEWAY_BREAKER_PAUSE_SECS", "2"),
            ("TP_CAPITAL_GATEWAY_ATTEMPTS", "2"),
            ("TP_CAPITAL_GATEWAY_TIMEOUT_MS", "2000"),
        ],
    )
    .await;
    let took = wait_stored(&db, channel, &sent, Duration::from_secs(60)).await;
    eprintln!("200 photos at the head then 200 messages: all stored in {took:?}");
    wait_acknowledged(&gateway, channel, Duration::from_secs(10)).await;

    gateway.down().await;
    let went_down = Instant::now();
    for id in 401..=500 {
        gateway.receive(GatewayMessage::text(channel, id, &chatter(id), posted(1)));
        sent.push(id);
    }
    // The breaker opens: metric, log line, /health degraded with the reason.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (health, metrics) = loop {
        let (status, body) = service.get("/health").await;
        let metrics = service.metrics().await;
        if body.contains("\"degraded\"")
            && metric_in(&metrics, "tpcapital_gateway_breaker_state") == 2.0
        {
            assert_eq!(status, 200, "degraded is still 200: {body}");
            break (body, metrics);
        }
        assert!(Instant::now() < deadline, "breaker never opened: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!("while the gateway is down — /health: {health}");
    eprintln!(
        "while the gateway is down — /metrics:\n{}",
        gateway_lines(&metrics)
    );
    let report: Value = serde_json::from_str(&health).expect("health json");
    assert_eq!(report["gateway"], "disconnected", "{report}");
    assert!(
        report["reason"]
            .as_str()
            .is_some_and(|r| r.contains("circuit breaker open")),
        "{report}"
    );
    assert!(
        metric_in(
            &metrics,
            "tpcapital_gateway_errors_total{kind=\"unavailable\"}"
        ) >= 2.0
    );
    assert!(
        service.log().contains("gateway circuit breaker open"),
        "log line on opening"
    );

    if let Some(rest) = down_for.checked_sub(went_down.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    gateway.up().await;
    let took = wait_stored(&db, channel, &sent, Duration::from_secs(60)).await;
    eprintln!(
        "gateway back after {:?}: the 100 messages of the outage stored in {took:?}",
        went_down.elapsed()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while service.metric("tpcapital_gateway_breaker_state").await != 0.0 {
        assert!(Instant::now() < deadline, "breaker never closed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, health) = service.get("/health").await;
    assert!(health.contains("\"healthy\""), "{health}");
    assert!(
        service.log().contains("gateway circuit breaker closed"),
        "log line on closing"
    );
    wait_acknowledged(&gateway, channel, Duration::from_secs(10)).await;
    let c = counts(&db, channel, &sent).await;
    eprintln!("gateway down: {c}");
    assert_eq!(
        (c.sent, c.stored, c.duplicated, c.missing),
        (500, 500, 0, 0),
        "{c}"
    );
}

#[tokio::test]
async fn push_on_and_ingest_killed_every_message_is_stored_exactly_once() {
    let Some(db) = ingest().await else { return };
    let token = e2e::stack_var("TP_CAPITAL_GATEWAY_TOKEN").expect("token");
    let kill_for = secs_from_env("TP_TEST_KILL_SECS", 6);
    let gateway = FakeGateway::start().await;
    let channel = unique_channel();
    let mut service = PullIngest::start(&gateway, &[channel], 1_000, &[]).await;
    // The gateway's schedule (5 s, 10 s, 20 s: ~35 s) scaled to 0.25 s, 0.5 s, 1 s: a kill longer
    // than ~2 s loses pushes, as a kill longer than 35 s does in production.
    gateway.enable_push(PushConfig {
        endpoint: service.ingest_endpoint(),
        token,
        base_delay: Duration::from_millis(250),
        attempts: 4,
        timeout: Duration::from_secs(2),
    });
    let mut sent = Vec::new();
    let mut next = 1;
    let mut send = |n: i64, sent: &mut Vec<i64>| {
        for _ in 0..n {
            let text = if next % 4 == 0 {
                BOVAW32.to_owned()
            } else {
                chatter(next)
            };
            gateway.receive(GatewayMessage::text(channel, next, &text, posted(5)));
            sent.push(next);
            next += 1;
        }
    };
    send(100, &mut sent);
    tokio::time::sleep(Duration::from_secs(2)).await;
    service.kill();
    let killed = Instant::now();
    while killed.elapsed() < kill_for {
        send(10, &mut sent);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    service.restart().await;
    send(100, &mut sent);
    wait_stored(&db, channel, &sent, Duration::from_secs(90)).await;
    wait_acknowledged(&gateway, channel, Duration::from_secs(30)).await;
    let c = counts(&db, channel, &sent).await;
    let push = gateway.push_counts();
    eprintln!(
        "push on, ingest killed {kill_for:?}: {c}; push delivered {} and gave up on {}",
        push.delivered, push.given_up
    );
    assert_eq!((c.duplicated, c.missing), (0, 0), "{c}");
    assert_eq!(c.stored, sent.len());
    assert!(
        push.given_up > 0,
        "the kill outlasted the push retries: only pull could heal"
    );
}
