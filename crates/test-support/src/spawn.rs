//! The api and the ingest served in the test's own process on a database of the test's own
//! (zero2prod's `spawn_app`): the composition the binaries use (`api::wiring`,
//! `ingest::wiring`) over the real adapters — a copy of the run's migrated template database
//! ([`crate::db::migrated`]) and the stack's Redis under a namespace of the test's own — each
//! served by an actix server on a free port, on the test's runtime. Every row a test reads is
//! one it wrote, so it asserts exact totals; the servers stop when the test ends, pass or fail,
//! and a later test drops the database ([`crate::db::sweep`]).
//!
//! The database is reached directly, not through PgBouncer: pooling and the outages of
//! PostgreSQL, PgBouncer and Redis are tested on the stack's binaries, in `tests/tests/`.

use std::ops::Deref;
use std::sync::Arc;

use actix_web::{HttpServer, web};
use ingest::config::IngestConfig;
use ingest::gateway::sync::GatewaySync;
use ingest::http::{GatewayTokens, IngestApp};
use ingest::ingestion::{Ingestion, register_metrics};
use ingest::limits::MessageLimits;
use service_kit::config::{Secret, SecretList};
use service_kit::metrics::{Metrics, SIGNAL_GAUGE_PERIOD, spawn_signal_gauges};

use crate::db::{self, FreshDb};
use crate::ingest_client::Ingest;
use crate::serve::{self, Served};
use crate::stack::env_or_skip;

/// The gateway token of a test's ingest.
pub const GATEWAY_TOKEN: &str = "gw-test-token";
/// The admin key of a test's api.
pub const API_KEY: &str = "test-admin-key";

/// What a test's services share: its database and its Redis namespace.
#[derive(Debug)]
pub struct Backing {
    /// The test's database (a copy of the migrated template).
    pub database: FreshDb,
    /// The Redis URL of the stack's master.
    pub redis_url: String,
    /// The stack's Redis replica, or empty.
    pub redis_replica_url: String,
    /// The test's Redis namespace.
    pub namespace: String,
}

impl Backing {
    /// A fresh database and namespace for `test`, or `None` (skipped) without a stack.
    pub async fn new(test: &str) -> Option<Self> {
        let redis_url = env_or_skip("TP_CAPITAL_REDIS_URL", test)?;
        let database = db::migrated(test).await?;
        Some(Self {
            database,
            redis_url,
            redis_replica_url: std::env::var("TP_CAPITAL_REDIS_REPLICA_URL").unwrap_or_default(),
            namespace: format!("t{}", uuid::Uuid::new_v4().simple()),
        })
    }

    /// The ingest's configuration over this backing: defaults, no maintenance timer.
    pub fn ingest_config(&self) -> IngestConfig {
        IngestConfig {
            database_url: Secret::new(self.database.url.clone()),
            redis_url: Secret::new(self.redis_url.clone()),
            redis_replica_url: Secret::new(self.redis_replica_url.clone()),
            redis_namespace: self.namespace.clone(),
            gateway_token: SecretList::new([GATEWAY_TOKEN]),
            maintenance_interval_secs: 0,
            ..IngestConfig::default()
        }
    }

    /// The api's configuration over this backing: defaults, the stack's high rate limits.
    pub fn api_config(&self) -> api::config::ApiConfig {
        api::config::ApiConfig {
            database_url: Secret::new(self.database.url.clone()),
            redis_url: Secret::new(self.redis_url.clone()),
            redis_replica_url: Secret::new(self.redis_replica_url.clone()),
            redis_namespace: self.namespace.clone(),
            api_key: SecretList::new([API_KEY]),
            api_db_max_connections: 8,
            api_rate_limit_per_second: 100_000,
            api_rate_limit_burst: 100_000,
            api_rate_limit_probe_per_second: 1_000,
            ..api::config::ApiConfig::default()
        }
    }
}

