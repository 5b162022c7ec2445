//! Shared helpers of the Redis integration tests: finding the real servers, isolating each test
//! under its own namespace, and keeping the restart test away from the others.

#![allow(dead_code)]

use std::fs::File;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use adapters_redis::{Redis, RedisCache, RedisConfig, connect};
use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use domain::model::{ChannelId, SignalId, SignalStatus, Ticker, TraceContext};
use domain::ports::{
    CacheError, CacheGeneration, CacheScope, SignalCache, SignalEvent, SignalEventKind,
};

pub use test_support::stack::env_or_skip;

/// A fresh namespace so tests sharing one server never see each other's keys.
pub fn namespace() -> String {
    format!("tptest-{}", uuid::Uuid::new_v4().simple())
}

/// A configuration for the stack's master (and replica, when `with_replica`), or `None` (skip).
pub fn stack_config(test: &str, with_replica: bool) -> Option<RedisConfig> {
    let master = env_or_skip("TP_CAPITAL_REDIS_URL", test)?;
    let mut config = RedisConfig::new(master).with_namespace(namespace());
    if with_replica {
        config = config.with_replica(env_or_skip("TP_CAPITAL_REDIS_REPLICA_URL", test)?);
    }
    Some(config)
}

/// Connects and checks the connection came up (the stack is supposed to be running).
pub async fn connect_stack(config: RedisConfig) -> Redis {
    let redis = connect(config).await.expect("valid redis config");
    let status = redis.status();
    assert!(
        status.master_connected && status.generation_confirmed,
        "the stack's redis master is not reachable: {status:?}"
    );
    redis
}

/// A lock file shared by every test of this crate: ordinary tests hold it shared, the restart
/// test exclusively, so no test runs while the master is stopped (nextest runs tests as
/// separate processes, so an in-process lock would not do).
pub fn fault_lock(exclusive: bool) -> File {
    let dir = std::env::var_os("TP_STACK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let path = dir.join("adapters-redis-tests.lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|error| panic!("open {}: {error}", path.display()));
    if exclusive {
        file.lock().expect("exclusive test lock");
    } else {
        file.lock_shared().expect("shared test lock");
    }
    file
}

/// A sample event; `id` tells events apart.
pub fn event(id: i64) -> SignalEvent {
    SignalEvent {
        kind: SignalEventKind::Created,
        signal_id: SignalId(id),
        channel_id: ChannelId(-1_001_234_567_890),
        asset: Ticker::parse("BOVAW32").expect("ticker"),
        status: SignalStatus::Open,
        at: Utc
            .timestamp_millis_opt(1_760_000_000_000 + id)
            .single()
            .expect("timestamp"),
        traceparent: TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    }
}

/// Polls `check` every 20 ms until it returns `Some` or `within` elapses.
pub async fn poll<T, F, Fut>(within: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = check().await {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A lookup as these tests compare it: the answer's bytes and the generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub value: Option<Vec<u8>>,
    pub generation: CacheGeneration,
}

/// The cache port as these tests use it: bytes in, bytes out, answers due for refresh in 5
/// minutes; `_wide` on [`CacheScope::Wide`].
#[async_trait]
pub trait WideCache {
    async fn get_in(&self, key: &str, scope: CacheScope) -> Result<Lookup, CacheError>;
    async fn put_in(
        &self,
        key: &str,
        scope: CacheScope,
        generation: CacheGeneration,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), CacheError>;

    async fn get_wide(&self, key: &str) -> Result<Lookup, CacheError> {
        self.get_in(key, CacheScope::Wide).await
    }

    async fn put_wide(
        &self,
        key: &str,
        generation: CacheGeneration,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), CacheError> {
        self.put_in(key, CacheScope::Wide, generation, value, ttl)
            .await
    }
}

#[async_trait]
impl WideCache for RedisCache {
    async fn get_in(&self, key: &str, scope: CacheScope) -> Result<Lookup, CacheError> {
        let lookup = self.get(key, scope).await?;
        Ok(Lookup {
            value: lookup.value.map(|v| v.bytes),
            generation: lookup.generation,
        })
    }

    async fn put_in(
        &self,
        key: &str,
        scope: CacheScope,
        generation: CacheGeneration,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), CacheError> {
        let refresh_at = Utc::now() + chrono::Duration::minutes(5);
        self.put(key, scope, generation, value, refresh_at, ttl)
            .await
    }
}
