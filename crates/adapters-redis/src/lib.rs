//! fred implementations of the domain's cache and event ports.
//!
//! [`connect`] opens the connections once (master for writes, invalidation and pub/sub; replica
//! for cache reads) and returns a [`Redis`] handle; [`Redis::cache`] and [`Redis::events`] give
//! the [`domain::ports::SignalCache`] and [`domain::ports::SignalEvents`] adapters over it.
//! Redis being down never fails startup or a caller: calls fail fast with
//! [`domain::ports::CacheError::Unavailable`] and the connections heal by themselves.
//!
//! ```no_run
//! # async fn wire() -> Result<(), adapters_redis::ConfigError> {
//! use adapters_redis::{RedisConfig, connect};
//!
//! let redis = connect(
//!     RedisConfig::new("redis://127.0.0.1:6381").with_replica("redis://127.0.0.1:6382"),
//! )
//! .await?;
//! let (cache, events) = (redis.cache(), redis.events());
//! # let _ = (cache, events);
//! # Ok(())
//! # }
//! ```

mod cache;
mod config;
mod connection;
mod counter;
mod events;
mod invalidation;
mod scripts;

pub use cache::RedisCache;
pub use config::{ConfigError, RedisConfig, redact};
pub use connection::{Redis, RedisStatus, connect};
pub use counter::RedisCounters;
pub use events::RedisEvents;
