//! [`FakeGateway`]: the existing gateway's REST API on a free local port, plus its push sender.
//! Tests add messages as Telegram would deliver them, inject faults, stop and restart it, and read
//! back what was acknowledged.

mod server;
mod store;

use std::collections::VecDeque;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

pub use store::{GatewayMessage, Row};

/// A fault served instead of (or before) the next API answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 500 `{success:false, message}`.
    ServerError,
    /// HTTP 429 with `Retry-After` and `RateLimit-*` headers.
    RateLimited {
        /// Seconds of `Retry-After`.
        retry_after_secs: u64,
    },
    /// Answers normally after this delay.
    Slow(Duration),
}

/// How the push sender behaves.
#[derive(Debug, Clone)]
pub struct PushConfig {
    /// The `/ingest` URL (`API_ENDPOINTS`).
    pub endpoint: String,
    /// `X-Gateway-Token`.
    pub token: String,
    /// `BASE_RETRY_DELAY_MS` (5 s in the gateway): waits are base × 2^attempt.
    pub base_delay: Duration,
    /// Attempts in all (4 in the gateway).
    pub attempts: u32,
    /// `API_TIMEOUT_MS` (10 s).
    pub timeout: Duration,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) rows: Vec<Row>,
    pub(crate) history: Vec<GatewayMessage>,
    pub(crate) faults: VecDeque<Fault>,
    pub(crate) slow: Option<Duration>,
    pub(crate) next_id: u64,
    pub(crate) max_page: usize,
    pub(crate) requests: Vec<String>,
    pub(crate) acknowledgements: Vec<(Vec<String>, String)>,
    pub(crate) sync_calls: u32,
}

/// Counts of one push delivery.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushCounts {
    /// Messages the push delivered (2xx with a JSON body).
    pub delivered: u64,
    /// Messages given up after every attempt (marked `queued`, written to the dead file).
    pub given_up: u64,
}

/// The fake gateway. Dropping it stops its server.
#[derive(Debug)]
pub struct FakeGateway {
    state: Arc<Mutex<State>>,
    addr: SocketAddr,
    handle: Mutex<Option<ServerHandle>>,
    push: Mutex<Option<mpsc::UnboundedSender<u64>>>,
    push_counts: Arc<Mutex<PushCounts>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FakeGateway {
    /// Starts the fake on a free port of 127.0.0.1 (page size capped at 1000, as the gateway's
    /// default `TELEGRAM_GATEWAY_MAX_PAGE_SIZE`).
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let addr = listener.local_addr().expect("local address");
        let state = Arc::new(Mutex::new(State {
            max_page: 1000,
            next_id: 1,
            ..State::default()
        }));
        let handle = server::serve(listener, state.clone());
        Self {
            state,
            addr,
            handle: Mutex::new(Some(handle)),
            push: Mutex::new(None),
            push_counts: Arc::new(Mutex::new(PushCounts::default())),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Caps `limit` as `TELEGRAM_GATEWAY_MAX_PAGE_SIZE` does.
    pub fn set_max_page(&self, max: usize) {
        self.state().max_page = max;
    }

    /// Turns the push sender on (`API_ENDPOINTS_ENABLED=true`).
    pub fn enable_push(&self, config: PushConfig) {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(push_worker(
            config,
            self.state.clone(),
            self.push_counts.clone(),
            rx,
        ));
        *lock(&self.push) = Some(tx);
    }

    /// What the push sender did so far.
    pub fn push_counts(&self) -> PushCounts {
        *lock(&self.push_counts)
    }

    /// Receives a message from Telegram: stored (`received`, pushed when push is on; `queued`
    /// when it is off), returns its row id.
    pub fn receive(&self, message: GatewayMessage) -> u64 {
        let pushing = lock(&self.push).clone();
        let id = {
            let mut state = self.state();
            let id = state.next_id;
            state.next_id += 1;
            let status = if pushing.is_some() {
                "received"
            } else {
                "queued"
            };
            let now = Utc::now();
            // Distinct, increasing reception times, as rows inserted one by one get.
            let received_at = state.rows.last().map_or(now, |r| {
                now.max(r.received_at + chrono::Duration::milliseconds(1))
            });
            state.rows.push(Row {
                id,
                message,
                status: status.to_owned(),
                processed_by: None,
                received_at,
                published_at: None,
            });
            id
        };
        if let Some(push) = pushing {
            let _ = push.send(id);
        }
        id
    }

    /// Stores a second row of the same message (the gateway's unique index includes the insert
    /// time).
    pub fn receive_duplicate(&self, message: GatewayMessage) -> u64 {
        self.receive(message)
    }

    /// Messages only the sync endpoint brings into the store (Telegram history).
    pub fn add_history(&self, messages: Vec<GatewayMessage>) {
        self.state().history.extend(messages);
    }

    /// Calls of the sync endpoint so far.
    pub fn sync_calls(&self) -> u32 {
        self.state().sync_calls
    }

    /// Serves `faults` to the next API requests, one each.
    pub fn inject(&self, faults: impl IntoIterator<Item = Fault>) {
        self.state().faults.extend(faults);
    }

    /// Delays every API answer by `delay` (`None`: normal speed).
    pub fn set_slow(&self, delay: Option<Duration>) {
        self.state().slow = delay;
    }

    /// A copy of every row.
    pub fn rows(&self) -> Vec<Row> {
        self.state().rows.clone()
    }

    /// The rows of `channel`.
    pub fn rows_of(&self, channel: i64) -> Vec<Row> {
        self.state()
            .rows
            .iter()
            .filter(|r| r.message.channel_id == channel)
            .cloned()
            .collect()
    }

    /// Every acknowledgement received: `(messageIds, processedBy)`.
    pub fn acknowledgements(&self) -> Vec<(Vec<String>, String)> {
        self.state().acknowledgements.clone()
    }

    /// API requests received, as `METHOD path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.state().requests.clone()
    }

    /// Stops the server (connections are refused) until [`FakeGateway::up`].
    pub async fn down(&self) {
        let handle = lock(&self.handle).take();
        if let Some(handle) = handle {
            handle.stop(false).await;
        }
    }

    /// Starts the server again on the same port.
    pub async fn up(&self) {
        if lock(&self.handle).is_some() {
            return;
        }
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(self.addr) {
                Ok(l) => break l,
                Err(e) if tries < 50 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("rebinding {}: {e}", self.addr),
            }
        };
        *lock(&self.handle) = Some(server::serve(listener, self.state.clone()));
    }

