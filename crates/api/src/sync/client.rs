//! The api's client of the ingest's internal `POST /gateway/sync`: one request with the sync
//! token, its answer read as the dashboard's shape, every failure turned into a problem whose
//! `message` a person can act on.

use std::time::Duration;

use actix_web::http::StatusCode;
use service_kit::{Problem, Secret};

use super::dto::SyncMessagesBody;

/// Header carrying the sync token to the ingest service.
const SYNC_TOKEN_HEADER: &str = "x-sync-token";

/// Where and how the api asks the ingest service to sync.
#[derive(Clone)]
pub struct IngestSync {
    http: reqwest::Client,
    url: String,
    token: Secret,
}

impl std::fmt::Debug for IngestSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestSync")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl IngestSync {
    /// A client of the ingest at `base` (`http://host:port`), giving up after `timeout`.
    pub fn new(base: &str, token: Secret, timeout: Duration) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(3).min(timeout))
            .build()
            .map_err(|e| format!("sync client: {e}"))?;
        Ok(Self {
            http,
            url: format!("{}/gateway/sync", base.trim_end_matches('/')),
            token,
        })
    }

    /// Asks the ingest to sync; its answer, or a problem.
    pub async fn sync(&self) -> Result<SyncMessagesBody, Problem> {
        let mut req = self.http.post(&self.url);
        if !self.token.is_empty() {
            req = req.header(SYNC_TOKEN_HEADER, self.token.expose());
        }
        let res = req.send().await.map_err(|e| transport(&e))?;
        let status = res.status().as_u16();
        let retry_after = res
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let body = res.bytes().await.map_err(|e| transport(&e))?;
        if status == 200 {
            return serde_json::from_slice(&body).map_err(|e| {
                tracing::warn!(error = %e, "sync: unreadable answer from the ingest service");
                bad_gateway("the ingest service answered the sync with an unreadable body")
            });
        }
        let detail = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                v.get("detail")
                    .or_else(|| v.get("message"))
                    .and_then(|m| m.as_str().map(str::to_owned))
            });
        tracing::warn!(status, detail, "sync: the ingest service refused");
        Err(match status {
            401 | 403 => Problem::unavailable(
                "the ingest service does not accept the api's TP_CAPITAL_SYNC_TOKEN; ask an operator",
                60,
            ),
            429 | 502..=504 => {
                let detail = detail.unwrap_or_else(|| "the sync failed; retry later".to_owned());
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
                let mut p =
                    Problem::new(status, "sync-failed", "The sync failed").with_detail(detail);
                if let Some(secs) = retry_after {
                    p = p.with_retry_after(secs);
                }
                p
            }
            _ => bad_gateway(&detail.unwrap_or_else(|| {
                format!("the ingest service answered the sync with HTTP {status}")
            })),
        })
    }
}

fn bad_gateway(detail: &str) -> Problem {
    Problem::new(StatusCode::BAD_GATEWAY, "sync-failed", "The sync failed").with_detail(detail)
}

fn transport(e: &reqwest::Error) -> Problem {
    if e.is_timeout() {
        tracing::info!(error = %e, "sync: still running when the api stopped waiting");
        Problem::new(
            StatusCode::GATEWAY_TIMEOUT,
            "sync-still-running",
            "The sync is still running",
        )
        .with_detail(
            "the gateway is still syncing; new messages appear in the list as they are stored",
        )
    } else {
        tracing::warn!(error = %e, "sync: the ingest service cannot be reached");
        Problem::unavailable(
            "the ingest service cannot be reached to sync messages; retry later",
            10,
        )
    }
}
