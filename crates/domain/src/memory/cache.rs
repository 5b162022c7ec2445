//! An in-memory [`SignalCache`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use crate::ports::{CacheError, CacheLookup, SignalCache};

/// An in-memory [`SignalCache`] with the same generation semantics as the Redis one.
#[derive(Debug, Default)]
pub struct MemoryCache {
    entries: Mutex<HashMap<(u64, String), Vec<u8>>>,
    generation: AtomicU64,
    down: AtomicBool,
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

    fn check(&self) -> Result<(), CacheError> {
        if self.down.load(Ordering::SeqCst) {
            Err(CacheError::Unavailable("memory cache switched off".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl SignalCache for MemoryCache {
    async fn get(&self, key: &str) -> Result<CacheLookup, CacheError> {
        self.check()?;
        let generation = self.generation.load(Ordering::SeqCst);
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        Ok(CacheLookup {
            value: entries.get(&(generation, key.to_owned())).cloned(),
            generation,
        })
    }

    async fn put(
        &self,
        key: &str,
        generation: u64,
        value: &[u8],
        _ttl: Duration,
    ) -> Result<(), CacheError> {
        self.check()?;
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.insert((generation, key.to_owned()), value.to_vec());
        Ok(())
    }

    async fn invalidate_all(&self) -> Result<(), CacheError> {
        self.check()?;
        self.generation.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn ping(&self) -> Result<(), CacheError> {
        self.check()
    }
}
