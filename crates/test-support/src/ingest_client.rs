//! A client of an ingest service under test (the stack's binary, or one served in process on a
//! test's own database): the legacy gateway payload, what the database holds for a channel,
//! its metrics and health, random channel ids for the tests that share the stack's database,
//! and a guard that restarts a stopped stack component even when the test fails.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use sea_orm::sqlx::postgres::{PgPool, PgPoolOptions};
use sea_orm::sqlx::{self, Row};
use serde_json::{Value, json};

use crate::stack::env_or_skip;

pub use crate::stack::Stopped;

pub use crate::fixtures::{BOVAW32, BOVAW32_TARGET_1_HIT, GREETING, PETR4, TARGET_BELOW_ENTRY};

/// A channel id no other test uses: `-100` followed by ten random digits.
pub fn unique_channel() -> i64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let seed = (
        nanos,
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
    );
    let random = RandomState::new().hash_one(seed) % 10_000_000_000;
    -(1_000_000_000_000 + random as i64)
}

/// A message time near now (the archive keeps 30 days), `minutes_ago` minutes back, whole
/// seconds.
pub fn recent(minutes_ago: i64) -> DateTime<Utc> {
    let t = Utc::now() - chrono::Duration::minutes(minutes_ago);
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

/// `t` as the gateway writes it (`2026-11-28T02:05:07Z`).
pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// One message in the legacy gateway's shape: `channelId` as a string, `telegramDate` in ISO
/// 8601, `source` and `mediaType` as the gateway sends them.
pub fn message(channel: i64, message_id: i64, text: &str, date: DateTime<Utc>) -> Value {
    json!({
        "channelId": channel.to_string(),
        "messageId": message_id,
        "text": text,
        "telegramDate": iso(date),
        "source": "user_client",
        "mediaType": null,
    })
}

/// A reply read whole.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body as text.
    pub body: String,
}

impl Reply {
    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an `application/problem+json` answer with `status` and no internals, and returns
    /// the problem.
    pub fn problem(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.body
        );
        let problem = self.json();
        assert_eq!(problem["status"], status, "{problem}");
        assert!(problem["title"].is_string(), "{problem}");
        for leak in ["panicked", "backtrace", "src/", ".rs:", "sqlx", "DbErr"] {
            assert!(
                !self.body.contains(leak),
                "internals leak ({leak}): {}",
                self.body
            );
        }
        problem
    }

    /// Asserts a 400 problem naming `field`.
    pub fn invalid(&self, field: &str) -> Value {
        let problem = self.problem(400);
        assert_eq!(problem["field"], field, "{problem}");
        problem
    }
}

/// An ingest service under test and its database.
#[derive(Debug, Clone)]
pub struct Ingest {
    /// Base URL (`http://127.0.0.1:4006`).
    pub url: String,
    /// The gateway token.
    pub token: String,
    /// HTTP client.
    pub http: reqwest::Client,
    /// Its database (the stack's through PgBouncer, or a test's own).
    pub db: PgPool,
}

/// The ingest service, or `None` (skipped) when the stack is not running; panics under
/// `TP_REQUIRE_STACK=1`.
pub async fn ingest() -> Option<Ingest> {
    let url = env_or_skip("TP_CAPITAL_INGEST_URL", "this test")?;
    let token = env_or_skip("TP_CAPITAL_GATEWAY_TOKEN", "this test")?;
    let database = env_or_skip("TP_CAPITAL_DATABASE_URL", "this test")?;
    Some(Ingest::new(url, token, &database))
}

impl Ingest {
    /// A client of the ingest at `url` (with the gateway token `token`) and of its database.
    pub fn new(url: String, token: String, database_url: &str) -> Self {
        let db = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(15))
            .connect_lazy(database_url)
            .unwrap_or_else(|e| panic!("database URL: {e}"));
        Self {
            url,
            token,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap_or_else(|e| panic!("http client: {e}")),
            db,
        }
    }
}

/// Reads `res` whole.
pub async fn read(res: reqwest::Response) -> Reply {
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res
        .text()
        .await
        .unwrap_or_else(|e| panic!("reading the body: {e}"));
    Reply {
        status,
        headers,
        body,
    }
}