/// Serves the ingest of `config` in process; its base URL and server.
pub async fn serve_ingest(config: &IngestConfig) -> Served {
    service_kit::telemetry::init_silent();
    let metrics = Metrics::install(ingest::wiring::SERVICE, "test").expect("metrics");
    register_metrics();
    ingest::maintenance::register_metrics();
    let (store, redis) = ingest::wiring::connect(config)
        .await
        .unwrap_or_else(|e| panic!("ingest: {e}"));
    spawn_signal_gauges(Arc::new(store.clone()), SIGNAL_GAUGE_PERIOD);
    MessageLimits {
        max_text_chars: config.ingest_max_text_chars,
        max_caption_chars: config.ingest_max_caption_chars,
    }
    .install();
    let service = ingest::wiring::service(&store, &redis).with_horizon(config.ingest_max_age_days);
    let state = IngestApp {
        ingestion: web::Data::new(Ingestion::new(service)),
        tokens: web::Data::new(GatewayTokens::new(config.gateway_token.clone())),
        health: web::Data::new(ingest::wiring::health(&store, &redis, None)),
        metrics: web::Data::new(metrics),
        batch_body_limit: config.ingest_batch_body_limit,
        sync: web::Data::new(GatewaySync {
            consumer: None,
            limit: config.gateway_sync_limit,
            tokens: config.sync_token.clone(),
            dev_mode: false,
        }),
    };
    let settings = config.http();
    let (listener, url) = serve::listener();
    let server = HttpServer::new(move || ingest::http::app(&settings, &state))
        .workers(2)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
    serve::run(server, url)
}

/// Serves the api of `config` in process; its base URL and server.
pub async fn serve_api(config: &api::config::ApiConfig) -> Served {
    service_kit::telemetry::init_silent();
    let metrics = Metrics::install(api::SERVICE, "test").expect("metrics");
    let (listener, url) = serve::listener();
    let bind = listener.local_addr().expect("local address");
    let parts = api::wiring::parts(config, bind, metrics)
        .await
        .unwrap_or_else(|e| panic!("api: {e}"));
    let server = HttpServer::new(move || api::app(&parts))
        .workers(2)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
    serve::run(server, url)
}

/// A test's own ingest: a client of it ([`Ingest`], by deref), its server and its backing.
#[derive(Debug)]
pub struct TestIngest {
    client: Ingest,
    _served: Served,
    /// The database and namespace (dropped last).
    pub backing: Backing,
}

impl Deref for TestIngest {
    type Target = Ingest;
    fn deref(&self) -> &Ingest {
        &self.client
    }
}

/// The ingest on a fresh database, or `None` (skipped) without a stack.
pub async fn spawn_ingest(test: &str) -> Option<TestIngest> {
    let backing = Backing::new(test).await?;
    let served = serve_ingest(&backing.ingest_config()).await;
    Some(TestIngest {
        client: Ingest::new(
            served.url.clone(),
            GATEWAY_TOKEN.to_owned(),
            &backing.database.url,
        ),
        _served: served,
        backing,
    })
}

/// A test's own api and ingest on one database and namespace.
#[derive(Debug)]
pub struct TestServices {
    /// The api's base URL.
    pub api: String,
    /// The ingest's base URL.
    pub ingest: String,
    _served: [Served; 2],
    /// The database and namespace (dropped last).
    pub backing: Backing,
}

/// The api and the ingest on a fresh database, or `None` (skipped) without a stack.
pub async fn spawn_services(test: &str) -> Option<TestServices> {
    let backing = Backing::new(test).await?;
    let ingest = serve_ingest(&backing.ingest_config()).await;
    let mut api_config = backing.api_config();
    api_config.api_ingest_url = ingest.url.clone();
    let api = serve_api(&api_config).await;
    Some(TestServices {
        api: api.url.clone(),
        ingest: ingest.url.clone(),
        _served: [api, ingest],
        backing,
    })
}
