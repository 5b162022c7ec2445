//! The cache port: answers cached by key, each key in a [`CacheScope`], invalidated by what a
//! commit changed ([`Invalidation`]) so a commit of one channel leaves the others' answers alone.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::CacheError;
use crate::model::ChannelId;

/// What a cached answer depends on, so that a commit invalidates only the answers it can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheScope {
    /// Answers that may show any channel (unfiltered lists, searches, `/channels`, stats):
    /// every change reaches them.
    Wide,
    /// Answers restricted to one channel: only a change of that channel (or of everything)
    /// reaches them.
    Channel(ChannelId),
}

/// What a committed change may have altered, as far as cached answers go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// Signals or messages of these channels (and so the [`CacheScope::Wide`] answers).
    Channels(Vec<ChannelId>),
    /// Anything (labels, reparses, retention): every cached answer.
    Everything,
}

/// The generation of the cache a lookup saw: of everything, and of the key's scope. An answer
/// is current only under the generation it was stored in.
/// Ordered by bump order within one cache (tests compare them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct CacheGeneration {
    /// Bumped by [`Invalidation::Everything`] (and after a lost connection).
    pub everything: u64,
    /// Bumped by every change the scope can show.
    pub scope: u64,
}

/// A cached answer and when it is due for refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedValue {
    /// The cached bytes.
    pub bytes: Vec<u8>,
    /// From then on it is served while being reloaded.
    pub refresh_at: DateTime<Utc>,
}

/// The answer of a cache lookup: the value, if any, and the cache generation it was looked up
/// in. Writing back under that generation means a value loaded before an invalidation can never
/// be served after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheLookup {
    /// The cached answer.
    pub value: Option<CachedValue>,
    /// The generation current at lookup time.
    pub generation: CacheGeneration,
    /// Without a current answer: the answer of the scope's previous generation, when the
    /// adapter knows it and when it was superseded (the bump that ended that generation).
    pub superseded: Option<Superseded>,
}

/// An answer whose scope was invalidated since it was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superseded {
    /// The answer as it was.
    pub value: CachedValue,
    /// When its generation ended: it may miss changes committed up to the invalidation
    /// window before this.
    pub since: DateTime<Utc>,
}

/// Cache-aside storage of serialised query results, invalidated by what each commit changed.
/// The stored layout (bytes, refresh time) is the adapter's.
#[async_trait]
pub trait SignalCache: Send + Sync {
    /// The value stored under `key` (of `scope`) in the current generation.
    async fn get(&self, key: &str, scope: CacheScope) -> Result<CacheLookup, CacheError>;

    /// Stores `value` under `key` (of `scope`) in `generation`, due for refresh at
    /// `refresh_at`, expiring after `ttl`.
    async fn put(
        &self,
        key: &str,
        scope: CacheScope,
        generation: CacheGeneration,
        value: &[u8],
        refresh_at: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<(), CacheError>;

    /// Makes the answers `what` can have changed stale. Implementations may defer the
    /// invalidation of [`CacheScope::Wide`] answers by at most the documented freshness window.
    async fn invalidate(&self, what: &Invalidation) -> Result<(), CacheError>;

    /// Makes every cached value stale at once.
    async fn invalidate_all(&self) -> Result<(), CacheError> {
        self.invalidate(&Invalidation::Everything).await
    }

    /// A real round trip, for health.
    async fn ping(&self) -> Result<(), CacheError>;
}
