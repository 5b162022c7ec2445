//! Request coalescing for the cached reads: concurrent requests for the same cache key share one
//! cache lookup and, on a miss, one database load — so a burst of identical dashboard queries
//! costs one Redis round trip, and an expired entry one query, not one per connection.
//! An entry due for refresh is served at once and reloaded in the background (one reload per key
//! at a time), so no request waits for a slow query just because its entry aged out. At most
//! [`BACKGROUND_RELOADS`] reloads run at once; past that a stale entry is served without one (the
//! next read of it tries again): cheap stale hits must not queue reloads without bound in front
//! of the database pool and starve the misses that wait for it.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::web::Bytes;
use domain::ports::{CacheGeneration, CacheScope, StoreError};
use domain::services::{CacheResult, CachedReads, QueryError};
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use service_kit::compress::{self, Encoding};
use tokio::sync::Semaphore;

use super::stale::{LastGood, STALE_IF_ERROR, Served};

/// A read's outcome, shareable between the requests waiting for it.
pub type Loaded = Result<(Bytes, CacheResult), QueryError>;

type Flight = Shared<BoxFuture<'static, Loaded>>;

/// Most background reloads running at once (a quarter of the api's default database pool).
pub const BACKGROUND_RELOADS: usize = 4;

/// The reads in flight, by cache key, and the keys being refreshed in the background.
pub struct Coalescer {
    inflight: Mutex<HashMap<String, Flight>>,
    refreshing: Reloads,
    last_good: LastGood,
}

impl Default for Coalescer {
    fn default() -> Self {
        Self {
            inflight: Mutex::default(),
            refreshing: Reloads {
                keys: Arc::default(),
                slots: Arc::new(Semaphore::new(BACKGROUND_RELOADS)),
            },
            last_good: LastGood::default(),
        }
    }
}

/// The keys being reloaded in the background, and the slots a reload must take.
#[derive(Clone)]
struct Reloads {
    keys: Arc<Mutex<HashSet<String>>>,
    slots: Arc<Semaphore>,
}

