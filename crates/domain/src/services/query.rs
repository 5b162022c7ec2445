//! Reading signals: cache-aside over the store, degrading to the store when the cache is down.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::admission::Admission;
use crate::ports::{
    CacheGeneration, CacheLookup, CacheScope, CachedValue, Clock, SignalCache, StoreError,
    Superseded,
};

/// Why a read failed: the store could not answer, or its answer could not be rendered. A
/// rendering failure is a bug of the reader, not a store failure (the HTTP edge maps both).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The store failed ([`StoreError`]'s contract: unavailable, not found …).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The answer could not be rendered; the detail is for logs, not for clients.
    #[error("rendering the answer: {0}")]
    Render(String),
}

/// How a read was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheResult {
    /// From the cache.
    Hit,
    /// From the store (and cached, from the key's second miss).
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
/// query, in the [`CacheScope`] it depends on, for a short time; each commit invalidates the
/// scopes it touched ([`Invalidation`](crate::ports::Invalidation)).
///
/// An entry lives `ttl` (the safety net against a missed invalidation) but is due for refresh
/// after half of it: from then on [`CachedReads::lookup`] reports it [`Lookup::Stale`], so the
/// caller can serve it and reload it in the background, and a slow query is never waited for
/// just because its entry aged out. A wide answer (across channels) invalidated less than
/// [`SUPERSEDED_GRACE`] ago is served the same way while it is reloaded, so a burst of readers
/// does not queue behind each reload; an answer of one channel is reloaded at once (cheap, and
/// its channel's writer reads its own writes). An answer is cached from its key's second miss
/// ([`Admission`]): a one-off query costs no cache write. How an entry is stored is the cache
/// adapter's business.
#[derive(Clone)]
pub struct CachedReads {
    cache: Arc<dyn SignalCache>,
    clock: Arc<dyn Clock>,
    ttl: Duration,
    admission: Arc<Admission>,
}

impl std::fmt::Debug for CachedReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedReads")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// What the cache holds for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// A current answer.
    Fresh(Vec<u8>),
    /// A current answer (same generation) due for refresh: serve it, reload it.
    Stale(Vec<u8>, CacheGeneration),
    /// Nothing for the current generation (given).
    Missing(CacheGeneration),
    /// The cache cannot be used.
    Unavailable,
}

/// How long after its invalidation an answer may still be served while it is reloaded. With the
/// invalidation window of the answers across channels (500 ms, `adapters-redis`), an answer is
/// never more than 900 ms (plus a round trip) behind a commit: SPEC §4's bound is 1 s.
pub const SUPERSEDED_GRACE: Duration = Duration::from_millis(400);

impl CachedReads {
    /// Caches answers for `ttl` (a safety net; invalidation is what keeps them fresh); they are
    /// due for refresh after `ttl / 2` by `clock`.
    pub fn new(cache: Arc<dyn SignalCache>, clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        Self {
            cache,
            clock,
            ttl,
            admission: Arc::default(),
        }
    }

    /// What the cache holds for `key` of `scope`; a cache failure is [`Lookup::Unavailable`].
    pub async fn lookup(&self, key: &str, scope: CacheScope) -> Lookup {
        self.lookup_where(key, scope, |_| true).await
    }

    /// [`lookup`](Self::lookup), where a value `complete` rejects (one that lacks what this
    /// caller needs, e.g. a compressed form) is due for refresh like an aged one.
    pub async fn lookup_where(
        &self,
        key: &str,
        scope: CacheScope,
        complete: impl FnOnce(&[u8]) -> bool,
    ) -> Lookup {
        match self.cache.get(key, scope).await {
            Ok(CacheLookup {
                value: Some(CachedValue { bytes, refresh_at }),
                generation,
                ..
            }) => {
                if self.clock.now() < refresh_at && complete(&bytes) {
                    Lookup::Fresh(bytes)
                } else {
                    Lookup::Stale(bytes, generation)
                }
            }
            Ok(CacheLookup {
                superseded: Some(Superseded { value, since }),
                generation,
                ..
            }) if scope == CacheScope::Wide
                && self.clock.now() - since
                    < chrono::Duration::from_std(SUPERSEDED_GRACE).unwrap_or_default() =>
            {
                Lookup::Stale(value.bytes, generation)
            }
            Ok(CacheLookup { generation, .. }) => Lookup::Missing(generation),
            Err(_) => Lookup::Unavailable,
        }
    }

