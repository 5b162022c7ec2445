//! The existing gateway's REST API (port 4010) as a [`GatewayFeed`], over reqwest. Every call has
//! a timeout and is retried with jittered exponential backoff (backon) when the gateway is away or
//! asks us to slow down; a 429 is retried after its `Retry-After` (or `RateLimit-Reset`), and a
//! response saying `RateLimit-Remaining: 0` holds the next request until the window resets.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use domain::ChannelId;
use domain::ports::{FeedError, FeedItem, FeedStatus, GatewayFeed, SyncReport};
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use service_kit::config::Secret;

use super::wire::{self, Acknowledged, Page};

/// The longest wait a 429 may impose on one call; beyond it the call fails `RateLimited` and the
/// runner waits.
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(30);

/// How to reach the gateway.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Base URL (`http://gateway:4010`).
    pub url: String,
    /// Our consumer name; the per-channel name is `<consumer>:<channel id>`.
    pub consumer: String,
    /// Sent as `X-Gateway-Token` when the gateway enforces tokens.
    pub token: Secret,
    /// Sent as `X-API-Key` to the sync endpoint.
    pub api_key: Secret,
    /// Deadline of one request.
    pub timeout: Duration,
    /// Deadline of a sync request (the gateway may take 180 s).
    pub sync_timeout: Duration,
    /// Attempts of one call, first included.
    pub attempts: usize,
}

/// The gateway's pull API over HTTP.
#[derive(Debug)]
pub struct GatewayClient {
    http: reqwest::Client,
    settings: ClientSettings,
    /// No request before this instant (the gateway's rate-limit window said so).
    hold_until: Mutex<Option<Instant>>,
}

impl GatewayClient {
    /// A client for `settings`.
    pub fn new(settings: ClientSettings) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(settings.timeout)
            .user_agent(concat!("tp-capital-ingest/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("gateway client: {e}"))?;
        Ok(Self {
            http,
            settings,
            hold_until: Mutex::new(None),
        })
    }

    /// The consumer name of `channel` (the gateway's `processedBy`).
    pub fn consumer_name(&self, channel: ChannelId) -> String {
        format!("{}:{channel}", self.settings.consumer)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.settings.url.trim_end_matches('/'))
    }

    fn authorised(&self, req: RequestBuilder) -> RequestBuilder {
        if self.settings.token.is_empty() {
            req
        } else {
            req.header("X-Gateway-Token", self.settings.token.expose())
        }
    }

    /// Sends the request made by `make` with retries; returns the successful response's JSON.
    async fn call(&self, make: impl Fn() -> RequestBuilder) -> Result<Value, FeedError> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(5))
            .with_max_times(self.settings.attempts.saturating_sub(1))
            .with_jitter();
        (|| async { self.once(make()).await })
            .retry(backoff)
            .when(|e| match e {
                FeedError::Unavailable(_) => true,
                FeedError::RateLimited { retry_after } => {
                    retry_after.is_none_or(|d| d <= MAX_RATE_LIMIT_WAIT)
                }
                FeedError::Refused(_) => false,
            })
            .adjust(|e, delay| match e {
                FeedError::RateLimited {
                    retry_after: Some(wait),
                } => delay.map(|_| *wait),
                _ => delay,
            })
            .notify(|e, delay| tracing::debug!(error = %e, ?delay, "gateway call failed; retrying"))
            .await
    }

    async fn once(&self, req: RequestBuilder) -> Result<Value, FeedError> {
        let hold = *self.hold_until.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(until) = hold {
            let now = Instant::now();
            if until > now {
                tokio::time::sleep((until - now).min(MAX_RATE_LIMIT_WAIT)).await;
            }
        }
        let response = self
            .authorised(req)
            .send()
            .await
            .map_err(|e| FeedError::Unavailable(describe(&e)))?;
        self.note_window(response.headers());
        read(response).await
    }

    /// `RateLimit-Remaining: 0` holds the next request for `RateLimit-Reset` seconds.
    fn note_window(&self, headers: &HeaderMap) {
        let number = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        if number("ratelimit-remaining") == Some(0) {
            let reset = number("ratelimit-reset").unwrap_or(1);
            *self.hold_until.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(Instant::now() + Duration::from_secs(reset));
        }
    }
}

