//! Invalidation by what changed, against the stack's real master and replica: a commit of one
//! channel leaves the other channels' answers cached, the wide answers follow within the
//! invalidation window, and every process (api replica) sees every bump.

mod common;

use std::time::{Duration, Instant};

use adapters_redis::RedisCache;
use common::{WideCache, connect_stack, fault_lock, poll, stack_config};
use domain::model::ChannelId;
use domain::ports::{CacheScope, Invalidation, SignalCache};

const TTL: Duration = Duration::from_secs(30);
/// The freshness bound of SPEC §4.
const FRESHNESS: Duration = Duration::from_secs(1);
const A: CacheScope = CacheScope::Channel(ChannelId(-1_001_000_000_001));
const B: CacheScope = CacheScope::Channel(ChannelId(-1_001_000_000_002));
const W: CacheScope = CacheScope::Wide;

/// Caches `key` of `scope` and waits until the replica serves it.
async fn cache_one(cache: &RedisCache, key: &str, scope: CacheScope) {
    let miss = cache.get_in(key, scope).await.expect("get");
    cache
        .put_in(key, scope, miss.generation, key.as_bytes(), TTL)
        .await
        .expect("put");
    let hit = poll(FRESHNESS, || async {
        cache.get_in(key, scope).await.expect("get").value
    })
    .await;
    assert_eq!(hit.as_deref(), Some(key.as_bytes()), "{key} cached");
}

async fn cached(cache: &RedisCache, key: &str, scope: CacheScope) -> bool {
    cache.get_in(key, scope).await.expect("get").value.is_some()
}

#[tokio::test]
async fn a_change_of_channel_a_leaves_channel_b_cached_and_reaches_a_and_the_wide_answers() {
    let Some(config) = stack_config("a_change_of_channel_a_leaves_channel_b_cached", true) else {
        return;
    };
    let _lock = fault_lock(false);
    let redis = connect_stack(config).await;
    let cache = redis.cache();
    for (key, scope) in [("a", A), ("b", B), ("w", W)] {
        cache_one(&cache, key, scope).await;
    }
    let CacheScope::Channel(a) = A else {
        unreachable!()
    };
    cache
        .invalidate(&Invalidation::Channels(vec![a]))
        .await
        .expect("invalidate");
    let gone = poll(FRESHNESS, || async {
        (!cached(&cache, "a", A).await && !cached(&cache, "w", W).await).then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "channel A's and the wide answers invalidated"
    );
    assert!(
        cached(&cache, "b", B).await,
        "channel B's answer still cached"
    );
    // The answer just invalidated is known as superseded, since its bump: the domain serves it
    // while it reloads, for a bounded time.
    let lookup = cache.get("w", W).await.expect("get");
    let superseded = lookup.superseded.expect("the wide answer is superseded");
    assert_eq!(superseded.value.bytes, b"w");
    let age = chrono::Utc::now() - superseded.since;
    assert!(
        age >= chrono::Duration::zero() && age < chrono::Duration::seconds(1),
        "superseded {age:?} ago"
    );
    redis.shutdown().await;
}

#[tokio::test]
async fn wide_answers_are_invalidated_at_once_then_at_most_once_per_window() {
    let Some(mut config) = stack_config("wide_answers_are_invalidated_at_once", true) else {
        return;
    };
    let _lock = fault_lock(false);
    config.invalidation_window = Duration::from_millis(300);
    let redis = connect_stack(config).await;
    let cache = redis.cache();
    let commit = Invalidation::Channels(vec![ChannelId(-1_001_000_000_003)]);

    // A quiet cache: the first commit reaches the wide answers at once.
    cache_one(&cache, "w1", W).await;
    cache.invalidate(&commit).await.expect("invalidate");
    let first = poll(FRESHNESS, || async {
        (!cached(&cache, "w1", W).await).then_some(())
    })
    .await;
    assert!(first.is_some(), "the first commit invalidates at once");

    // A commit right after: deferred to the end of the window, never later.
    cache_one(&cache, "w2", W).await;
    let committed = Instant::now();
    cache.invalidate(&commit).await.expect("invalidate");
    let seen = poll(FRESHNESS, || async {
        (!cached(&cache, "w2", W).await).then(Instant::now)
    })
    .await
    .expect("the deferred invalidation arrives within the freshness bound");
    assert!(
        seen.duration_since(committed) <= Duration::from_millis(300) + Duration::from_millis(200),
        "after {:?}",
        seen.duration_since(committed)
    );

    // Thirty commits in a second bump the wide generation a handful of times, not thirty
    // (sampled after each commit: bumps are at least 300 ms apart, none goes unseen).
    let mut seen = std::collections::BTreeSet::new();
    seen.insert(cache.get_in("x", W).await.expect("get").generation);
    for _ in 0..30 {
        cache.invalidate(&commit).await.expect("invalidate");
        seen.insert(cache.get_in("x", W).await.expect("get").generation);
        tokio::time::sleep(Duration::from_millis(33)).await;
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    seen.insert(cache.get_in("x", W).await.expect("get").generation);
    let bumps = seen.len() - 1;
    assert!(
        (2..=6).contains(&bumps),
        "{bumps} wide bumps for 30 commits over ~1 s with a 300 ms window"
    );
    redis.shutdown().await;
}

#[tokio::test]
async fn two_api_processes_share_hits_and_both_see_an_ingest_invalidation() {
    let Some(config) = stack_config("two_api_processes_share_hits", true) else {
        return;
    };
    let _lock = fault_lock(false);
    let api1 = connect_stack(config.clone()).await;
    let api2 = connect_stack(config.clone()).await;
    let ingest = connect_stack(config).await;
    let (one, two) = (api1.cache(), api2.cache());

    cache_one(&one, "page", A).await;
    let hit = poll(FRESHNESS, || async {
        two.get_in("page", A).await.expect("get").value
    })
    .await;
    assert_eq!(hit.as_deref(), Some(&b"page"[..]), "the other api hits");

    let CacheScope::Channel(a) = A else {
        unreachable!()
    };
    ingest
        .cache()
        .invalidate(&Invalidation::Channels(vec![a]))
        .await
        .expect("invalidate");
    for cache in [&one, &two] {
        let gone = poll(FRESHNESS, || async {
            (!cached(cache, "page", A).await).then_some(())
        })
        .await;
        assert!(gone.is_some(), "every api sees the ingest's invalidation");
    }
    for redis in [api1, api2, ingest] {
        redis.shutdown().await;
    }
}
