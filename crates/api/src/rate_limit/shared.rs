//! The part of the limit every replica shares: per client, a fixed window in Redis that all
//! replicas add their counts to. Each replica adds in small batches (at most 1/64 of the
//! allowance, so the overshoot stays small and most requests make no round trip) and refuses
//! a client for the rest of the window once the total is over the allowance. Redis away or
//! slow: the replica skips the shared part for a while and its local limit alone applies.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use super::client::Client;

/// Longest wait for the shared counter before the request goes on without it.
const ROUND_TRIP_LIMIT: Duration = Duration::from_millis(100);
/// How long the shared part is skipped after a failure.
const BACKOFF_SECS: u64 = 2;
/// Clients remembered before the ones of past windows are dropped.
const SOFT_CAP: usize = 65_536;

/// A counter shared by the replicas (Redis in production).
#[async_trait]
pub trait WindowCounter: Send + Sync + 'static {
    /// Adds `by` to `key` (created to expire after `ttl`) and returns the new total.
    async fn add(&self, key: &str, by: u64, ttl: Duration) -> Result<u64, String>;
}

#[async_trait]
impl WindowCounter for adapters_redis::RedisCounters {
    async fn add(&self, key: &str, by: u64, ttl: Duration) -> Result<u64, String> {
        adapters_redis::RedisCounters::add(self, key, by, ttl)
            .await
            .map_err(|e| e.to_string())
    }
}

#[derive(Debug, Clone, Copy)]
struct Share {
    window: u64,
    pending: u64,
    blocked: bool,
}

/// The shared windows of one replica.
pub struct SharedWindows {
    counter: Box<dyn WindowCounter>,
    window_secs: u64,
    allowance: u64,
    batch: u64,
    clients: Mutex<HashMap<Client, Share>>,
    skip_until: AtomicU64,
}

impl std::fmt::Debug for SharedWindows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedWindows")
            .field("window_secs", &self.window_secs)
            .field("allowance", &self.allowance)
            .finish_non_exhaustive()
    }
}

impl SharedWindows {
    /// `allowance` requests per client per window of `window`, counted in `counter`.
    pub fn new(counter: Box<dyn WindowCounter>, window: Duration, allowance: u64) -> Self {
        let allowance = allowance.max(1);
        Self {
            counter,
            window_secs: window.as_secs().max(1),
            allowance,
            batch: (allowance / 64).clamp(1, 256),
            clients: Mutex::new(HashMap::new()),
            skip_until: AtomicU64::new(0),
        }
    }

    /// Counts one request of `client`; `Err(seconds to wait)` when the replicas together are
    /// over the allowance of the current window.
    pub async fn admit(&self, client: Client) -> Result<(), u64> {
        let now = unix_secs();
        let window = now / self.window_secs;
        let wait = (window + 1) * self.window_secs - now;
        let skipping = now < self.skip_until.load(Ordering::Relaxed);
        let to_add = {
            let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
            if clients.len() >= SOFT_CAP {
                clients.retain(|_, s| s.window + 1 >= window);
            }
            let share = clients.entry(client).or_insert(Share {
                window,
                pending: 0,
                blocked: false,
            });
            if share.window != window {
                *share = Share {
                    window,
                    pending: 0,
                    blocked: false,
                };
            }
            if share.blocked {
                return Err(wait.max(1));
            }
            share.pending += 1;
            if share.pending < self.batch || skipping {
                return Ok(());
            }
            std::mem::take(&mut share.pending)
        };
        let key = format!("{}:{window}", client.counter_name());
        let ttl = Duration::from_secs(self.window_secs * 2);
        match tokio::time::timeout(ROUND_TRIP_LIMIT, self.counter.add(&key, to_add, ttl)).await {
            Ok(Ok(total)) if total > self.allowance => {
                let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(share) = clients.get_mut(&client).filter(|s| s.window == window) {
                    share.blocked = true;
                }
                Err(wait.max(1))
            }
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => {
                self.skip(now, &error);
                Ok(())
            }
            Err(_) => {
                self.skip(now, "no answer within 100 ms");
                Ok(())
            }
        }
    }

    fn skip(&self, now: u64, why: &str) {
        let previous = self.skip_until.swap(now + BACKOFF_SECS, Ordering::Relaxed);
        if previous < now {
            tracing::warn!(
                error = why,
                "shared rate limit unavailable: local limits only"
            );
            metrics::counter!("tpcapital_api_rate_limit_shared_errors_total").increment(1);
        }
    }
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
