//! The cache port on Redis: generations per scope, so a commit invalidates only the answers it
//! can change, and the stored layout of an answer.
//!
//! Layout (namespace `ns`, default `tpcapital`): the generation of everything `ns:cache:gen`
//! (bumped by [`Invalidation::Everything`] and after every master reconnection), one generation
//! per scope — `ns:cache:gen:wide` for answers that may show any channel, `ns:cache:gen:ch:{id}`
//! for answers of one channel — and values at `ns:cache:{everything}.{scope}:r3|{key}` with a
//! `PX` expiry, each the refresh time (8 bytes, milliseconds since the epoch, big-endian) then
//! the answer. How the generations are bumped is in [`crate::invalidation`].
//!
//! A lookup is ONE `MGET` of both generations and of the key under the generations this process
//! saw last for that scope; the value counts only when both still hold them (MGET reads the
//! three at one instant), otherwise the lookup is a miss that reports the new ones. Lookups go
//! to the replica: the generations and the value come from the same snapshot, so a lagging
//! replica shows an answer at most its lag older than the master's, never an answer of a
//! generation it does not hold; the watcher moves reads to the master while the replica is
//! unlinked. Writes and bumps go to the master; a value is written under the generations its
//! lookup saw, so a value loaded before an invalidation is stored under a dead generation and
//! never served.
//!
//! Why not a Lua script returning both: measured on the stack's replica with 16 KiB values, a
//! read-only `EVALSHA_RO` costs ~31 µs of server time against ~1 µs for `MGET` (the value is
//! copied into and out of Lua), capping the replica near 20k lookups/s instead of ~70k/s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::ports::{
    CacheError, CacheGeneration, CacheLookup, CacheScope, CachedValue, Invalidation, SignalCache,
};
use fred::prelude::{ClientLike, Expiration, KeysInterface, Value};

use crate::connection::{Shared, generation_of};
use crate::invalidation::{invalidate, scope_key};

/// Prefixed to every key: the layout of stored values (a deploy never reads an old layout).
const LAYOUT: &str = "r3|";
/// Bytes of the refresh time before the answer.
const HEADER: usize = 8;
/// Scopes whose last generation a handle remembers; past it, it forgets them all (each then
/// costs one miss), so queries for arbitrary channels cannot grow it without bound.
const REMEMBERED_SCOPES: usize = 4096;

/// [`SignalCache`] over Redis. Cheap to clone; made by [`crate::Redis::cache`].
///
/// Every method fails fast with `Unavailable` when Redis is down. Reads also fail while the
/// generation is unconfirmed — after a (re)connection to the master or any failed master
/// command, until the background bump succeeds — because an invalidation may have been lost
/// meanwhile: a cache that might be stale answers nothing rather than stale.
///
/// Each handle remembers the generations its last lookup of each scope found; the first lookup
/// of a scope by a new handle, and the first after each invalidation, is a miss. Make one
/// handle per process and clone it.
#[derive(Debug, Clone)]
pub struct RedisCache {
    shared: Arc<Shared>,
    /// The generations the last lookup of each scope found; lookups ask for the key under them.
    last: Arc<Mutex<HashMap<CacheScope, CacheGeneration>>>,
}

impl RedisCache {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            last: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn value_key(&self, generation: CacheGeneration, key: &str) -> String {
        let CacheGeneration { everything, scope } = generation;
        format!(
            "{}{everything}.{scope}:{LAYOUT}{key}",
            self.shared.keys.value_prefix
        )
    }

    fn remembered(&self, scope: CacheScope) -> CacheGeneration {
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        last.get(&scope).copied().unwrap_or_default()
    }

    fn remember(&self, scope: CacheScope, generation: CacheGeneration) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.len() >= REMEMBERED_SCOPES && !last.contains_key(&scope) {
            last.clear();
        }
        last.insert(scope, generation);
    }

    async fn lookup_on<C: ClientLike + KeysInterface>(
        &self,
        client: &C,
        keys: Vec<String>,
    ) -> Result<Value, fred::error::Error> {
        client.with_options(&self.shared.fail_fast).mget(keys).await
    }
}

#[async_trait]
impl SignalCache for RedisCache {
    async fn get(&self, key: &str, scope: CacheScope) -> Result<CacheLookup, CacheError> {
        self.shared.ensure_trusted()?;
        let assumed = self.remembered(scope);
        let keys = vec![
            self.shared.keys.generation_key.clone(),
            scope_key(&self.shared, scope),
            self.value_key(assumed, key),
        ];
        let reply = match self.shared.read_from_replica() {
            Some(replica) => match self.lookup_on(replica, keys.clone()).await {
                Ok(reply) => reply,
                Err(error) => {
                    self.shared.replica_failed(&error);
                    self.lookup_on(&self.shared.master, keys)
                        .await
                        .map_err(|error| self.shared.master_error(error))?
                }
            },
            None => self
                .lookup_on(&self.shared.master, keys)
                .await
                .map_err(|error| self.shared.master_error(error))?,
        };
        let lookup = parse_lookup(reply, assumed)?;
        if lookup.generation != assumed {
            self.remember(scope, lookup.generation);
        }
        Ok(lookup)
    }

