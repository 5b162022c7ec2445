//! The cache end to end, through the ingest and the api served in process on a database and a
//! Redis namespace of each test's own: a commit invalidates what it
//! changed — its channel's pages at once, the pages across channels within the freshness bound
//! (SPEC §4: 1 s) — and leaves the other channels' pages cached.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use test_support::api_client::*;

/// SPEC §4: no answer staler than this after a commit.
const FRESHNESS: Duration = Duration::from_secs(1);
const CALL: &str = "Ativo: BOVAW32\nCompra: 1,10\nAlvo: 1,30\nStop: 0,90";
const STOP: &str = "🛑 Stop acionado em BOVAW32";

/// Reads `path` until it is served from the cache; returns the cached body.
async fn cached(s: &Stack, path: &str) -> String {
    for _ in 0..200 {
        let first = s.get(path).await;
        assert_eq!(first.status, 200, "{path}: {}", first.body);
        let second = s.get(path).await;
        if second.header("x-cache") == Some("hit") {
            return second.body;
        }
    }
    panic!("{path} never served from the cache");
}

/// The status of signal `id` on the page at `path` (`None`: not listed).
async fn status_on(s: &Stack, path: &str, id: i64) -> Option<String> {
    let page = s.get(path).await;
    assert_eq!(page.status, 200, "{path}: {}", page.body);
    page.json()["data"]
        .as_array()?
        .iter()
        .find(|row| row["id"] == id)
        .and_then(|row| row["status"].as_str().map(str::to_owned))
}

/// Polls `path` until signal `id` shows `want`; returns how long after `since` the read that
/// showed it was sent (its own latency is not staleness).
async fn shows_within(
    s: &Stack,
    path: &str,
    id: i64,
    want: Option<&str>,
    since: Instant,
) -> Duration {
    loop {
        let sent = Instant::now();
        if status_on(s, path, id).await.as_deref() == want {
            return sent.duration_since(since);
        }
        assert!(
            since.elapsed() < FRESHNESS * 2,
            "{path} never showed {want:?} for signal {id}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn seconds_ago(seconds: i64) -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    i64::try_from(now).expect("now") - seconds
}

#[tokio::test]
async fn a_signal_for_channel_a_leaves_channel_b_cached() {
    let Some(s) = spawn("a_signal_for_channel_a_leaves_channel_b_cached").await else {
        return;
    };
    let (a, b) = (unique_channel(), unique_channel());
    s.ingest_at(a, 1, seconds_ago(600), CALL).await;
    s.ingest_at(b, 1, seconds_ago(600), CALL).await;
    let page_b = format!("/signals?channel={b}&limit=50");
    // Other tests may invalidate everything meanwhile (a label change, a reparse): a later
    // attempt then shows what one commit of channel A does.
    let mut last = None;
    for round in 0..5 {
        let before = cached(&s, &page_b).await;
        let answer = s
            .ingest_at(a, 2 + round, seconds_ago(300 - round), CALL)
            .await;
        assert_eq!(answer["outcome"], "signal", "{answer}");
        let after = s.get(&page_b).await;
        if after.header("x-cache") == Some("hit") {
            assert_eq!(after.body, before, "the same page, from the cache");
            assert_eq!(s.signals_of(a, "").await.len(), 2 + round as usize);
            return;
        }
        last = after.header("x-cache").map(str::to_owned);
    }
    panic!("channel B's page was reloaded after each commit of channel A: {last:?}");
}

#[tokio::test]
async fn an_update_and_a_delete_reach_every_cached_page_that_shows_the_signal() {
    let Some(s) =
        spawn("an_update_and_a_delete_reach_every_cached_page_that_shows_the_signal").await
    else {
        return;
    };
    let ch = unique_channel();
    let at = seconds_ago(3600 + ch.rem_euclid(3600));
    let answer = s.ingest_at(ch, 1, at, CALL).await;
    let id = answer["signalId"].as_i64().expect("signal");
    // One page of its channel, two across channels (its minute; its asset in that minute).
    let ms = at * 1000;
    let pages = [
        format!("/signals?channel={ch}&limit=50"),
        format!("/signals?from={ms}&to={ms}&limit=1000"),
        format!(
            "/signals?asset=BOVAW32&from={}&to={ms}&limit=1000",
            ms - 60_000
        ),
    ];
    for page in &pages {
        cached(&s, page).await;
        assert_eq!(status_on(&s, page, id).await.as_deref(), Some("open"));
    }

    let update = s.ingest_at(ch, 2, at + 60, STOP).await;
    assert_eq!(update["outcome"], "update", "{update}");
    let committed = Instant::now();
    assert_eq!(
        status_on(&s, &pages[0], id).await.as_deref(),
        Some("stopped"),
        "the channel's page at once"
    );
    for page in &pages[1..] {
        let took = shows_within(&s, page, id, Some("stopped"), committed).await;
        assert!(took <= FRESHNESS, "{page} showed the update after {took:?}");
    }

    for page in &pages {
        cached(&s, page).await;
    }
    let deleted = s
        .send(
            s.http
                .delete(s.url(&format!("/signals/{id}")))
                .header("X-API-Key", &s.key),
        )
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    let committed = Instant::now();
    assert_eq!(status_on(&s, &pages[0], id).await, None, "gone at once");
    for page in &pages[1..] {
        let took = shows_within(&s, page, id, None, committed).await;
        assert!(took <= FRESHNESS, "{page} dropped it after {took:?}");
    }
}

#[tokio::test]
async fn channels_and_stats_follow_an_ingest_within_the_freshness_bound() {
    let Some(s) = spawn("channels_and_stats_follow_an_ingest_within_the_freshness_bound").await
    else {
        return;
    };
    let ch = unique_channel();
    let count = |channels: &Value| {
        channels["data"]
            .as_array()
            .and_then(|all| all.iter().find(|c| c["channel_id"] == ch).cloned())
            .and_then(|c| c["signal_count"].as_u64())
    };
    s.ingest_at(ch, 1, seconds_ago(120), CALL).await;
    let stats = format!("/signals/stats?channel={ch}");
    let first = s.get(&stats).await.json();
    assert_eq!(first["total"], 1, "{first}");
    s.ingest_at(ch, 2, seconds_ago(60), CALL).await;
    let committed = Instant::now();
    assert_eq!(
        s.get(&stats).await.json()["total"],
        2,
        "the channel's stats at once"
    );
    loop {
        let sent = committed.elapsed();
        if count(&s.get("/channels").await.json()) == Some(2) {
            break;
        }
        assert!(sent <= FRESHNESS, "/channels still behind after {sent:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
