//! The api's composition, shared by `main.rs` and the in-process tests (zero2prod's
//! `Application::build` idea): the adapters the configuration names, the state over them, the
//! health checks and the rate limits, so a test serves the very app the binary serves.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use adapters_postgres::{PgStore, PoolOptions};
use adapters_redis::{RedisConfig, RedisCounters, connect as connect_redis};
use domain::ports::{SignalStore, SystemClock};
use service_kit::health::{Component, FnCheck};
use service_kit::metrics::{
    PoolStats, SIGNAL_GAUGE_PERIOD, spawn_pool_gauges, spawn_signal_gauges,
};
use service_kit::{Health, HttpSettings, Metrics};

use crate::config::ApiConfig;
use crate::rate_limit::RateLimiter;
use crate::state::{AdminKeys, Ports};
use crate::{AppParts, SERVICE, VERSION, memory_ports, openapi_json, state};

/// Everything [`crate::app`] serves, from the configuration: the adapters it names (or, in dev
/// mode without URLs, the in-memory ones), the state, the health checks and the rate limits,
/// with the background tasks (SSE fan-out, health probe) started on the current runtime.
pub async fn parts(
    config: &ApiConfig,
    bind: SocketAddr,
    metrics: Metrics,
) -> Result<AppParts, String> {
    let (ports, writes, health, counters) = adapters(config).await?;
    if config.api_key.is_empty() {
        tracing::warn!("dev mode without TP_CAPITAL_API_KEY: admin calls are open to anyone");
    }
    let admin = AdminKeys {
        keys: config.api_key.clone(),
        dev_mode: config.dev_mode,
    };
    let mut state = state(
        ports.clone(),
        writes,
        admin,
        config.cache_ttl(),
        config.api_sse_max_clients,
    );
    state.desk_zone = config.desk_zone();
    if !config.api_ingest_url.is_empty() {
        // Answer before the request deadline, with a clear 504, while the sync goes on.
        let wait = Duration::from_secs(config.api_request_timeout_seconds.max(2) - 1);
        state.sync = Some(crate::sync::IngestSync::new(
            &config.api_ingest_url,
            config.sync_token.clone(),
            wait,
        )?);
    }
    let state = web::Data::new(state);
    state.fanout.spawn(ports);

    let health = web::Data::new(health);
    Health::spawn_probe(health.clone(), Duration::from_secs(15));
    let mut http = HttpSettings::new(bind);
    http.body_limit = config.api_body_limit;
    http.request_timeout = Duration::from_secs(config.api_request_timeout_seconds.max(1));
    http.shutdown_timeout = Duration::from_secs(10);
    http.workers = (config.api_workers > 0).then_some(config.api_workers);
    Ok(AppParts {
        http,
        cors_origins: Arc::new(config.allowed_origins()),
        state,
        health,
        metrics: web::Data::new(metrics),
        limiter: web::Data::new(match counters {
            Some(counters) => {
                RateLimiter::new(config.rate_limits()).with_shared(Box::new(counters))
            }
            None => RateLimiter::new(config.rate_limits()),
        }),
        openapi: web::Data::new(openapi_json()),
    })
}

/// The database edition and mode `/health` shows.
async fn database_edition(store: &PgStore) -> Result<service_kit::health::DatabaseEdition, String> {
    let e = store.edition().await.map_err(|e| e.to_string())?;
    Ok(service_kit::health::DatabaseEdition {
        server: e.server,
        mode: e.mode,
    })
}

/// Connects the real adapters (or, in dev mode without URLs, the in-memory ones) and the health
/// checks over them.
/// The ports, the store for writes, the health checks and (with Redis) the shared counters.
pub type Adapters = (Ports, Arc<dyn SignalStore>, Health, Option<RedisCounters>);

pub async fn adapters(config: &ApiConfig) -> Result<Adapters, String> {
    let mut health = Health::new(VERSION);
    let mut counters = None;
    let (memory, memory_store, memory_cache, memory_events) = memory_ports();
    let mut ports = memory;
    let mut writes: Arc<dyn SignalStore> = Arc::new(memory_store);

    if config.database_url.is_empty() {
        tracing::warn!("dev mode without TP_CAPITAL_DATABASE_URL: signals live in memory");
    } else {
        let store = PgStore::connect(
            config.database_url.expose(),
            PoolOptions {
                max_connections: config.api_db_max_connections,
                operation_timeout: config.db_timeout(),
                application_name: SERVICE.to_owned(),
                ..PoolOptions::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?;
        let edition = store.clone();
        health = health.with_edition(move || {
            let store = edition.clone();
            async move { database_edition(&store).await }
        });
        let probe = store.clone();
        health = health.with_check(FnCheck::new(Component::Database, move || {
            let store = probe.clone();
            async move {
                domain::ports::SignalQueries::ping(&store)
                    .await
                    .map_err(|e| e.to_string())
            }
        }));
        let sampled = store.clone();
        spawn_pool_gauges("database", Duration::from_secs(10), move || {
            let s = sampled.pool_stats();
            PoolStats {
                connections: u64::from(s.size),
                idle: u64::from(s.idle),
                max: u64::from(s.max),
            }
        });
        let store = Arc::new(store);
        ports.queries = store.clone();
        ports.archive = store.clone();
        ports.channels = store.clone();
        ports.stats = store.clone();
        spawn_signal_gauges(store.clone(), SIGNAL_GAUGE_PERIOD);
        ports.changes = store.clone();
        ports.receptions = store.clone();
        writes = store;
    }

    if config.redis_url.is_empty() {
        tracing::warn!("dev mode without TP_CAPITAL_REDIS_URL: in-process cache and events");
        ports.cache = memory_cache;
        ports.events = memory_events;
    } else {
        let mut redis_config =
            RedisConfig::new(config.redis_url.expose()).with_namespace(&config.redis_namespace);
        if !config.redis_replica_url.is_empty() {
            redis_config = redis_config.with_replica(config.redis_replica_url.expose());
        }
        let redis = connect_redis(redis_config)
            .await
            .map_err(|e| e.to_string())?;
        let (probe, redis_gauged) = (redis.clone(), redis.clone());
        health = health.with_check(FnCheck::new(Component::Cache, move || {
            let redis = probe.clone();
            async move { redis.ping().await.map_err(|e| e.to_string()) }
        }));
        spawn_pool_gauges("redis", Duration::from_secs(10), move || {
            let (connections, max) = redis_gauged.status().connection_counts();
            PoolStats {
                connections,
                idle: 0,
                max,
            }
        });
        ports.cache = Arc::new(redis.cache());
        ports.events = Arc::new(redis.events());
        counters = Some(redis.counters());
    }
    ports.clock = Arc::new(SystemClock);
    Ok((ports, writes, health, counters))
}
