//! `POST /sync-messages` end to end, as the dashboard's "Checar Mensagens" calls it: an api of our
//! own pointed at an ingest of our own that pulls from the fake gateway. The gateway holds history
//! only its sync endpoint brings in; the answer is the dashboard's shape with the count of new
//! messages, and they are in the list. Without a configured sync the answer is a 503 problem whose
//! `message` says what to set.

mod gateway_common;

use std::fs::File;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gateway_common::PullIngest;
use serde_json::Value;
use test_support::gateway::posted;
use test_support::ingest_client::{BOVAW32, ingest, unique_channel};
use test_support::{FakeGateway, GatewayMessage};

const SYNC_TOKEN: &str = "sync-e2e-token";

/// A `tp-capital-api serve` of our own on the stack's database and Redis; killed when dropped.
struct OwnApi {
    child: Child,
    url: String,
}

impl Drop for OwnApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl OwnApi {
    async fn start(extra: &[(&str, &str)]) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let log = File::create(std::env::temp_dir().join(format!("tp-sync-api-{port}.log")))
            .expect("log file");
        let child = Command::new(e2e::binary("tp-capital-api"))
            .env("TP_CAPITAL_API_BIND", format!("127.0.0.1:{port}"))
            .env_remove("TP_CAPITAL_API_INGEST_URL")
            .envs(extra.iter().copied())
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn tp-capital-api");
        let api = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !reqwest::get(format!("{}/health/live", api.url))
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            assert!(Instant::now() < deadline, "the api never started");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        api
    }

    /// The dashboard's call: POST, no body, JSON content type, the API key.
    async fn sync(&self, key: &str) -> (u16, Option<String>, Value) {
        let res = reqwest::Client::new()
            .post(format!("{}/sync-messages", self.url))
            .header("Content-Type", "application/json")
            .header("X-API-Key", key)
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .expect("sync-messages");
        let status = res.status().as_u16();
        let kind = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (status, kind, res.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn sync_messages_answers_the_dashboard_shape_with_the_new_messages() {
    let Some(db) = ingest().await else { return };
    let key = e2e::stack_var("TP_CAPITAL_API_KEY").expect("api key");
    let gateway = FakeGateway::start().await;
    let channel = unique_channel();
    // History only the gateway's sync endpoint brings into its store.
    gateway.add_history(
        (1..=3)
            .map(|i| GatewayMessage::text(channel, i, BOVAW32, posted(10 + i)))
            .collect(),
    );
    // The background poll stays out of the way (an hour): the sync alone drains.
    let ingest_service = PullIngest::start(
        &gateway,
        &[channel],
        3_600_000,
        &[("TP_CAPITAL_SYNC_TOKEN", SYNC_TOKEN)],
    )
    .await;
    let api = OwnApi::start(&[
        ("TP_CAPITAL_API_INGEST_URL", ingest_service.url.as_str()),
        ("TP_CAPITAL_SYNC_TOKEN", SYNC_TOKEN),
    ])
    .await;

    let (status, kind, body) = api.sync(&key).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(kind.as_deref(), Some("application/json"));
    assert_eq!(body["success"], true, "{body}");
    assert_eq!(body["data"]["messagesSynced"], 3, "{body}");
    assert_eq!(body["data"]["gatewayFetched"], 3, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(gateway.sync_calls(), 1);
    assert_eq!(db.archive(channel).await.len(), 3, "stored");

    // Nothing new the second time.
    let (status, _, body) = api.sync(&key).await;
    assert_eq!(
        (status, body["data"]["messagesSynced"].as_u64()),
        (200, Some(0)),
        "{body}"
    );

    // Wrong key: the api's own 401 problem.
    let (status, _, body) = api.sync("wrong").await;
    assert_eq!(
        (status, body["success"].as_bool()),
        (401, Some(false)),
        "{body}"
    );
}

#[tokio::test]
async fn sync_messages_without_a_configured_sync_is_a_503_problem_with_a_message() {
    let Some(_db) = ingest().await else { return };
    let key = e2e::stack_var("TP_CAPITAL_API_KEY").expect("api key");
    // An ingest without a gateway: its 503 reaches the dashboard with its message.
    let gateway = FakeGateway::start().await;
    let ingest_service = PullIngest::start(
        &gateway,
        &[],
        3_600_000,
        &[
            ("TP_CAPITAL_SYNC_TOKEN", SYNC_TOKEN),
            ("TP_CAPITAL_GATEWAY_URL", ""),
        ],
    )
    .await;
    let api = OwnApi::start(&[
        ("TP_CAPITAL_API_INGEST_URL", ingest_service.url.as_str()),
        ("TP_CAPITAL_SYNC_TOKEN", SYNC_TOKEN),
    ])
    .await;
    let (status, _, body) = api.sync(&key).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("TP_CAPITAL_GATEWAY_URL")),
        "{body}"
    );
}
