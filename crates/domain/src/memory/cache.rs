//! [`SignalCache`] in memory, with the same generation semantics as the Redis one (and no
//! deferred invalidation: every invalidation takes effect at once).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::ports::{
    CacheError, CacheGeneration, CacheLookup, CacheScope, CachedValue, Invalidation, SignalCache,
};

/// An in-memory [`SignalCache`].
#[derive(Debug, Default)]
pub struct MemoryCache {
    state: Mutex<State>,
    down: AtomicBool,
}

#[derive(Debug, Default)]
struct State {
    everything: u64,
    scopes: HashMap<CacheScope, u64>,
    entries: HashMap<(CacheScope, CacheGeneration, String), CachedValue>,
}

impl State {
    fn generation(&self, scope: CacheScope) -> CacheGeneration {
        CacheGeneration {
            everything: self.everything,
            scope: self.scopes.get(&scope).copied().unwrap_or(0),
        }
    }

    fn bump(&mut self, scope: CacheScope) {
        *self.scopes.entry(scope).or_insert(0) += 1;
    }
}

impl MemoryCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Simulates Redis going away (`true`) or coming back.
    pub fn set_unavailable(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn check(&self) -> Result<std::sync::MutexGuard<'_, State>, CacheError> {
        if self.down.load(Ordering::SeqCst) {
            Err(CacheError::Unavailable("memory cache switched off".into()))
        } else {
            Ok(self.state.lock().unwrap_or_else(|p| p.into_inner()))
        }
    }
}

#[async_trait]
impl SignalCache for MemoryCache {
    async fn get(&self, key: &str, scope: CacheScope) -> Result<CacheLookup, CacheError> {
        let state = self.check()?;
        let generation = state.generation(scope);
        Ok(CacheLookup {
            value: state
                .entries
                .get(&(scope, generation, key.to_owned()))
                .cloned(),
            generation,
            superseded: None,
        })
    }

    async fn put(
        &self,
        key: &str,
        scope: CacheScope,
        generation: CacheGeneration,
        value: &[u8],
        refresh_at: DateTime<Utc>,
        _ttl: Duration,
    ) -> Result<(), CacheError> {
        let mut state = self.check()?;
        let value = CachedValue {
            bytes: value.to_vec(),
            refresh_at,
        };
        state
            .entries
            .insert((scope, generation, key.to_owned()), value);
        Ok(())
    }

    async fn invalidate(&self, what: &Invalidation) -> Result<(), CacheError> {
        let mut state = self.check()?;
        match what {
            Invalidation::Everything => state.everything += 1,
            Invalidation::Channels(channels) => {
                state.bump(CacheScope::Wide);
                for channel in channels {
                    state.bump(CacheScope::Channel(*channel));
                }
            }
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), CacheError> {
        self.check().map(|_| ())
    }
}
