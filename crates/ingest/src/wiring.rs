//! The ingest's composition, shared by `main.rs` and the in-process tests (zero2prod's
//! `Application::build` idea): the adapters the configuration names, the ingest service over
//! them and the health checks, so a test serves the very app the binary serves.

use std::sync::Arc;
use std::time::Duration;

use adapters_postgres::{PgStore, PoolOptions};
use adapters_redis::{Redis, RedisConfig};
use domain::ports::{SignalQueries, SystemClock};
use domain::services::IngestService;
use service_kit::health::{Component, FnCheck, Health};

use crate::config::IngestConfig;
use crate::gateway::Breaker;

/// The service name in metrics, traces and the database's `application_name`.
pub const SERVICE: &str = "tp-capital-ingest";

/// Connects PostgreSQL (the configured pool) and Redis (master, replica, namespace).
pub async fn connect(config: &IngestConfig) -> Result<(PgStore, Redis), String> {
    let pool = PoolOptions {
        max_connections: config.database_pool_size,
        acquire_timeout: Duration::from_millis(config.database_acquire_timeout_ms),
        application_name: SERVICE.to_owned(),
        ..PoolOptions::default()
    };
    let store = PgStore::connect(config.database_url.expose(), pool)
        .await
        .map_err(|e| format!("database: {e}"))?
        .with_maintenance_url(
            (!config.maintenance_database_url.is_empty())
                .then(|| config.maintenance_database_url.expose().to_owned()),
        );
    let mut redis_config =
        RedisConfig::new(config.redis_url.expose()).with_namespace(&config.redis_namespace);
    if !config.redis_replica_url.is_empty() {
        redis_config = redis_config.with_replica(config.redis_replica_url.expose());
    }
    let redis = adapters_redis::connect(redis_config)
        .await
        .map_err(|e| format!("redis: {e}"))?;
    Ok((store, redis))
}

/// The ingest use case over the PostgreSQL store and Redis's events and cache.
pub fn service(store: &PgStore, redis: &Redis) -> IngestService {
    IngestService::new(
        Arc::new(store.clone()),
        Arc::new(redis.events()),
        Arc::new(redis.cache()),
        Arc::new(SystemClock),
    )
}

/// `/health`: the database (with its edition), Redis and, with a pull consumer, the gateway.
pub fn health(store: &PgStore, redis: &Redis, breaker: Option<Breaker>) -> Health {
    let (store, redis) = (store.clone(), redis.clone());
    let edition = store.clone();
    let health = Health::new(env!("CARGO_PKG_VERSION")).with_edition(move || {
        let store = edition.clone();
        async move {
            let e = store.edition().await.map_err(|e| e.to_string())?;
            Ok(service_kit::health::DatabaseEdition {
                server: e.server,
                mode: e.mode,
            })
        }
    });
    let health = match breaker {
        Some(breaker) => health.with_check(FnCheck::new(Component::Gateway, move || {
            let reason = breaker.reason();
            async move { reason.map_or(Ok(()), Err) }
        })),
        None => health,
    };
    health
        .with_check(FnCheck::new(Component::Database, move || {
            let store = store.clone();
            async move { store.ping().await.map_err(|e| e.to_string()) }
        }))
        .with_check(FnCheck::new(Component::Cache, move || {
            let redis = redis.clone();
            async move { redis.ping().await.map_err(|e| e.to_string()) }
        }))
}