/// A reqwest error without the URL (it may carry credentials).
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "body unreadable"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut root = None;
    while let Some(s) = source {
        root = Some(s.to_string());
        source = s.source();
    }
    match root {
        Some(root) => format!("{what}: {root}"),
        None => what.to_owned(),
    }
}

fn seconds_header(headers: &HeaderMap, name: &str) -> Option<Duration> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

async fn read(response: Response) -> Result<Value, FeedError> {
    let status = response.status();
    if status == StatusCode::TOO_MANY_REQUESTS {
        let headers = response.headers();
        let retry_after = seconds_header(headers, "retry-after")
            .or_else(|| seconds_header(headers, "ratelimit-reset"));
        return Err(FeedError::RateLimited { retry_after });
    }
    let body = response
        .text()
        .await
        .map_err(|e| FeedError::Unavailable(describe(&e)))?;
    let json: Option<Value> = serde_json::from_str(&body).ok();
    let message = match json
        .as_ref()
        .and_then(|j| j.get("message"))
        .and_then(Value::as_str)
    {
        Some(m) => format!("HTTP {}: {m}", status.as_u16()),
        None => format!("HTTP {}", status.as_u16()),
    };
    if status.is_server_error() {
        return Err(FeedError::Unavailable(message.clone()));
    }
    if !status.is_success() {
        return Err(FeedError::Refused(message.clone()));
    }
    let json = json.ok_or_else(|| FeedError::Refused("the body is not JSON".to_owned()))?;
    if json.get("success") != Some(&Value::Bool(true)) {
        return Err(FeedError::Refused(message));
    }
    Ok(json)
}

#[async_trait]
impl GatewayFeed for GatewayClient {
    async fn list(
        &self,
        channel: ChannelId,
        status: FeedStatus,
        limit: usize,
    ) -> Result<Vec<FeedItem>, FeedError> {
        let statuses = match status {
            FeedStatus::Pending => "received,queued",
            FeedStatus::PublishedElsewhere => "published",
        };
        let channel_text = channel.to_string();
        let consumer = self.consumer_name(channel);
        let limit = limit.to_string();
        let url = self.url("/api/messages/unprocessed");
        let json = self
            .call(|| {
                self.http.get(&url).timeout(self.settings.timeout).query(&[
                    ("channel", channel_text.as_str()),
                    ("status", statuses),
                    ("excludeProcessedBy", consumer.as_str()),
                    ("limit", limit.as_str()),
                ])
            })
            .await?;
        let page: Page = serde_json::from_value(json)
            .map_err(|e| FeedError::Refused(format!("unreadable page: {e}")))?;
        if page.success != Some(true) {
            return Err(FeedError::Refused(page.message.unwrap_or_default()));
        }
        Ok(page.data.into_iter().map(wire::feed_item).collect())
    }

    async fn acknowledge(&self, channel: ChannelId, ack_ids: &[String]) -> Result<u64, FeedError> {
        if ack_ids.is_empty() {
            return Ok(0);
        }
        let body = wire::acknowledgement(ack_ids, &self.consumer_name(channel));
        let url = self.url("/api/messages/mark-processed");
        let json = self
            .call(|| {
                self.http
                    .post(&url)
                    .timeout(self.settings.timeout)
                    .json(&body)
            })
            .await?;
        let answer: Acknowledged = serde_json::from_value(json)
            .map_err(|e| FeedError::Refused(format!("unreadable acknowledgement: {e}")))?;
        if answer.success != Some(true) {
            return Err(FeedError::Refused(answer.message.unwrap_or_default()));
        }
        Ok(answer.data.map_or(0, |d| d.updated))
    }

    async fn request_sync(&self, limit: usize) -> Result<SyncReport, FeedError> {
        let url = self.url("/api/telegram-gateway/sync-messages");
        let json = self
            .call(|| {
                let req = self
                    .http
                    .post(&url)
                    .timeout(self.settings.sync_timeout)
                    .json(&json!({ "limit": limit }));
                if self.settings.api_key.is_empty() {
                    req
                } else {
                    req.header("X-API-Key", self.settings.api_key.expose())
                }
            })
            .await?;
        let fetched = [
            "/data/messagesSynced",
            "/data/synced",
            "/data/count",
            "/data/total",
        ]
        .iter()
        .find_map(|p| json.pointer(p).and_then(Value::as_u64));
        Ok(SyncReport {
            fetched,
            message: json
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }
}
