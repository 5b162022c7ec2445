//! The api's side of the cache: the keys of the cached reads (every filter, normalised,
//! length-prefixed, so equal queries share an entry and different ones never do) and the scope
//! each depends on, request coalescing ([`coalesce`]), stale-if-error ([`stale`]) and the
//! cache metrics.
//!
//! Freshness: a read restricted to one channel (by its id) is invalidated by the commit that
//! changes it; every other read (unfiltered lists, searches, label filters, `/channels`, stats)
//! at most `invalidation_window` (500 ms, `adapters-redis`) after it, so no answer is staler
//! than SPEC §4's 1 s after a commit.
//!
//! Keys start with a version (`signals2`, `stats2`, `channels2`) that changes with the stored layout, so an
//! older api sharing the Redis never reads a layout it does not know (2: a packed body may lack
//! a compressed form).

pub mod coalesce;
pub mod stale;

use chrono::{DateTime, Utc};
use domain::model::{ChannelId, Ticker};
use domain::ports::{CacheScope, SignalQuery};

pub use coalesce::Coalescer;
pub use stale::Served;

/// Counter of cached reads, by `result` (`hit`, `miss`, `error`, `stale`) and `endpoint`.
pub const CACHE_REQUESTS_TOTAL: &str = "tpcapital_cache_requests_total";

/// The key of `/channels`.
pub const CHANNELS_KEY: &str = "channels2";

/// A validated signal query's cache key: every filter, normalised, length-prefixed.
pub fn signal_cache_key(prefix: &str, q: &SignalQuery) -> String {
    let mut key = String::with_capacity(96);
    key.push_str(prefix);
    push_field(&mut key, "l", &q.limit.to_string());
    if let Some(c) = &q.cursor {
        push_field(
            &mut key,
            "c",
            &format!("{}.{}", c.message_date.timestamp_micros(), c.id.0),
        );
    }
    if let Some(ch) = &q.channel {
        push_field(&mut key, "ch", &ch.to_lowercase());
    }
    if let Some(a) = &q.asset {
        push_field(&mut key, "a", a.as_str());
    }
    if let Some(k) = q.kind {
        push_field(&mut key, "k", k.as_str());
    }
    if let Some(s) = &q.status {
        push_field(&mut key, "st", s);
    }
    if let Some(s) = &q.search {
        push_field(&mut key, "q", &s.to_lowercase());
    }
    if let Some(f) = q.from {
        push_field(&mut key, "f", &f.timestamp_micros().to_string());
    }
    if let Some(t) = q.to {
        push_field(&mut key, "t", &t.timestamp_micros().to_string());
    }
    key
}

/// The scope of a signal query: its channel when the filter names one by id, else wide. A
/// filter that is not a Telegram chat id (negative) may be a label, which can name any channel.
pub fn signal_scope(q: &SignalQuery) -> CacheScope {
    match q.channel.as_deref().map(str::parse::<i64>) {
        Some(Ok(id)) if id < 0 => CacheScope::Channel(ChannelId(id)),
        _ => CacheScope::Wide,
    }
}

/// The scope of a `/signals/stats` query: its channel, else wide.
pub fn stats_scope(channel: Option<ChannelId>) -> CacheScope {
    channel.map_or(CacheScope::Wide, CacheScope::Channel)
}

/// The key of a `/signals/stats` query, from its parameters as given (a default window stays
/// one entry).
pub fn stats_cache_key(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    channel: Option<ChannelId>,
    asset: Option<&Ticker>,
    top: u32,
) -> String {
    let mut key = String::from("stats2");
    if let Some(f) = from {
        push_field(&mut key, "f", &f.timestamp_micros().to_string());
    }
    if let Some(t) = to {
        push_field(&mut key, "t", &t.timestamp_micros().to_string());
    }
    if let Some(c) = channel {
        push_field(&mut key, "ch", &c.0.to_string());
    }
    if let Some(a) = asset {
        push_field(&mut key, "a", a.as_str());
    }
    push_field(&mut key, "n", &top.to_string());
    key
}

fn push_field(key: &mut String, name: &str, value: &str) {
    key.push('|');
    key.push_str(name);
    key.push_str(&value.len().to_string());
    key.push(':');
    key.push_str(value);
}