    /// A restart that loses the acknowledgements kept in memory: every `published` row is
    /// `queued` again and forgets who processed it.
    pub async fn restart_losing_acks(&self) {
        self.down().await;
        for row in &mut self.state().rows {
            if row.status == "published" {
                row.status = "queued".to_owned();
                row.processed_by = None;
                row.published_at = None;
            }
        }
        self.up().await;
    }
}

impl Drop for FakeGateway {
    fn drop(&mut self) {
        if let Some(handle) = lock(&self.handle).take() {
            drop(handle.stop(false));
        }
    }
}

/// The listener's push loop: one message at a time, every attempt after a wait of
/// base × 2^attempt, `queued` after the last.
async fn push_worker(
    config: PushConfig,
    state: Arc<Mutex<State>>,
    counts: Arc<Mutex<PushCounts>>,
    mut queue: mpsc::UnboundedReceiver<u64>,
) {
    let http = reqwest::Client::builder()
        .timeout(config.timeout)
        .build()
        .expect("push client");
    while let Some(id) = queue.recv().await {
        let payload = {
            let state = lock(&state);
            match state.rows.iter().find(|r| r.id == id) {
                Some(row) => row.message.push_payload(row.received_at),
                None => continue,
            }
        };
        let mut delivered = false;
        for attempt in 0..config.attempts {
            if attempt > 0 {
                tokio::time::sleep(config.base_delay * 2u32.pow(attempt - 1)).await;
            }
            let sent = http
                .post(&config.endpoint)
                .header("X-Gateway-Token", &config.token)
                .json(&payload)
                .send()
                .await;
            if let Ok(res) = sent
                && res.status().is_success()
                && res.json::<serde_json::Value>().await.is_ok()
            {
                delivered = true;
                break;
            }
        }
        let mut c = lock(&counts);
        if delivered {
            c.delivered += 1;
        } else {
            c.given_up += 1;
            let mut state = lock(&state);
            if let Some(row) = state.rows.iter_mut().find(|r| r.id == id)
                && row.status == "received"
            {
                row.status = "queued".to_owned();
            }
        }
    }
}

/// The time a test message says it was posted, `minutes_ago` minutes back, whole seconds.
pub fn posted(minutes_ago: i64) -> DateTime<Utc> {
    let t = Utc::now() - chrono::Duration::minutes(minutes_ago);
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}
