//! The api in process over the in-memory adapters: the real app (`api::app`), real middleware,
//! real services; only the adapters are in memory. Helpers ingest messages through the domain's
//! ingest service, exactly as the ingest binary does.

#![allow(dead_code)]

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{test, web};
use api::rate_limit::{RateLimitSettings, RateLimiter};
use api::state::{AdminKeys, Ports};
use api::{AppParts, app, memory_ports, openapi_json, state};
use chrono::{DateTime, TimeZone, Utc};
use domain::memory::{MemoryCache, MemoryEvents, MemoryStore};
use domain::model::{ChannelId, Message, MessageId};
use domain::ports::SignalStore;
use domain::services::{IngestReport, IngestService};
use service_kit::health::{Component, FnCheck};
use service_kit::{Health, HttpSettings, Metrics, SecretList};

/// The admin key of the test apps.
pub const KEY: &str = "test-admin-key";
/// A channel of the fixtures.
pub const CHANNEL: i64 = -1001649127710;

pub use test_support::fixtures::{BOVAW32, PETR4, VALE3};

/// One app and its adapters.
pub struct World {
    pub parts: AppParts,
    pub store: MemoryStore,
    pub cache: Arc<MemoryCache>,
    pub events: Arc<MemoryEvents>,
    pub ingest: IngestService,
}

/// Options of a test app.
#[derive(Clone)]
pub struct Options {
    pub rate: RateLimitSettings,
    pub cors: Vec<String>,
    pub dev_mode: bool,
    pub keys: Vec<&'static str>,
    pub body_limit: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            rate: RateLimitSettings {
                per_second: 0,
                burst: 1,
                ..RateLimitSettings::default()
            },
            cors: vec!["http://dashboard.test".to_owned()],
            dev_mode: false,
            keys: vec![KEY],
            body_limit: 64 * 1024,
        }
    }
}

pub fn world() -> World {
    world_with(Options::default())
}

pub fn world_with(options: Options) -> World {
    let (ports, store, cache, events) = memory_ports();
    let ingest = IngestService::new(
        Arc::new(store.clone()),
        events.clone(),
        cache.clone(),
        ports.clock.clone(),
    );
    let health = health(&ports, &store);
    let state = state(
        ports,
        Arc::new(store.clone()) as Arc<dyn SignalStore>,
        AdminKeys {
            keys: SecretList::new(options.keys.iter().copied()),
            dev_mode: options.dev_mode,
        },
        std::time::Duration::from_secs(30),
        4,
    );
    let mut http = HttpSettings::new("127.0.0.1:0".parse().expect("addr"));
    http.body_limit = options.body_limit;
    let parts = AppParts {
        http,
        cors_origins: Arc::new(options.cors),
        state: web::Data::new(state),
        health: web::Data::new(health),
        metrics: web::Data::new(Metrics::install("api-test", "0.0.0").expect("metrics")),
        limiter: web::Data::new(RateLimiter::new(options.rate)),
        openapi: web::Data::new(openapi_json()),
    };
    World {
        parts,
        store,
        cache,
        events,
        ingest,
    }
}

fn health(ports: &Ports, store: &MemoryStore) -> Health {
    let db = store.clone();
    let cache = ports.cache.clone();
    Health::new("test")
        .with_check(FnCheck::new(Component::Database, move || {
            let db = db.clone();
            async move {
                domain::ports::SignalQueries::ping(&db)
                    .await
                    .map_err(|e| e.to_string())
            }
        }))
        .with_check(FnCheck::new(Component::Cache, move || {
            let cache = cache.clone();
            async move { cache.ping().await.map_err(|e| e.to_string()) }
        }))
}

/// 2025-10-20 at `hour`:00 UTC.
pub fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 10, day, hour, 0, 0)
        .single()
        .expect("valid time")
}

pub fn message(channel: i64, id: i64, date: DateTime<Utc>, text: &str) -> Message {
    Message {
        channel_id: ChannelId(channel),
        message_id: MessageId(id),
        text: text.to_owned(),
        date,
        edit_date: None,
        media_type: None,
        source: Some("bot".into()),
        metadata: serde_json::json!({}),
    }
}

impl World {
    /// Ingests messages as the ingest service does.
    pub async fn ingest(&self, messages: &[Message]) -> IngestReport {
        self.ingest
            .ingest(messages, None)
            .await
            .expect("ingest succeeds")
    }

    /// Three signals in two channels on 20, 21 and 31 October, plus an ignored and a rejected
    /// message.
    pub async fn seed(&self) -> IngestReport {
        self.ingest(&[
            message(CHANNEL, 1, at(20, 13), BOVAW32),
            message(CHANNEL, 2, at(21, 14), PETR4),
            message(-100200, 3, at(31, 23), VALE3),
            message(CHANNEL, 4, at(21, 15), "Bom dia pessoal!"),
            message(CHANNEL, 5, at(21, 16), "Compra: 1,00\nStop: 0,90"),
        ])
        .await
    }
}

/// Sends a request to a fresh service over `world` and returns status, headers and body.
pub async fn send(world: &World, req: test::TestRequest) -> Reply {
    let svc = test::init_service(app(&world.parts)).await;
    call(&svc, req).await
}

/// A reply, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: actix_web::http::header::HeaderMap,
    pub body: web::Bytes,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem+json with `status`; returns the problem.
    pub fn problem(&self, status: u16) -> serde_json::Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "a {status} must be a problem"
        );
        let p = self.json();
        assert_eq!(p["status"], status);
        p
    }
}

pub async fn call<S, B>(svc: &S, req: test::TestRequest) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let res = test::call_service(svc, req.to_request()).await;
    let status = res.status();
    let headers = res.headers().clone();
    let body = test::read_body(res).await;
    Reply {
        status,
        headers,
        body,
    }
}

pub fn get(uri: &str) -> test::TestRequest {
    test::TestRequest::get().uri(uri)
}
