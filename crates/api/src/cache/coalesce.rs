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
mod tests;
