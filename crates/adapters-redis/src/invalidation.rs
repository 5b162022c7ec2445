//! Invalidation by what a commit changed, on the master.
//!
//! A commit of channel C bumps C's generation at once (few answers, cheap to reload) and the
//! generation of the wide answers (unfiltered lists, searches, `/channels`, stats) at most once
//! per `invalidation_window`: the first commit after a quiet window bumps it at once, later ones
//! schedule one bump at the window's end. Under 30 commits/s the wide answers are then reloaded
//! twice a second instead of thirty times, and none is ever older than the window plus one
//! round trip after the commit that changed it. Every process throttles its own commits; the
//! generations live on the master, so every api replica sees every bump.
//!
//! A failed or lost bump (the deferred one included) distrusts the cache: reads fail until the
//! keeper's bump of the whole generation succeeds ([`crate::connection`]). A process that ends
//! with a bump pending runs it in [`crate::Redis::shutdown`].

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::model::ChannelId;
use domain::ports::{CacheError, CacheScope, Invalidation};
use fred::prelude::{ClientLike, Value};

use crate::connection::{Shared, generation_of};
use crate::scripts::generation_seed;

/// When the wide generation was last bumped, and whether a bump is scheduled.
#[derive(Debug)]
pub(crate) struct WideThrottle {
    window: Duration,
    state: Mutex<(Option<Instant>, bool)>,
}

/// What to do with the wide generation for one commit.
#[derive(Debug, PartialEq, Eq)]
enum Wide {
    /// Bump it with the channels.
    Now,
    /// A bump was scheduled for this instant: schedule it (this call claimed it).
    At(Instant),
    /// A bump is already scheduled and will cover this commit.
    Scheduled,
}

impl WideThrottle {
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            state: Mutex::new((None, false)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Option<Instant>, bool)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn claim(&self, now: Instant) -> Wide {
        let mut state = self.lock();
        let (last, scheduled) = &mut *state;
        if *scheduled {
            return Wide::Scheduled;
        }
        match *last {
            Some(at) if now < at + self.window => {
                *scheduled = true;
                Wide::At(at + self.window)
            }
            _ => {
                *last = Some(now);
                Wide::Now
            }
        }
    }

    /// The scheduled bump starts: commits from now on need a bump of their own.
    fn fire(&self) -> bool {
        let mut state = self.lock();
        let was = state.1;
        *state = (Some(Instant::now()), false);
        was
    }
}

/// `{ns}:cache:gen:wide` or `{ns}:cache:gen:ch:{id}`: a scope's generation counter.
pub(crate) fn scope_key(shared: &Shared, scope: CacheScope) -> String {
    let prefix = &shared.keys.value_prefix;
    match scope {
        CacheScope::Wide => format!("{prefix}gen:wide"),
        CacheScope::Channel(ChannelId(id)) => format!("{prefix}gen:ch:{id}"),
    }
}

async fn bump(shared: &Shared, keys: Vec<Value>) -> Result<(), CacheError> {
    let reply = shared
        .bump
        .run(
            &shared.master.with_options(&shared.fail_fast),
            &keys,
            &[Value::Integer(generation_seed())],
        )
        .await
        .map_err(|error| shared.master_error(error))?;
    generation_of(&reply).map(|_| ())
}

/// Applies `what`: everything at once, or the channels at once and the wide answers throttled.
pub(crate) async fn invalidate(
    shared: &Arc<Shared>,
    what: &Invalidation,
) -> Result<(), CacheError> {
    let channels = match what {
        Invalidation::Everything => return shared.bump_generation().await.map(|_| ()),
        Invalidation::Channels(channels) => channels,
    };
    let wide = shared.wide.claim(Instant::now());
    let mut keys: Vec<Value> = channels
        .iter()
        .map(|c| Value::from(scope_key(shared, CacheScope::Channel(*c))))
        .collect();
    if wide == Wide::Now {
        keys.push(Value::from(scope_key(shared, CacheScope::Wide)));
    }
    if let Wide::At(at) = wide {
        let shared = Arc::clone(shared);
        tokio::spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            flush(&shared).await;
        });
    }
    if keys.is_empty() {
        return Ok(());
    }
    bump(shared, keys).await
}

/// Runs the scheduled wide bump, if any (at its time, or at shutdown).
pub(crate) async fn flush(shared: &Shared) {
    if !shared.wide.fire() {
        return;
    }
    let key = Value::from(scope_key(shared, CacheScope::Wide));
    if let Err(error) = bump(shared, vec![key]).await {
        tracing::warn!(%error, "deferred cache invalidation failed; cache reads suspended");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wide_bump_runs_at_once_then_at_most_once_per_window() {
        let throttle = WideThrottle::new(Duration::from_millis(500));
        let t0 = Instant::now();
        assert_eq!(throttle.claim(t0), Wide::Now);
        let due = t0 + Duration::from_millis(500);
        assert_eq!(
            throttle.claim(t0 + Duration::from_millis(10)),
            Wide::At(due)
        );
        assert_eq!(
            throttle.claim(t0 + Duration::from_millis(20)),
            Wide::Scheduled,
            "one scheduled bump covers every commit before it runs"
        );
        assert!(throttle.fire(), "the scheduled bump runs");
        assert!(!throttle.fire(), "nothing left to run");
        assert!(matches!(throttle.claim(Instant::now()), Wide::At(_)));
        let quiet = Instant::now() + Duration::from_secs(2);
        throttle.fire();
        assert_eq!(
            throttle.claim(quiet),
            Wide::Now,
            "after a quiet window, at once"
        );
    }

    #[test]
    fn a_zero_window_bumps_every_time() {
        let throttle = WideThrottle::new(Duration::ZERO);
        let t0 = Instant::now();
        assert_eq!(throttle.claim(t0), Wide::Now);
        assert_eq!(throttle.claim(t0), Wide::Now);
    }
}
