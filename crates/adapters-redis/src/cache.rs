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
//! A lookup is ONE `MGET` of both generations, of the generation the scope's last bump ended
//! (`…:prev`), and of the key under the generations this process assumes for it (the ones it
//! stored it under, else the scope's last seen); the value counts only when both generations
//! still hold them (MGET reads the four at one instant), otherwise the lookup is a miss that
//! reports the new ones — with the value as superseded when the last bump is the one that ended
//! its generation (generations are the time of their bump in µs: that bump's time says how
//! stale it may be, and the domain serves it only briefly while it reloads). Lookups go
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
    Superseded,
};
use fred::prelude::{ClientLike, Expiration, KeysInterface, Value};

use crate::connection::{Shared, generation_of};
use crate::invalidation::{invalidate, scope_key};

/// Prefixed to every key: the layout of stored values (a deploy never reads an old layout).
const LAYOUT: &str = "r3|";
/// Bytes of the refresh time before the answer.
const HEADER: usize = 8;
/// Keys and scopes whose generations a handle remembers; past it, it forgets them all (each
/// then costs one miss), so queries for arbitrary keys cannot grow them without bound.
const REMEMBERED: usize = 4096;

/// [`SignalCache`] over Redis. Cheap to clone; made by [`crate::Redis::cache`].
///
/// Every method fails fast with `Unavailable` when Redis is down. Reads also fail while the
/// generation is unconfirmed — after a (re)connection to the master or any failed master
/// command, until the background bump succeeds — because an invalidation may have been lost
/// meanwhile: a cache that might be stale answers nothing rather than stale.
///
/// Each handle remembers the generations its last lookup of each scope found, and the ones it
/// stored each key under; the first lookup of a scope by a new handle, and the first after each
/// invalidation, is a miss (or a superseded answer). Make one handle per process and clone it.
#[derive(Debug, Clone)]
pub struct RedisCache {
    shared: Arc<Shared>,
    assumed: Arc<Mutex<Assumed>>,
}

/// The generations lookups ask for a key under.
#[derive(Debug, Default)]
struct Assumed {
    /// The latest each scope was seen at.
    scopes: HashMap<CacheScope, CacheGeneration>,
    /// The one each key was stored under by this handle, while its scope's moved on since.
    keys: HashMap<String, CacheGeneration>,
}

impl Assumed {
    fn of(&self, key: &str, scope: CacheScope) -> CacheGeneration {
        self.keys
            .get(key)
            .or_else(|| self.scopes.get(&scope))
            .copied()
            .unwrap_or_default()
    }

    fn saw(&mut self, scope: CacheScope, generation: CacheGeneration) {
        if self.scopes.len() >= REMEMBERED && !self.scopes.contains_key(&scope) {
            self.scopes.clear();
        }
        let latest = self.scopes.entry(scope).or_default();
        *latest = (*latest).max(generation);
    }

    fn stored(&mut self, key: &str, generation: CacheGeneration) {
        if self.keys.len() >= REMEMBERED && !self.keys.contains_key(key) {
            self.keys.clear();
        }
        self.keys.insert(key.to_owned(), generation);
    }
}