/// Releases a key's background refresh (and its slot) when it ends (or is dropped).
struct Refreshing {
    keys: Arc<Mutex<HashSet<String>>>,
    key: String,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for Refreshing {
    fn drop(&mut self) {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.remove(&self.key);
    }
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

    /// `reads.get_or_load(key, scope, …)`, shared with every concurrent request for `key`; an
    /// entry due for refresh is reloaded in the background. While the database is down, the
    /// last good answer of `key` (if any, within [`STALE_IF_ERROR`]) is served stale.
    ///
    /// A miss packs only the form its caller `accepts` (none for identity: a one-off query pays
    /// no compression); an entry read again in a form it lacks is served compressed per response
    /// and reloaded in the background with every form, so a hit on a busy entry costs none.
    pub async fn read<F, Fut>(
        &self,
        reads: &CachedReads,
        key: &str,
        scope: CacheScope,
        accepts: Encoding,
        load: F,
    ) -> Result<Served, QueryError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<u8>, QueryError>> + Send + 'static,
    {
        let every_form = Arc::new(AtomicBool::new(false));
        let load = {
            let every_form = every_form.clone();
            move || {
                let forms = match every_form.load(Ordering::Relaxed) {
                    true => compress::ALL_FORMS,
                    false => accepts.forms(),
                };
                load().map(move |body| body.map(|body| compress::pack(body, forms)))
            }
        };
        let flight = {
            let mut map = self.lock();
            match map.get(key) {
                Some(flight) => flight.clone(),
                None => {
                    let reads = reads.clone();
                    let owned_key = key.to_owned();
                    let refreshing = self.refreshing.clone();
                    let flight = async move {
                        let (stale_reads, stale_key) = (reads.clone(), owned_key.clone());
                        reads
                            .get_or_load(
                                &owned_key,
                                scope,
                                |stored| compress::holds_form(stored, accepts),
                                load,
                                |load, generation| {
                                    every_form.store(true, Ordering::Relaxed);
                                    let at = (stale_key, scope, generation);
                                    refresh(stale_reads, refreshing, at, load);
                                },
                            )
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
        match flight.await {
            Ok((body, result)) => {
                self.last_good
                    .remember(key, &body, result != CacheResult::Hit);
                Ok(Served {
                    body,
                    result,
                    stale_for: None,
                })
            }
            Err(QueryError::Store(StoreError::Unavailable(why))) => {
                match self.last_good.recall(key, STALE_IF_ERROR) {
                    Some((body, age)) => {
                        tracing::warn!(key, error = %why, "database down: serving the last good answer");
                        Ok(Served {
                            body,
                            result: CacheResult::Unavailable,
                            stale_for: Some(age),
                        })
                    }
                    None => Err(StoreError::Unavailable(why).into()),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Reads in flight (for tests).
    pub fn in_flight(&self) -> usize {
        self.lock().len()
    }
}

/// Reloads `key` in the background unless a reload of it is already running or every
/// [`BACKGROUND_RELOADS`] slot is taken; a failed or skipped reload leaves the entry as it was
/// (it expires at its TTL).
fn refresh<F, Fut>(
    reads: CachedReads,
    refreshing: Reloads,
    (key, scope, generation): (String, CacheScope, CacheGeneration),
    load: F,
) where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<Vec<u8>, QueryError>> + Send + 'static,
{
    let Ok(slot) = refreshing.slots.try_acquire_owned() else {
        return;
    };
    {
        let mut keys = refreshing.keys.lock().unwrap_or_else(|p| p.into_inner());
        if !keys.insert(key.clone()) {
            return;
        }
    }
    let guard = Refreshing {
        keys: refreshing.keys,
        key,
        _slot: slot,
    };
    actix_web::rt::spawn(async move {
        if let Ok(body) = load().await {
            reads.store(&guard.key, scope, generation, &body).await;
        }
        drop(guard);
    });
}

/// Shares one [`Coalescer`] between workers.
pub type SharedCoalescer = Arc<Coalescer>;

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use domain::memory::{FixedClock, MemoryCache};
    use domain::services::Lookup;

    use super::*;

    const W: CacheScope = CacheScope::Wide;
    const ID: Encoding = Encoding::Identity;

    fn reads() -> (Arc<FixedClock>, CachedReads) {
        let clock = Arc::new(FixedClock::new(
            chrono::DateTime::from_timestamp(1_760_965_500, 0).expect("time"),
        ));
        let reads = CachedReads::new(
            Arc::new(MemoryCache::new()),
            clock.clone(),
            Duration::from_secs(30),
        );
        (clock, reads)
    }

    #[actix_web::test]
    async fn an_entry_due_for_refresh_is_served_at_once_and_reloaded_once_in_the_background() {
        let (clock, reads) = reads();
        let coalescer = Arc::new(Coalescer::default());
        let Served { body, result, .. } = coalescer
            .read(&reads, "k", W, ID, || async { Ok(b"v1".to_vec()) })
            .await
            .expect("first read");
        assert_eq!((&body[..], result), (&b"v1"[..], CacheResult::Miss));
        clock.advance(chrono::Duration::seconds(20));
        let loads = Arc::new(AtomicUsize::new(0));
        let (gate, opened) = tokio::sync::oneshot::channel::<()>();
        let opened = Arc::new(tokio::sync::Mutex::new(Some(opened)));
        for _ in 0..3 {
            let (loads, opened) = (loads.clone(), opened.clone());
            let Served { body, result, .. } = coalescer
                .read(&reads, "k", W, ID, move || async move {
                    loads.fetch_add(1, Ordering::SeqCst);
                    if let Some(opened) = opened.lock().await.take() {
                        opened.await.ok();
                    }
                    Ok(b"v2".to_vec())
                })
                .await
                .expect("stale read");
            assert_eq!(
                (&body[..], result),
                (&b"v1"[..], CacheResult::Hit),
                "served from the cache while the reload waits"
            );
        }
        gate.send(()).expect("open the gate");
        for _ in 0..100 {
            if matches!(reads.lookup("k", W).await, Lookup::Fresh(_)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(reads.lookup("k", W).await, Lookup::Fresh(b"v2".to_vec()));
        assert_eq!(loads.load(Ordering::SeqCst), 1, "one background reload");
    }

    #[actix_web::test]
    async fn background_reloads_are_bounded_and_a_skipped_entry_reloads_on_a_later_read() {
        let (clock, reads) = reads();
        let coalescer = Coalescer::default();
        let keys: Vec<String> = (0..BACKGROUND_RELOADS * 3)
            .map(|i| format!("k{i}"))
            .collect();
        for k in &keys {
            coalescer
                .read(&reads, k, W, ID, || async { Ok(b"v1".to_vec()) })
                .await
                .expect("first read");
        }
        clock.advance(chrono::Duration::seconds(20));
        let started = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(Semaphore::new(0));
        for k in &keys {
            let (started, gate) = (started.clone(), gate.clone());
            let served = coalescer
                .read(&reads, k, W, ID, move || async move {
                    started.fetch_add(1, Ordering::SeqCst);
                    let _open = gate.acquire().await;
                    Ok(b"v2".to_vec())
                })
                .await
                .expect("stale read");
            assert_eq!(
                (&served.body[..], served.result),
                (&b"v1"[..], CacheResult::Hit)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            started.load(Ordering::SeqCst),
            BACKGROUND_RELOADS,
            "one reload per slot, the other stale entries served without one"
        );
        gate.add_permits(keys.len());
        let last = keys.last().expect("keys");
        for _ in 0..100 {
            coalescer
                .read(&reads, last, W, ID, || async { Ok(b"v3".to_vec()) })
                .await
                .expect("read");
            if reads.lookup(last, W).await == Lookup::Fresh(b"v3".to_vec()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            reads.lookup(last, W).await,
            Lookup::Fresh(b"v3".to_vec()),
            "a skipped entry is reloaded by a later read once a slot is free"
        );
        assert_eq!(
            reads.lookup(&keys[0], W).await,
            Lookup::Fresh(b"v2".to_vec())
        );
    }

    #[actix_web::test]
    async fn a_miss_packs_only_the_form_asked_for_and_a_read_in_another_form_repacks_every_form() {
        let (_, reads) = reads();
        let coalescer = Coalescer::default();
        let page = || async { Ok(br#"{"asset":"PETR4","price":38.5}"#.repeat(64)) };
        let first = coalescer
            .read(&reads, "k", W, ID, page)
            .await
            .expect("miss");
        assert_eq!(first.result, CacheResult::Miss);
        let stored = |l| match l {
            Lookup::Fresh(bytes) => bytes,
            other => panic!("expected a fresh entry, got {other:?}"),
        };
        let plain = stored(reads.lookup("k", W).await);
        assert!(
            !compress::holds_form(&plain, Encoding::Gzip),
            "identity: nothing compressed"
        );
        let gzip = coalescer
            .read(&reads, "k", W, Encoding::Gzip, page)
            .await
            .expect("hit");
        assert_eq!((gzip.result, &gzip.body), (CacheResult::Hit, &first.body));
        for _ in 0..100 {
            if compress::holds_form(&stored(reads.lookup("k", W).await), Encoding::Gzip) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let repacked = stored(reads.lookup("k", W).await);
        assert!(
            compress::ALL_FORMS
                .iter()
                .all(|&e| compress::holds_form(&repacked, e)),
            "reloaded in the background with every form"
        );
        let br = coalescer.read(&reads, "k", W, Encoding::Brotli, page).await;
        assert_eq!(br.expect("hit").result, CacheResult::Hit);
    }

    #[actix_web::test]
    async fn concurrent_misses_load_once() {
        let (_, reads) = reads();
        let coalescer = Arc::new(Coalescer::default());
        let loads = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (reads, coalescer, loads) = (reads.clone(), coalescer.clone(), loads.clone());
                actix_web::rt::spawn(async move {
                    coalescer
                        .read(&reads, "k", W, ID, move || async move {
                            loads.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            Ok(b"v".to_vec())
                        })
                        .await
                })
            })
            .collect();
        for t in tasks {
            let body = t.await.expect("task").expect("read").body;
            assert_eq!(&body[..], b"v");
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert_eq!(coalescer.in_flight(), 0, "landed flights are removed");
        let again = coalescer
            .read(&reads, "k", W, ID, || async { Ok(b"w".to_vec()) })
            .await
            .expect("read")
            .result;
        assert_eq!(again, CacheResult::Hit);
    }

    #[actix_web::test]
    async fn while_the_store_is_down_the_last_good_answer_is_served_stale() {
        let (_, reads) = reads();
        let coalescer = Coalescer::default();
        let down = || async { Err::<Vec<u8>, _>(StoreError::Unavailable("down".into()).into()) };
        assert!(
            coalescer.read(&reads, "never", W, ID, down).await.is_err(),
            "nothing to serve"
        );
        coalescer
            .read(&reads, "k", W, ID, || async { Ok(b"v1".to_vec()) })
            .await
            .expect("read");
        // The entry is gone (an invalidation), then the database goes down.
        let cache_gone = CachedReads::new(
            Arc::new(MemoryCache::new()),
            Arc::new(FixedClock::new(chrono::Utc::now())),
            Duration::from_secs(30),
        );
        let served = coalescer
            .read(&cache_gone, "k", W, ID, down)
            .await
            .expect("stale");
        assert_eq!(&served.body[..], b"v1");
        assert!(served.stale_for.is_some());
        let internal = || async { Err::<Vec<u8>, _>(QueryError::Render("bug".into())) };
        assert!(
            coalescer
                .read(&cache_gone, "k", W, ID, internal)
                .await
                .is_err(),
            "only an unavailable store is covered"
        );
    }
}
