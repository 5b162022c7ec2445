//! The ingest served in the test's own process on a database of the test's own (zero2prod's
//! `spawn_app`): the real adapters (PostgreSQL, Redis under a namespace of the test's own), the
//! composition of `ingest::wiring` that the binary uses, an actix server on a free port. Every
//! row the test reads is one it wrote, so it asserts exact counts; the database is dropped when
//! the test ends. Direct PostgreSQL, not PgBouncer: pooling is tested on the stack, in `tests/`.

#![allow(dead_code)]

use std::ops::Deref;
use std::sync::Arc;

use actix_web::{HttpServer, web};
use ingest::config::IngestConfig;
use ingest::gateway::sync::GatewaySync;
use ingest::http::{GatewayTokens, IngestApp, app};
use ingest::ingestion::{Ingestion, register_metrics};
use ingest::limits::MessageLimits;
use ingest::wiring::{self, SERVICE};
use service_kit::config::{Secret, SecretList};
use service_kit::metrics::{Metrics, SIGNAL_GAUGE_PERIOD, spawn_signal_gauges};
use test_support::db::{self, FreshDb};
use test_support::ingest_client::Ingest;
use test_support::serve::{self, Served};
use test_support::stack::env_or_skip;

/// The gateway token of the test's ingest.
pub const TOKEN: &str = "gw-test-token";

/// An ingest of the test's own: a client of it ([`Ingest`], by deref), its server and database.
pub struct TestIngest {
    client: Ingest,
    _served: Served,
    /// The test's database (dropped last).
    pub database: FreshDb,
}

impl Deref for TestIngest {
    type Target = Ingest;
    fn deref(&self) -> &Ingest {
        &self.client
    }
}

/// The ingest on a fresh database, or `None` (skipped) without a stack.
pub async fn spawn_ingest(test: &str) -> Option<TestIngest> {
    let redis_url = env_or_skip("TP_CAPITAL_REDIS_URL", test)?;
    let replica_url = std::env::var("TP_CAPITAL_REDIS_REPLICA_URL").unwrap_or_default();
    let database = db::migrated(test).await?;
    let config = IngestConfig {
        database_url: Secret::new(database.url.clone()),
        redis_url: Secret::new(redis_url),
        redis_replica_url: Secret::new(replica_url),
        redis_namespace: format!("t{}", uuid_like()),
        gateway_token: SecretList::new([TOKEN]),
        database_pool_size: 8,
        maintenance_interval_secs: 0,
        ..IngestConfig::default()
    };
    service_kit::telemetry::init_silent();
    let metrics = Metrics::install(SERVICE, "test").expect("metrics");
    register_metrics();
    ingest::maintenance::register_metrics();
    let (store, redis) = wiring::connect(&config)
        .await
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    spawn_signal_gauges(Arc::new(store.clone()), SIGNAL_GAUGE_PERIOD);
    MessageLimits {
        max_text_chars: config.ingest_max_text_chars,
        max_caption_chars: config.ingest_max_caption_chars,
    }
    .install();
    let service = wiring::service(&store, &redis).with_horizon(config.ingest_max_age_days);
    let state = IngestApp {
        ingestion: web::Data::new(Ingestion::new(service)),
        tokens: web::Data::new(GatewayTokens::new(config.gateway_token.clone())),
        health: web::Data::new(wiring::health(&store, &redis, None)),
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
    let server = HttpServer::new(move || app(&settings, &state))
        .workers(2)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
    let served = serve::run(server, url.clone());
    Some(TestIngest {
        client: Ingest::new(url, TOKEN.to_owned(), &database.url),
        _served: served,
        database,
    })
}

fn uuid_like() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::BuildHasher;
    format!("{:016x}", RandomState::new().hash_one(std::process::id()))
}
