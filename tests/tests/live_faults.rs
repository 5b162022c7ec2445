//! The live stream under a Redis-master outage (run one at a time by tests/run.sh: names start
//! with `fault_`): an SSE client stays connected while the master is stopped and started and
//! signals are created before, during and after; it receives every one of them exactly once,
//! in order (or one `reset`), and a client reconnecting with its last event id replays them the
//! same way.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use test_support::api_client::*;

/// One SSE event as received.
#[derive(Debug)]
struct Event {
    id: Option<String>,
    name: String,
    data: Value,
}

/// An open `/signals/stream` response and the complete events read from it so far.
struct Client {
    res: reqwest::Response,
    buffer: String,
    events: Vec<Event>,
    /// The `: connected` preamble arrived (the subscription is live).
    connected: bool,
}

impl Client {
    async fn open(s: &Stack, last_event_id: Option<&str>) -> Self {
        let mut req = s
            .http
            .get(s.url("/signals/stream"))
            .timeout(Duration::from_secs(300));
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        let res = req.send().await.expect("stream");
        assert_eq!(res.status(), 200);
        let mut client = Self {
            res,
            buffer: String::new(),
            events: Vec::new(),
            connected: false,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !client.connected {
            assert!(Instant::now() < deadline, "no `: connected` preamble");
            client.read_some(Duration::from_secs(10)).await;
        }
        client
    }

    /// Reads one chunk (panics when the stream stops) and parses the complete events in it.
    async fn read_some(&mut self, wait: Duration) {
        match tokio::time::timeout(wait, self.res.chunk()).await {
            Err(_) => return,
            Ok(Ok(Some(bytes))) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
            Ok(other) => panic!("the stream stopped: {other:?}"),
        }
        while let Some(end) = self.buffer.find("\n\n") {
            let block: String = self.buffer.drain(..end + 2).collect();
            let (mut id, mut name, mut data) = (None, None, None);
            for line in block.lines() {
                if line == ": connected" {
                    self.connected = true;
                } else if let Some(v) = line.strip_prefix("id: ") {
                    id = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("event: ") {
                    name = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = Some(serde_json::from_str(v).expect("JSON data"));
                }
            }
            if let (Some(name), Some(data)) = (name, data) {
                self.events.push(Event { id, name, data });
            }
        }
    }

    /// Reads until `done` holds for the events of `channel` (or a reset arrives), at most `secs`.
    async fn read_until(&mut self, channel: i64, secs: u64, done: impl Fn(&[&Event]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let mine = self.of(channel);
            if done(&mine) || self.resets() > 0 || Instant::now() > deadline {
                return;
            }
            self.read_some(Duration::from_millis(500)).await;
        }
    }

    fn of(&self, channel: i64) -> Vec<&Event> {
        self.events
            .iter()
            .filter(|e| e.name == "signal" && e.data["channel_id"] == channel)
            .collect()
    }

    fn resets(&self) -> usize {
        self.events.iter().filter(|e| e.name == "reset").count()
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Creates signals `ids` of `channel` (one message each, one after the other).
async fn create(s: &Stack, channel: i64, ids: std::ops::Range<i64>) {
    for id in ids {
        let reply = s.ingest_at(channel, id, now_secs(), BOVAW32).await;
        assert!(reply.to_string().contains("signal"), "{reply}");
    }
}

/// Asserts the client got every signal of `channel` (message ids `expected`) exactly once and
/// in creation order — or exactly one reset; returns how many it got.
fn assert_once_in_order(client: &Client, channel: i64, expected: &[i64]) -> usize {
    let resets = client.resets();
    let mine = client.of(channel);
    let got: Vec<i64> = mine
        .iter()
        .map(|e| e.data["signal"]["message_id"].as_i64().expect("message_id"))
        .collect();
    if resets > 0 {
        assert_eq!(resets, 1, "at most one reset");
        return got.len();
    }
    assert_eq!(got, expected, "every signal exactly once, in order");
    let ids: Vec<&str> = mine.iter().filter_map(|e| e.id.as_deref()).collect();
    assert_eq!(ids.len(), got.len(), "every event has an id");
    got.len()
}

#[tokio::test]
async fn fault_live_clients_get_every_signal_through_a_redis_master_outage() {
    let Some(s) = stack() else { return };
    let ch = unique_channel();
    let mut client = Client::open(&s, None).await;
    // A warm-up signal proves the subscription is live before the outage.
    create(&s, ch, 1..2).await;
    client.read_until(ch, 20, |m| m.len() == 1).await;
    assert_eq!(assert_once_in_order(&client, ch, &[1]), 1, "warm-up");
    let warm_id = client.of(ch)[0].id.clone().expect("an id");

    test_support::stack::stop("redis-master");
    create(&s, ch, 2..22).await;
    client.read_some(Duration::from_secs(2)).await;
    test_support::stack::start("redis-master");
    create(&s, ch, 22..32).await;

    let expected: Vec<i64> = (1..32).collect();
    client
        .read_until(ch, 60, |m| m.len() >= expected.len())
        .await;
    client.read_some(Duration::from_secs(2)).await; // a duplicate would come now
    let got = assert_once_in_order(&client, ch, &expected);
    println!(
        "connected client: {got} of {} signals, {} reset(s)",
        expected.len(),
        client.resets()
    );

    // A client reconnecting with the warm-up's id replays the 30 it missed, once, in order.
    let mut again = Client::open(&s, Some(&warm_id)).await;
    again.read_until(ch, 20, |m| m.len() >= 30).await;
    again.read_some(Duration::from_secs(2)).await;
    let replayed = assert_once_in_order(&again, ch, &expected[1..]);
    println!(
        "reconnected client: {replayed} of 30 replayed, {} reset(s)",
        again.resets()
    );
    s.wait_health("healthy", 60).await;
}

#[tokio::test]
async fn fault_database_down_cached_reads_serve_the_last_good_answer() {
    let Some(s) = stack() else { return };
    let ch = unique_channel();
    s.ingest_at(ch, 1, now_secs(), BOVAW32).await;
    let path = format!("/signals?channel={ch}");
    let good = s.get(&path).await;
    assert_eq!(good.status, 200, "{}", good.body);
    // A newer commit invalidates the cached answer: the next read must reload it.
    s.ingest_at(ch, 2, now_secs(), PETR4).await;

    test_support::stack::stop("postgres");
    let stale = s.get(&path).await;
    assert_eq!(stale.status, 200, "the last good answer: {}", stale.body);
    assert_eq!(stale.header("x-cache"), Some("stale"));
    assert!(stale.header("age").is_some());
    assert!(
        stale
            .header("warning")
            .is_some_and(|w| w.starts_with("111")),
        "{:?}",
        stale.header("warning")
    );
    assert_eq!(stale.body, good.body, "as it was last seen");
    let unseen = s
        .get(&format!("/signals?channel={}", unique_channel()))
        .await;
    unseen.problem(503);

    test_support::stack::start("postgres");
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.get("/health/ready").await.status != 200 {
        assert!(Instant::now() < deadline, "not ready again");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let fresh = s.get(&path).await;
    assert_eq!(fresh.status, 200);
    assert_ne!(fresh.header("x-cache"), Some("stale"));
}
