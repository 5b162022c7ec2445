//! Counters shared by every replica of a service, on the master: what the api's rate limiter
//! adds its local counts to, so three replicas allow one limit, not three. A failure is only
//! reported (the caller falls back to its local limit); it never marks the cache untrusted.

use std::sync::Arc;
use std::time::Duration;

use domain::ports::CacheError;
use fred::prelude::{ClientLike, KeysInterface};

use crate::connection::Shared;

/// Windowed counters under `{namespace}:rl:`.
#[derive(Clone, Debug)]
pub struct RedisCounters {
    shared: Arc<Shared>,
}

impl RedisCounters {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Adds `by` to the counter `key` and returns its new total; a new counter expires after
    /// `ttl` (the end of its window). Fails fast with `Unavailable` while the master is away.
    pub async fn add(&self, key: &str, by: u64, ttl: Duration) -> Result<u64, CacheError> {
        let key = format!("{}:rl:{key}", self.shared.config.namespace);
        let master = self.shared.master.with_options(&self.shared.fail_fast);
        let by = i64::try_from(by).unwrap_or(i64::MAX);
        let total: i64 = master
            .incr_by(key.as_str(), by)
            .await
            .map_err(|e| CacheError::Unavailable(format!("rate counter: {e}")))?;
        if total == by {
            let millis = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1);
            let _: i64 = master
                .pexpire(key.as_str(), millis, None)
                .await
                .map_err(|e| CacheError::Unavailable(format!("rate counter expiry: {e}")))?;
        }
        Ok(u64::try_from(total).unwrap_or(0))
    }
}
