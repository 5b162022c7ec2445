//! Cache-aside storage of serialised query results.

use std::time::Duration;

use async_trait::async_trait;

use super::CacheError;

/// The answer of a cache lookup: the value, if any, and the cache generation it was looked up
/// in. Writing back under that generation means a value loaded before an invalidation can never
/// be served after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheLookup {
    /// The cached bytes.
    pub value: Option<Vec<u8>>,
    /// The generation current at lookup time.
    pub generation: u64,
}

/// Cache-aside storage of serialised query results, invalidated as a whole on every ingest.
#[async_trait]
pub trait SignalCache: Send + Sync {
    /// The value stored under `key` in the current generation (read from the replica).
    async fn get(&self, key: &str) -> Result<CacheLookup, CacheError>;

    /// Stores `value` under `key` in `generation`, expiring after `ttl` (on the master).
    async fn put(
        &self,
        key: &str,
        generation: u64,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), CacheError>;

    /// Makes every cached value stale at once (a version bump on the master).
    async fn invalidate_all(&self) -> Result<(), CacheError>;

    /// A real round trip, for health.
    async fn ping(&self) -> Result<(), CacheError>;
}