    /// Caches `body` for `key` of `scope` under `generation` (the one the lookup saw, so an
    /// answer loaded across an invalidation is never stored as current). `Miss` when stored.
    pub async fn store(
        &self,
        key: &str,
        scope: CacheScope,
        generation: CacheGeneration,
        body: &[u8],
    ) -> CacheResult {
        let now = self.clock.now();
        let refresh_at = chrono::Duration::from_std(self.ttl / 2)
            .ok()
            .and_then(|half| now.checked_add_signed(half))
            .unwrap_or(now);
        match self
            .cache
            .put(key, scope, generation, body, refresh_at, self.ttl)
            .await
        {
            Ok(()) => CacheResult::Miss,
            Err(_) => CacheResult::Unavailable,
        }
    }

    /// Returns the cached bytes for `key` of `scope`, or runs `load` and returns its bytes,
    /// cached if [`Admission`] admits them (from the key's second miss). An entry due for
    /// refresh, or one `complete` rejects (it lacks what this caller needs), is returned too,
    /// after handing `load` and its generation to `on_stale` (which may reload it in the
    /// background). A cache failure never fails the read.
    pub async fn get_or_load<F, Fut>(
        &self,
        key: &str,
        scope: CacheScope,
        complete: impl FnOnce(&[u8]) -> bool,
        load: F,
        on_stale: impl FnOnce(F, CacheGeneration),
    ) -> Result<(Vec<u8>, CacheResult), QueryError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<u8>, QueryError>>,
    {
        match self.lookup_where(key, scope, complete).await {
            Lookup::Fresh(bytes) => Ok((bytes, CacheResult::Hit)),
            Lookup::Stale(bytes, generation) => {
                on_stale(load, generation);
                Ok((bytes, CacheResult::Hit))
            }
            Lookup::Missing(generation) => {
                let bytes = load().await?;
                let result = match self.admission.admit(key) {
                    true => self.store(key, scope, generation, &bytes).await,
                    false => CacheResult::Miss,
                };
                Ok((bytes, result))
            }
            Lookup::Unavailable => Ok((load().await?, CacheResult::Unavailable)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use futures_executor::block_on;

    use super::*;
    use crate::memory::{FixedClock, MemoryCache};
    use crate::model::ChannelId;
    use crate::ports::{CacheError, Invalidation};

    const W: CacheScope = CacheScope::Wide;

    fn reads_at() -> (Arc<MemoryCache>, Arc<FixedClock>, CachedReads) {
        let cache = Arc::new(MemoryCache::new());
        let clock = Arc::new(FixedClock::new(
            chrono::DateTime::from_timestamp(1_760_965_500, 0).expect("time"),
        ));
        let reads = CachedReads::new(cache.clone(), clock.clone(), Duration::from_secs(30));
        (cache, clock, reads)
    }

    fn reads() -> (Arc<MemoryCache>, CachedReads) {
        let (cache, _, reads) = reads_at();
        (cache, reads)
    }

    #[test]
    fn an_entry_is_due_for_refresh_after_half_its_ttl_and_a_store_renews_it() {
        let (cache, clock, reads) = reads_at();
        let generation = match block_on(reads.lookup("q", W)) {
            Lookup::Missing(g) => g,
            other => panic!("expected a miss, got {other:?}"),
        };
        assert_eq!(
            block_on(reads.store("q", W, generation, b"v1")),
            CacheResult::Miss
        );
        clock.advance(chrono::Duration::seconds(14));
        assert_eq!(
            block_on(reads.lookup("q", W)),
            Lookup::Fresh(b"v1".to_vec())
        );
        clock.advance(chrono::Duration::seconds(2));
        assert_eq!(
            block_on(reads.lookup("q", W)),
            Lookup::Stale(b"v1".to_vec(), generation)
        );
        let served = block_on(reads.get_or_load(
            "q",
            W,
            |_| true,
            || async {
                Err::<Vec<u8>, _>(QueryError::Render(
                    "a stale entry is served, not reloaded".into(),
                ))
            },
            |_, _| {},
        ))
        .expect("stale read");
        assert_eq!(served, (b"v1".to_vec(), CacheResult::Hit));
        block_on(reads.store("q", W, generation, b"v2"));
        assert_eq!(
            block_on(reads.lookup("q", W)),
            Lookup::Fresh(b"v2".to_vec())
        );
        block_on(cache.invalidate_all()).expect("invalidate");
        assert_eq!(
            block_on(reads.lookup("q", W)),
            Lookup::Missing(CacheGeneration {
                everything: generation.everything + 1,
                ..generation
            })
        );
    }

    fn load(n: &mut u32) -> impl Future<Output = Result<Vec<u8>, QueryError>> {
        *n += 1;
        let body = format!("v{n}").into_bytes();
        async move { Ok(body) }
    }

    #[test]
    fn a_value_the_caller_finds_incomplete_is_served_and_refreshed() {
        let (_, reads) = reads();
        let mut loads = 0;
        block_on(reads.get_or_load("q", W, |_| true, || load(&mut loads), |_, _| {}))
            .expect("first miss, not cached");
        loads = 0;
        block_on(reads.get_or_load("q", W, |_| true, || load(&mut loads), |_, _| {}))
            .expect("second miss, cached");
        let mut refreshed = None;
        let served = block_on(reads.get_or_load(
            "q",
            W,
            |v| v != b"v1",
            || load(&mut loads),
            |_, generation| refreshed = Some(generation),
        ))
        .expect("hit");
        assert_eq!(served, (b"v1".to_vec(), CacheResult::Hit));
        assert!(refreshed.is_some(), "handed over for a reload");
        let mut again = None;
        block_on(reads.get_or_load(
            "q",
            W,
            |_| true,
            || load(&mut loads),
            |_, g| again = Some(g),
        ))
        .expect("hit");
        assert_eq!((again, loads), (None, 1), "a complete value is just served");
    }

    #[test]
    fn cached_from_the_second_miss_then_hit_then_cached_at_once_after_invalidation() {
        let (cache, reads) = reads();
        let mut loads = 0;
        let mut read = || {
            block_on(reads.get_or_load("q", W, |_| true, || load(&mut loads), |_, _| {}))
                .expect("read")
        };
        let results = [read(), read(), read()];
        assert_eq!(
            results
                .each_ref()
                .map(|(body, result)| (body.as_slice(), *result)),
            [
                (b"v1".as_slice(), CacheResult::Miss),
                (b"v2".as_slice(), CacheResult::Miss),
                (b"v2".as_slice(), CacheResult::Hit),
            ],
            "a one-off answer is not cached; the second is"
        );
        block_on(cache.invalidate_all()).expect("invalidate");
        let (again, hit) = (read(), read());
        assert_eq!(
            [again, hit],
            [
                (b"v3".to_vec(), CacheResult::Miss),
                (b"v3".to_vec(), CacheResult::Hit),
            ],
            "a key read before is cached at its first miss after an invalidation"
        );
    }

    #[test]
    fn cache_down_reads_from_the_store() {
        let (cache, reads) = reads();
        cache.set_unavailable(true);
        let mut loads = 0;
        let (body, result) =
            block_on(reads.get_or_load("q", W, |_| true, || load(&mut loads), |_, _| {}))
                .expect("read");
        assert_eq!(
            (body.as_slice(), result),
            (b"v1".as_slice(), CacheResult::Unavailable)
        );
    }

    #[test]
    fn store_errors_propagate() {
        let (_, reads) = reads();
        let err = block_on(reads.get_or_load(
            "q",
            W,
            |_| true,
            || async { Err::<Vec<u8>, _>(StoreError::Unavailable("down".into()).into()) },
            |_, _| {},
        ));
        assert!(matches!(
            err,
            Err(QueryError::Store(StoreError::Unavailable(_)))
        ));
    }

    #[test]
    fn a_render_failure_is_its_own_error_and_caches_nothing() {
        let (_, reads) = reads();
        let err = block_on(reads.get_or_load(
            "q",
            W,
            |_| true,
            || async { Err::<Vec<u8>, _>(QueryError::Render("bad".into())) },
            |_, _| {},
        ));
        assert_eq!(err, Err(QueryError::Render("bad".into())));
        let mut loads = 0;
        let (_, result) =
            block_on(reads.get_or_load("q", W, |_| true, || load(&mut loads), |_, _| {}))
                .expect("read");
        assert_eq!(result, CacheResult::Miss);
    }

    #[test]
    fn a_change_of_one_channel_leaves_the_other_channels_answers_cached() {
        let (cache, reads) = reads();
        let (a, b) = (
            CacheScope::Channel(ChannelId(-1)),
            CacheScope::Channel(ChannelId(-2)),
        );
        let mut loads = 0;
        for scope in [a, b, W] {
            block_on(reads.get_or_load("q", scope, |_| true, || load(&mut loads), |_, _| {}))
                .expect("read");
        }
        block_on(cache.invalidate(&Invalidation::Channels(vec![ChannelId(-1)])))
            .expect("invalidate");
        let result = |scope| {
            let mut n = 0;
            block_on(reads.get_or_load("q", scope, |_| true, || load(&mut n), |_, _| {}))
                .expect("read")
                .1
        };
        assert_eq!(result(b), CacheResult::Hit, "channel B untouched");
        assert_eq!(result(a), CacheResult::Miss, "channel A reloaded");
        assert_eq!(result(W), CacheResult::Miss, "the wide answers reloaded");
    }

    /// A cache whose every answer was superseded at `since`.
    struct Superseding {
        since: chrono::DateTime<chrono::Utc>,
    }

    #[async_trait::async_trait]
    impl SignalCache for Superseding {
        async fn get(&self, _: &str, _: CacheScope) -> Result<CacheLookup, CacheError> {
            let value = CachedValue {
                bytes: b"old".to_vec(),
                refresh_at: self.since,
            };
            Ok(CacheLookup {
                value: None,
                generation: CacheGeneration {
                    everything: 1,
                    scope: 2,
                },
                superseded: Some(Superseded {
                    value,
                    since: self.since,
                }),
            })
        }
        async fn put(
            &self,
            _: &str,
            _: CacheScope,
            _: CacheGeneration,
            _: &[u8],
            _: chrono::DateTime<chrono::Utc>,
            _: Duration,
        ) -> Result<(), CacheError> {
            Ok(())
        }
        async fn invalidate(&self, _: &Invalidation) -> Result<(), CacheError> {
            Ok(())
        }
        async fn ping(&self) -> Result<(), CacheError> {
            Ok(())
        }
    }

    #[test]
    fn a_superseded_answer_is_served_while_reloaded_only_within_the_grace() {
        let now = chrono::DateTime::from_timestamp(1_760_965_500, 0).expect("time");
        let current = CacheGeneration {
            everything: 1,
            scope: 2,
        };
        let at = |ago_ms: i64, scope| {
            let cache = Arc::new(Superseding {
                since: now - chrono::Duration::milliseconds(ago_ms),
            });
            let reads = CachedReads::new(
                cache,
                Arc::new(FixedClock::new(now)),
                Duration::from_secs(30),
            );
            block_on(reads.lookup("q", scope))
        };
        assert_eq!(at(300, W), Lookup::Stale(b"old".to_vec(), current));
        assert_eq!(
            at(500, W),
            Lookup::Missing(current),
            "past the grace: reload first"
        );
        assert_eq!(
            at(1, CacheScope::Channel(ChannelId(-1))),
            Lookup::Missing(current),
            "one channel's answers: at once"
        );
    }
}