impl Ingest {
    /// `{url}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Sends `req` and reads the reply.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        read(req.send().await.unwrap_or_else(|e| panic!("request: {e}"))).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.http.get(self.url(path))).await
    }

    /// `POST path` with the gateway token and a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(
            self.http
                .post(self.url(path))
                .header("X-Gateway-Token", &self.token)
                .json(body),
        )
        .await
    }

    /// `POST path` with the gateway token, a raw body and `content_type` (none when `None`).
    pub async fn post_raw(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
        content_type: Option<&str>,
    ) -> Reply {
        let mut req = self
            .http
            .post(self.url(path))
            .header("X-Gateway-Token", &self.token)
            .body(body);
        if let Some(ct) = content_type {
            req = req.header(CONTENT_TYPE, ct);
        }
        self.send(req).await
    }

    /// Posts one message to `/ingest`, asserts 200 and returns the receipt.
    pub async fn ingest(&self, payload: &Value) -> Value {
        let reply = self.post("/ingest", payload).await;
        assert_eq!(reply.status, 200, "POST /ingest {payload}: {}", reply.body);
        let receipt = reply.json();
        assert_eq!(receipt["success"], true, "{receipt}");
        receipt
    }

    /// The archive rows of `channel` (every delivery), by message id then edit date.
    pub async fn archive(&self, channel: i64) -> Vec<ArchiveRow> {
        let rows = sqlx::query(
            "SELECT message_id, \
                    (extract(epoch FROM message_date) * 1000)::bigint AS date_ms, \
                    (extract(epoch FROM edit_date) * 1000)::bigint AS edit_ms, \
                    text, media_type, source, metadata::text AS metadata, outcome, reason, \
                    parser_version, deleted_at IS NOT NULL AS deleted \
             FROM forwarded_messages.messages WHERE channel_id = $1 \
             ORDER BY message_id, edit_date NULLS FIRST, id",
        )
        .bind(channel)
        .fetch_all(&self.db)
        .await
        .unwrap_or_else(|e| panic!("reading the archive of {channel}: {e}"));
        rows.iter()
            .map(|r| ArchiveRow {
                message_id: get(r, "message_id"),
                date_ms: get(r, "date_ms"),
                edit_ms: get(r, "edit_ms"),
                text: get(r, "text"),
                media_type: get(r, "media_type"),
                source: get(r, "source"),
                metadata: serde_json::from_str(&get::<String>(r, "metadata"))
                    .unwrap_or_else(|e| panic!("metadata is not JSON: {e}")),
                outcome: get(r, "outcome"),
                reason: get(r, "reason"),
                parser_version: get(r, "parser_version"),
                deleted: get(r, "deleted"),
            })
            .collect()
    }

    /// The signals of `channel` (soft-deleted ones included), by message id.
    pub async fn signals(&self, channel: i64) -> Vec<SignalRow> {
        let rows = sqlx::query(
            "SELECT id, message_id, revision, asset, kind, direction, \
                    trim_scale(entry_min)::text AS entry_min, \
                    trim_scale(entry_max)::text AS entry_max, \
                    pg_catalog.array_to_string(ARRAY(SELECT trim_scale(t)::text \
                        FROM pg_catalog.unnest(targets) WITH ORDINALITY AS u(t, n) ORDER BY n), ',') \
                        AS targets, \
                    trim_scale(target_final)::text AS target_final, \
                    trim_scale(stop)::text AS stop, valid_until::text AS valid_until, status, \
                    target_index::int AS target_index, raw_message, parser_version, source, \
                    (extract(epoch FROM message_date) * 1000)::bigint AS date_ms, \
                    (extract(epoch FROM edit_date) * 1000)::bigint AS edit_ms, \
                    deleted_at IS NOT NULL AS deleted \
             FROM signals.signals WHERE channel_id = $1 ORDER BY message_id, id",
        )
        .bind(channel)
        .fetch_all(&self.db)
        .await
        .unwrap_or_else(|e| panic!("reading the signals of {channel}: {e}"));
        rows.iter()
            .map(|r| SignalRow {
                id: get(r, "id"),
                message_id: get(r, "message_id"),
                revision: get(r, "revision"),
                asset: get(r, "asset"),
                kind: get(r, "kind"),
                direction: get(r, "direction"),
                entry_min: get(r, "entry_min"),
                entry_max: get(r, "entry_max"),
                targets: get(r, "targets"),
                target_final: get(r, "target_final"),
                stop: get(r, "stop"),
                valid_until: get(r, "valid_until"),
                status: get(r, "status"),
                target_index: get(r, "target_index"),
                raw_message: get(r, "raw_message"),
                parser_version: get(r, "parser_version"),
                source: get(r, "source"),
                date_ms: get(r, "date_ms"),
                edit_ms: get(r, "edit_ms"),
                deleted: get(r, "deleted"),
            })
            .collect()
    }

    /// The kept earlier revisions of a signal: `(revision, stop, raw_message)`, oldest first.
    pub async fn revisions(&self, signal_id: i64) -> Vec<(i32, Option<String>, String)> {
        sqlx::query(
            "SELECT revision, trim_scale(stop)::text AS stop, raw_message \
             FROM signals.signal_revisions WHERE signal_id = $1 ORDER BY revision",
        )
        .bind(signal_id)
        .fetch_all(&self.db)
        .await
        .unwrap_or_else(|e| panic!("reading revisions of {signal_id}: {e}"))
        .iter()
        .map(|r| (get(r, "revision"), get(r, "stop"), get(r, "raw_message")))
        .collect()
    }

    /// The status history of a signal: `(status, target_index, message_id)`, oldest first.
    pub async fn status_events(&self, signal_id: i64) -> Vec<(String, Option<i32>, Option<i64>)> {
        sqlx::query(
            "SELECT status, target_index::int AS target_index, message_id \
             FROM signals.status_events WHERE signal_id = $1 ORDER BY at, id",
        )
        .bind(signal_id)
        .fetch_all(&self.db)
        .await
        .unwrap_or_else(|e| panic!("reading status events of {signal_id}: {e}"))
        .iter()
        .map(|r| {
            (
                get(r, "status"),
                get(r, "target_index"),
                get(r, "message_id"),
            )
        })
        .collect()
    }

    /// The value of a Prometheus series of `/metrics` (`name{labels}` exactly as exposed), or 0.
    pub async fn metric(&self, series: &str) -> f64 {
        let reply = self.get("/metrics").await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply
            .body
            .lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| {
                let (name, value) = l.rsplit_once(' ')?;
                (name == series)
                    .then(|| value.parse::<f64>().ok())
                    .flatten()
            })
            .unwrap_or(0.0)
    }

    /// Polls `/health` until its `status` is `want`, and returns the last report (panics after
    /// `within`).
    pub async fn wait_health(&self, want: &str, within: Duration) -> (u16, Value) {
        let deadline = Instant::now() + within;
        loop {
            let reply = self.get("/health").await;
            if let Ok(report) = serde_json::from_str::<Value>(&reply.body)
                && report["status"] == want
            {
                return (reply.status, report);
            }
            assert!(
                Instant::now() < deadline,
                "/health never became {want}: {} {}",
                reply.status,
                reply.body
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn get<'r, T>(row: &'r sqlx::postgres::PgRow, column: &str) -> T
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(column)
        .unwrap_or_else(|e| panic!("column {column}: {e}"))
}

/// One delivery in `forwarded_messages.messages`.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveRow {
    /// Telegram message id.
    pub message_id: i64,
    /// Message time, epoch ms.
    pub date_ms: i64,
    /// Edit time, epoch ms.
    pub edit_ms: Option<i64>,
    /// Text (or caption).
    pub text: String,
    /// `photo` …
    pub media_type: Option<String>,
    /// `bot` | `user_client`.
    pub source: Option<String>,
    /// Everything else the gateway sent.
    pub metadata: Value,
    /// `signal` | `update` | `ignored` | `rejected`.
    pub outcome: String,
    /// Why it was ignored or rejected.
    pub reason: Option<String>,
    /// The parser that read it.
    pub parser_version: String,
    /// Flagged by a deletion notice.
    pub deleted: bool,
}