    async fn put(
        &self,
        key: &str,
        _scope: CacheScope,
        generation: CacheGeneration,
        value: &[u8],
        refresh_at: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<(), CacheError> {
        let shared = &*self.shared;
        let millis = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1);
        let _: Value = shared
            .master
            .with_options(&shared.fail_fast)
            .set(
                self.value_key(generation, key),
                Value::Bytes(encode(value, refresh_at).into()),
                Some(Expiration::PX(millis)),
                None,
                false,
            )
            .await
            .map_err(|error| shared.master_error(error))?;
        Ok(())
    }

    async fn invalidate(&self, what: &Invalidation) -> Result<(), CacheError> {
        invalidate(&self.shared, what).await
    }

    async fn ping(&self) -> Result<(), CacheError> {
        self.shared.ping().await
    }
}

/// The stored bytes: the refresh time, then the answer.
fn encode(body: &[u8], refresh_at: DateTime<Utc>) -> Vec<u8> {
    let mut stored = Vec::with_capacity(HEADER + body.len());
    stored.extend_from_slice(&refresh_at.timestamp_millis().to_be_bytes());
    stored.extend_from_slice(body);
    stored
}

/// The answer in stored bytes; `None` for bytes too short to hold one.
fn decode(stored: &[u8]) -> Option<CachedValue> {
    let (head, body) = stored.split_at_checked(HEADER)?;
    let millis = i64::from_be_bytes(head.try_into().ok()?);
    Some(CachedValue {
        bytes: body.to_vec(),
        refresh_at: DateTime::from_timestamp_millis(millis)?,
    })
}

/// `MGET everything scope value-under-assumed` → the lookup: the value counts only when both
/// generations are still the assumed ones. A missing counter is generation 0.
fn parse_lookup(reply: Value, assumed: CacheGeneration) -> Result<CacheLookup, CacheError> {
    let Value::Array(parts) = reply else {
        return Err(CacheError::Unavailable(format!(
            "redis: unexpected cache reply {reply:?}"
        )));
    };
    let Ok::<[Value; 3], _>([everything, scope, value]) = parts.try_into() else {
        return Err(CacheError::Unavailable(
            "redis: unexpected cache reply length".into(),
        ));
    };
    let counter = |v: Value| match v {
        Value::Null => Ok(0),
        counter => generation_of(&counter),
    };
    let generation = CacheGeneration {
        everything: counter(everything)?,
        scope: counter(scope)?,
    };
    let value = value
        .into_owned_bytes()
        .filter(|_| generation == assumed)
        .and_then(|stored| decode(&stored));
    Ok(CacheLookup { value, generation })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(everything: Value, scope: Value, value: Value) -> Value {
        Value::Array(vec![everything, scope, value])
    }

    fn generation(everything: u64, scope: u64) -> CacheGeneration {
        CacheGeneration { everything, scope }
    }

    #[test]
    fn a_value_counts_only_under_the_current_generations() {
        let at = DateTime::from_timestamp_millis(1_764_000_000_123).expect("time");
        let payload = || Value::Bytes(encode(b"payload", at).into());
        let cached = CachedValue {
            bytes: b"payload".to_vec(),
            refresh_at: at,
        };
        assert_eq!(
            parse_lookup(reply("12".into(), "3".into(), payload()), generation(12, 3)),
            Ok(CacheLookup {
                value: Some(cached),
                generation: generation(12, 3)
            })
        );
        for moved in [generation(13, 3), generation(12, 4)] {
            let reply = reply(
                moved.everything.to_string().into(),
                moved.scope.to_string().into(),
                payload(),
            );
            assert_eq!(
                parse_lookup(reply, generation(12, 3)),
                Ok(CacheLookup {
                    value: None,
                    generation: moved
                }),
                "a generation moved on: a miss reporting the new ones"
            );
        }
        assert_eq!(
            parse_lookup(
                reply(Value::Null, Value::Null, Value::Null),
                generation(0, 0)
            ),
            Ok(CacheLookup {
                value: None,
                generation: generation(0, 0)
            })
        );
        assert!(parse_lookup(Value::Null, generation(0, 0)).is_err());
        assert!(
            parse_lookup(
                reply("x".into(), Value::Null, Value::Null),
                generation(0, 0)
            )
            .is_err()
        );
        let short = reply("1".into(), "1".into(), Value::Bytes(b"abc".to_vec().into()));
        assert_eq!(
            parse_lookup(short, generation(1, 1)).map(|l| l.value),
            Ok(None),
            "bytes too short for the layout are a miss"
        );
    }
}
