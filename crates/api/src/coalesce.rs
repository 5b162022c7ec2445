//! Request coalescing for the cached reads: concurrent requests for the same cache key share one
//! cache lookup and, on a miss, one database load — so a burst of identical dashboard queries
//! costs one Redis round trip, and an expired entry one query, not one per connection.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use actix_web::web::Bytes;
use domain::ports::StoreError;
use domain::services::{CacheResult, CachedReads};
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};

/// A read's outcome, shareable between the requests waiting for it.
pub type Loaded = Result<(Bytes, CacheResult), StoreError>;

type Flight = Shared<BoxFuture<'static, Loaded>>;

/// The reads in flight, by cache key.
#[derive(Default)]
pub struct Coalescer {
    inflight: Mutex<HashMap<String, Flight>>,
}

impl std::fmt::Debug for Coalescer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coalescer").finish_non_exhaustive()
    }
}

/// Removes a finished (or abandoned) flight, unless a newer one took its place.
struct Landing<'a> {
    coalescer: &'a Coalescer,
    key: &'a str,
    flight: Flight,
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        let mut map = self.coalescer.lock();
        if map.get(self.key).is_some_and(|f| f.ptr_eq(&self.flight)) {
            map.remove(self.key);
        }
    }
}

impl Coalescer {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Flight>> {
        self.inflight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `reads.get_or_load(key, load)`, shared with every concurrent request for `key`.
    pub async fn read<F, Fut>(&self, reads: &CachedReads, key: &str, load: F) -> Loaded
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<u8>, StoreError>> + Send + 'static,
    {
        let flight = {
            let mut map = self.lock();
            match map.get(key) {
                Some(flight) => flight.clone(),
                None => {
                    let reads = reads.clone();
                    let owned_key = key.to_owned();
                    let flight = async move {
                        reads
                            .get_or_load(&owned_key, load)
                            .await
                            .map(|(body, result)| (Bytes::from(body), result))
                    }
                    .boxed()
                    .shared();
                    map.insert(key.to_owned(), flight.clone());
                    flight
                }
            }
        };
        let _landing = Landing {
            coalescer: self,
            key,
            flight: flight.clone(),
        };
        flight.await
    }

    /// Reads in flight (for tests).
    pub fn in_flight(&self) -> usize {
        self.lock().len()
    }
}

/// Shares one [`Coalescer`] between workers.
pub type SharedCoalescer = Arc<Coalescer>;

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use domain::memory::MemoryCache;

    use super::*;

    #[actix_web::test]
    async fn concurrent_misses_load_once() {
        let reads = CachedReads::new(Arc::new(MemoryCache::new()), Duration::from_secs(30));
        let coalescer = Arc::new(Coalescer::default());
        let loads = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (reads, coalescer, loads) = (reads.clone(), coalescer.clone(), loads.clone());
                actix_web::rt::spawn(async move {
                    coalescer
                        .read(&reads, "k", move || async move {
                            loads.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            Ok(b"v".to_vec())
                        })
                        .await
                })
            })
            .collect();
        for t in tasks {
            let (body, _) = t.await.expect("task").expect("read");
            assert_eq!(&body[..], b"v");
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert_eq!(coalescer.in_flight(), 0, "landed flights are removed");
        let (_, again) = coalescer
            .read(&reads, "k", || async { Ok(b"w".to_vec()) })
            .await
            .expect("read");
        assert_eq!(again, CacheResult::Hit);
    }
}