/// One row of `signals.signals`, prices as exact decimals without trailing zeros.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalRow {
    /// Signal id.
    pub id: i64,
    /// Source message.
    pub message_id: i64,
    /// Edit revision (1 = as first posted).
    pub revision: i32,
    /// Ticker.
    pub asset: String,
    /// `swing_trade` … or none.
    pub kind: Option<String>,
    /// `long` | `short`.
    pub direction: String,
    /// Entry range low.
    pub entry_min: Option<String>,
    /// Entry range high.
    pub entry_max: Option<String>,
    /// Intermediate targets, comma separated.
    pub targets: String,
    /// Final target.
    pub target_final: Option<String>,
    /// Stop price.
    pub stop: Option<String>,
    /// Validity date (ISO).
    pub valid_until: Option<String>,
    /// `open`, `target_hit`, …
    pub status: String,
    /// Which target was hit.
    pub target_index: Option<i32>,
    /// The message text.
    pub raw_message: String,
    /// The parser that read it.
    pub parser_version: String,
    /// `bot` | `user_client`.
    pub source: Option<String>,
    /// Message time, epoch ms.
    pub date_ms: i64,
    /// Edit time of the current revision, epoch ms.
    pub edit_ms: Option<i64>,
    /// Soft-deleted.
    pub deleted: bool,
}
