//! Helpers of the gateway pull scenarios: a `tp-capital-ingest serve` of our own (on the test
//! stack's database and Redis) pulling from a [`FakeGateway`], killed and restarted at will, its
//! log kept in a file; and the counts a scenario reports (sent / stored / duplicated / missing).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::File;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2e::binary;
use test_support::FakeGateway;
use test_support::ingest_client::Ingest;

/// A duration from the environment (`TP_TEST_<NAME>_SECS`), else `default` seconds: the issue's
/// durations (2 min kill, 90 s down) stay available without slowing CI.
pub fn secs_from_env(name: &str, default: u64) -> Duration {
    Duration::from_secs(
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// An ingest service pulling from a fake gateway; killed when dropped.
pub struct PullIngest {
    child: Option<Child>,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    port: u16,
    env: Vec<(String, String)>,
    log: PathBuf,
    http: reqwest::Client,
}

impl Drop for PullIngest {
    fn drop(&mut self) {
        self.kill();
    }
}

impl PullIngest {
    /// Starts `tp-capital-ingest serve` pulling `channels` from `gateway` every `poll_ms`, with
    /// `extra` variables, and waits until it is ready.
    pub async fn start(
        gateway: &FakeGateway,
        channels: &[i64],
        poll_ms: u64,
        extra: &[(&str, &str)],
    ) -> Self {
        let port = free_port();
        let channels = channels
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let mut env: Vec<(String, String)> = [
            ("TP_CAPITAL_INGEST_BIND", format!("127.0.0.1:{port}")),
            ("TP_CAPITAL_GATEWAY_URL", gateway.url()),
            ("TP_CAPITAL_GATEWAY_CHANNELS", channels),
            ("TP_CAPITAL_GATEWAY_POLL_INTERVAL_MS", poll_ms.to_string()),
            ("TP_CAPITAL_MAINTENANCE_INTERVAL_SECS", "0".to_owned()),
            ("TP_CAPITAL_LOG_FORMAT", "json".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let log =
            std::env::temp_dir().join(format!("tp-gateway-pull-{}-{port}.log", std::process::id()));
        let mut ingest = Self {
            child: None,
            url: format!("http://127.0.0.1:{port}"),
            port,
            env,
            log,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
        };
        ingest.spawn().await;
        ingest
    }

    async fn spawn(&mut self) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let err = log.try_clone().expect("log file");
        let child = Command::new(binary("tp-capital-ingest"))
            .arg("serve")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("spawn tp-capital-ingest");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = self
                .http
                .get(format!("{}/health/live", self.url))
                .send()
                .await;
            if ready.is_ok_and(|r| r.status() == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the ingest never started: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Kills the process (SIGKILL: no graceful shutdown).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again with the same settings and port.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }

    /// The `/ingest` URL of this instance (the push endpoint).
    pub fn ingest_endpoint(&self) -> String {
        format!("{}/ingest", self.url)
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path` → (status, body).
    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = r.status().as_u16();
        (status, r.text().await.unwrap_or_default())
    }

    /// `/metrics` as text.
    pub async fn metrics(&self) -> String {
        self.get("/metrics").await.1
    }

    /// The value of one series (`name{labels}` as exposed), or 0.
    pub async fn metric(&self, series: &str) -> f64 {
        metric_in(&self.metrics().await, series)
    }
}

/// The value of `series` in a Prometheus text, or 0.
pub fn metric_in(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series)
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .unwrap_or(0.0)
}

/// The lines of `text` about the gateway (for reports).
pub fn gateway_lines(text: &str) -> String {
    text.lines()
        .filter(|l| l.starts_with("tpcapital_gateway_"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What the database holds of `sent` messages of `channel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Messages sent to the gateway.
    pub sent: usize,
    /// Distinct messages stored.
    pub stored: usize,
    /// Archive rows beyond one per message (should be 0).
    pub duplicated: usize,
    /// Messages sent and not stored.
    pub missing: usize,
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sent {} / stored {} / duplicated {} / missing {}",
            self.sent, self.stored, self.duplicated, self.missing
        )
    }
}

/// Counts the archive rows of `channel` against the message ids `sent`.
pub async fn counts(db: &Ingest, channel: i64, sent: &[i64]) -> Counts {
    let mut per_id: BTreeMap<i64, usize> = BTreeMap::new();
    for row in db.archive(channel).await {
        *per_id.entry(row.message_id).or_default() += 1;
    }
    let missing = sent.iter().filter(|id| !per_id.contains_key(id)).count();
    Counts {
        sent: sent.len(),
        stored: per_id.len(),
        duplicated: per_id.values().map(|n| n - 1).sum(),
        missing,
    }
}

/// Waits until every message of `sent` is stored for `channel`, and returns how long it took.
pub async fn wait_stored(db: &Ingest, channel: i64, sent: &[i64], within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let c = counts(db, channel, sent).await;
        if c.missing == 0 {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "channel {channel}: not all stored within {within:?}: {c}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
