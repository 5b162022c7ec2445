//! A client of an api and an ingest under test: the stack's binaries ([`stack`], unique channel
//! ids keeping the tests that share its database apart) or a test's own, served in process on
//! a database of its own ([`spawn`]); reads of the api, and ingesting through the ingest with
//! the legacy gateway payload.

use std::time::Duration;

use crate::spawn::{self as served, TestServices};
use crate::stack::env_or_skip;

use crate::ingest_client::read;
pub use crate::ingest_client::{Reply, unique_channel};
use serde_json::{Value, json};

pub use crate::fixtures::{BOVAW32, PETR4};

/// An api and an ingest under test.
#[derive(Debug)]
pub struct Stack {
    /// The api's base URL.
    pub api: String,
    /// The ingest's base URL.
    pub ingest: String,
    /// The ingest's gateway token.
    pub token: String,
    /// The api's admin key.
    pub key: String,
    /// The client.
    pub http: reqwest::Client,
    /// A test's own services and database, when served in process.
    pub services: Option<TestServices>,
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// The stack's running binaries, or `None` (skipped) when it is not running; panics under
/// `TP_REQUIRE_STACK=1`.
pub fn stack() -> Option<Stack> {
    let var = |name| env_or_skip(name, "this test");
    Some(Stack {
        api: var("TP_CAPITAL_API_URL")?,
        ingest: var("TP_CAPITAL_INGEST_URL")?,
        token: var("TP_CAPITAL_GATEWAY_TOKEN")?,
        key: var("TP_CAPITAL_API_KEY")?,
        http: client(),
        services: None,
    })
}

/// The api and the ingest of `test`'s own, served in process on a fresh database
/// ([`served::spawn_services`]), or `None` (skipped) without a stack.
pub async fn spawn(test: &str) -> Option<Stack> {
    let services = served::spawn_services(test).await?;
    Some(Stack {
        api: services.api.clone(),
        ingest: services.ingest.clone(),
        token: served::GATEWAY_TOKEN.to_owned(),
        key: served::API_KEY.to_owned(),
        http: client(),
        services: Some(services),
    })
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