impl RedisCache {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            assumed: Arc::new(Mutex::new(Assumed::default())),
        }
    }

    fn value_key(&self, generation: CacheGeneration, key: &str) -> String {
        let CacheGeneration { everything, scope } = generation;
        format!(
            "{}{everything}.{scope}:{LAYOUT}{key}",
            self.shared.keys.value_prefix
        )
    }

    fn assumed(&self) -> std::sync::MutexGuard<'_, Assumed> {
        self.assumed.lock().unwrap_or_else(|p| p.into_inner())
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
        let assumed = self.assumed().of(key, scope);
        let scope_key = scope_key(&self.shared, scope);
        let keys = vec![
            self.shared.keys.generation_key.clone(),
            format!("{scope_key}:prev"),
            scope_key,
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
            let mut remembered = self.assumed();
            remembered.saw(scope, lookup.generation);
            if lookup.superseded.is_some() {
                // Keep finding it (served while reloaded) until the reload stores it anew.
                remembered.stored(key, assumed);
            } else {
                remembered.keys.remove(key);
            }
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
        self.assumed().stored(key, generation);
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

/// `MGET everything scope:prev scope value-under-assumed` → the lookup: the value counts only
/// when both generations are still the assumed ones; when only the scope moved on, by exactly
/// one bump, it is the superseded answer, since that bump. A missing counter is generation 0.
fn parse_lookup(reply: Value, assumed: CacheGeneration) -> Result<CacheLookup, CacheError> {
    let Value::Array(parts) = reply else {
        return Err(CacheError::Unavailable(format!(
            "redis: unexpected cache reply {reply:?}"
        )));
    };
    let Ok::<[Value; 4], _>([everything, previous, scope, value]) = parts.try_into() else {
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
    let value = value.into_owned_bytes().and_then(|stored| decode(&stored));
    if generation == assumed {
        return Ok(CacheLookup {
            value,
            generation,
            superseded: None,
        });
    }
    // The bump that made the current generation ended the assumed one (an unknown `prev`,
    // e.g. evicted, proves nothing).
    let next_of_assumed = generation.everything == assumed.everything
        && !matches!(previous, Value::Null)
        && counter(previous)? == assumed.scope;
    let since = i64::try_from(generation.scope)
        .ok()
        .and_then(DateTime::from_timestamp_micros);
    let superseded = match (value, since) {
        (Some(value), Some(since)) if next_of_assumed => Some(Superseded { value, since }),
        _ => None,
    };
    Ok(CacheLookup {
        value: None,
        generation,
        superseded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(everything: u64, previous: u64, scope: u64, value: Value) -> Value {
        let n = |g: u64| Value::from(g.to_string());
        Value::Array(vec![n(everything), n(previous), n(scope), value])
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
        let (old, bump) = (1_764_000_000_000_000, 1_764_000_000_500_000);
        assert_eq!(
            parse_lookup(reply(12, 3, old, payload()), generation(12, old)),
            Ok(CacheLookup {
                value: Some(cached.clone()),
                generation: generation(12, old),
                superseded: None,
            })
        );
        assert_eq!(
            parse_lookup(reply(12, old, bump, payload()), generation(12, old)),
            Ok(CacheLookup {
                value: None,
                generation: generation(12, bump),
                superseded: Some(Superseded {
                    value: cached,
                    since: DateTime::from_timestamp_micros(1_764_000_000_500_000).expect("t"),
                }),
            }),
            "the scope moved on by one bump: superseded since that bump"
        );
        for (moved, previous) in [(generation(13, old), old), (generation(12, bump), bump - 1)] {
            let reply = reply(moved.everything, previous, moved.scope, payload());
            assert_eq!(
                parse_lookup(reply, generation(12, old)),
                Ok(CacheLookup {
                    value: None,
                    generation: moved,
                    superseded: None,
                }),
                "everything moved on, or the scope by more than one bump: a plain miss"
            );
        }
        let null = Value::Array(vec![Value::Null, Value::Null, Value::Null, Value::Null]);
        assert_eq!(
            parse_lookup(null, generation(0, 0)),
            Ok(CacheLookup {
                value: None,
                generation: generation(0, 0),
                superseded: None,
            })
        );
        assert!(parse_lookup(Value::Null, generation(0, 0)).is_err());
        let bad = Value::Array(vec!["x".into(), Value::Null, Value::Null, Value::Null]);
        assert!(parse_lookup(bad, generation(0, 0)).is_err());
        let short = reply(1, 0, 1, Value::Bytes(b"abc".to_vec().into()));
        assert_eq!(
            parse_lookup(short, generation(1, 1)).map(|l| l.value),
            Ok(None),
            "bytes too short for the layout are a miss"
        );
    }
}
