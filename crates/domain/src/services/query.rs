//! Reading signals: cache-aside over the store, degrading to the store when the cache is down.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::ports::{CacheLookup, SignalCache, StoreError};

/// How a read was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheResult {
    /// From the cache.
    Hit,
    /// From the store, then cached.
    Miss,
    /// From the store; the cache could not be used.
    Unavailable,
}

impl CacheResult {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheResult::Hit => "hit",
            CacheResult::Miss => "miss",
            CacheResult::Unavailable => "error",
        }
    }
}

/// Cache-aside reads: the rendered answer of a query is cached under a key derived from the
/// query, for a short time, and the whole cache is invalidated by every ingest commit.
#[derive(Clone)]
pub struct CachedReads {
    cache: Arc<dyn SignalCache>,
    ttl: Duration,
}

impl std::fmt::Debug for CachedReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedReads")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl CachedReads {
    /// Caches answers for `ttl` (a safety net; invalidation is what keeps them fresh).
    pub fn new(cache: Arc<dyn SignalCache>, ttl: Duration) -> Self {
        Self { cache, ttl }
    }

    /// Returns the cached bytes for `key`, or runs `load`, caches and returns its bytes.
    /// A cache failure never fails the read.
    pub async fn get_or_load<F, Fut>(
        &self,
        key: &str,
        load: F,
    ) -> Result<(Vec<u8>, CacheResult), StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<u8>, StoreError>>,
    {
        let generation = match self.cache.get(key).await {
            Ok(CacheLookup {
                value: Some(bytes), ..
            }) => return Ok((bytes, CacheResult::Hit)),
            Ok(CacheLookup {
                value: None,
                generation,
            }) => Some(generation),
            Err(_) => None,
        };
        let bytes = load().await?;
        let result = match generation {
            Some(g) if self.cache.put(key, g, &bytes, self.ttl).await.is_ok() => CacheResult::Miss,
            _ => CacheResult::Unavailable,
        };
        Ok((bytes, result))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use futures_executor::block_on;

    use super::*;
    use crate::memory::MemoryCache;

    fn reads() -> (Arc<MemoryCache>, CachedReads) {
        let cache = Arc::new(MemoryCache::new());
        (
            cache.clone(),
            CachedReads::new(cache, Duration::from_secs(30)),
        )
    }

    fn load(n: &mut u32) -> impl Future<Output = Result<Vec<u8>, StoreError>> {
        *n += 1;
        let body = format!("v{n}").into_bytes();
        async move { Ok(body) }
    }

    #[test]
    fn miss_then_hit_then_miss_after_invalidation() {
        let (cache, reads) = reads();
        let mut loads = 0;
        let first = block_on(reads.get_or_load("q", || load(&mut loads))).expect("read");
        let second = block_on(reads.get_or_load("q", || load(&mut loads))).expect("read");
        assert_eq!((first.1, second.1), (CacheResult::Miss, CacheResult::Hit));
        assert_eq!(second.0, b"v1");
        block_on(cache.invalidate_all()).expect("invalidate");
        let third = block_on(reads.get_or_load("q", || load(&mut loads))).expect("read");
        assert_eq!(
            (third.0.as_slice(), third.1),
            (b"v2".as_slice(), CacheResult::Miss)
        );
    }

    #[test]
    fn cache_down_reads_from_the_store() {
        let (cache, reads) = reads();
        cache.set_unavailable(true);
        let mut loads = 0;
        let (body, result) = block_on(reads.get_or_load("q", || load(&mut loads))).expect("read");
        assert_eq!(
            (body.as_slice(), result),
            (b"v1".as_slice(), CacheResult::Unavailable)
        );
    }

    #[test]
    fn store_errors_propagate() {
        let (_, reads) = reads();
        let err = block_on(reads.get_or_load("q", || async {
            Err::<Vec<u8>, _>(StoreError::Unavailable("down".into()))
        }));
        assert!(matches!(err, Err(StoreError::Unavailable(_))));
    }
}
