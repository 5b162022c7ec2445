//! Helpers of the api's end-to-end tests: the running api and ingest of the test stack, unique
//! channel ids (tests share one database and run in parallel), and ingesting through the real
//! ingest service with the legacy gateway payload.

#![allow(dead_code)]

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use e2e::stack_var;
use serde_json::{Value, json};

#[allow(unused_imports)] // not every test binary ingests both
pub use test_support::fixtures::{BOVAW32, PETR4};

/// The running services.
pub struct Stack {
    pub api: String,
    pub ingest: String,
    pub token: String,
    pub key: String,
    pub http: reqwest::Client,
}

/// The stack, or `None` (skipped) when it is not running; panics under `TP_REQUIRE_STACK=1`.
pub fn stack() -> Option<Stack> {
    Some(Stack {
        api: stack_var("TP_CAPITAL_API_URL")?,
        ingest: stack_var("TP_CAPITAL_INGEST_URL")?,
        token: stack_var("TP_CAPITAL_GATEWAY_TOKEN")?,
        key: stack_var("TP_CAPITAL_API_KEY")?,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client"),
    })
}

/// A channel id no other test uses.
pub fn unique_channel() -> i64 {
    static NEXT: AtomicI64 = AtomicI64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    -(1_000_000_000_000
        + (nanos / 1000 % 1_000_000_000_000)
        + n * 7
        + i64::from(std::process::id()))
}

/// A reply read whole.
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem+json with `status`.
    pub fn problem(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.body
        );
        self.json()
    }
}

async fn read(res: reqwest::Response) -> Reply {
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.text().await.expect("body");
    Reply {
        status,
        headers,
        body,
    }
}

impl Stack {
    pub async fn get(&self, path: &str) -> Reply {
        read(
            self.http
                .get(format!("{}{path}", self.api))
                .send()
                .await
                .expect("GET"),
        )
        .await
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        read(req.send().await.expect("request")).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api)
    }

    /// Posts one message to the ingest service as the gateway does; returns its answer.
    pub async fn ingest(&self, channel: i64, message_id: i64, date: &str, text: &str) -> Value {
        self.ingest_payload(json!({
            "channelId": channel.to_string(),
            "messageId": message_id,
            "text": text,
            "timestamp": date,
            "source": "bot",
        }))
        .await
    }

    /// Like [`Stack::ingest`], with the message time as epoch seconds.
    pub async fn ingest_at(
        &self,
        channel: i64,
        message_id: i64,
        epoch_secs: i64,
        text: &str,
    ) -> Value {
        self.ingest_payload(json!({
            "channelId": channel,
            "messageId": message_id,
            "text": text,
            "timestamp": epoch_secs,
            "source": "bot",
        }))
        .await
    }

    pub async fn ingest_payload(&self, payload: Value) -> Value {
        let res = self
            .http
            .post(format!("{}/ingest", self.ingest))
            .header("X-Gateway-Token", &self.token)
            .json(&payload)
            .send()
            .await
            .expect("POST /ingest");
        let reply = read(res).await;
        assert_eq!(reply.status, 200, "ingest: {}", reply.body);
        reply.json()
    }

    /// GET `path` as JSON once `check` holds on it, polling for up to SPEC §4's freshness bound
    /// (1 s after a commit: answers across channels follow a commit within 500 ms); the last
    /// answer either way, for the caller's assertion.
    pub async fn fresh(&self, path: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        loop {
            let r = self.get(path).await;
            assert_eq!(r.status, 200, "{path}: {}", r.body);
            let v = r.json();
            if check(&v) || tokio::time::Instant::now() >= deadline {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The `/signals` rows of `channel`.
    pub async fn signals_of(&self, channel: i64, extra: &str) -> Vec<Value> {
        let r = self
            .get(&format!("/signals?channel={channel}&limit=100{extra}"))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["data"].as_array().cloned().unwrap_or_default()
    }

    /// Polls `/health` until its status is `want` (or panics after `secs`).
    pub async fn wait_health(&self, want: &str, secs: u64) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let r = self.get("/health").await;
            if (r.status < 500 || want == "unhealthy")
                && let Ok(v) = serde_json::from_str::<Value>(&r.body)
                && v["status"] == want
            {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "/health never became {want}: {}",
                r.body
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}
