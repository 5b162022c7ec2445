//! The cache and events adapters against the real Redis master and replica of the stack.

mod common;

use std::time::{Duration, Instant};

use adapters_redis::{RedisConfig, connect};
use common::{WideCache, connect_stack, event, fault_lock, poll, stack_config};
use domain::ports::{CacheError, SignalCache, SignalEvents};
use futures_util::StreamExt;

const TTL: Duration = Duration::from_secs(30);
/// The freshness bound of SPEC §4: a master write is visible to replica reads within 1 s.
const REPLICATION_BOUND: Duration = Duration::from_secs(1);

#[tokio::test]
async fn a_miss_then_a_hit_after_put() {
    let Some(config) = stack_config("a_miss_then_a_hit_after_put", true) else {
        return;
    };
    let _lock = fault_lock(false);
    let redis = connect_stack(config).await;
    let cache = redis.cache();

    let miss = cache.get_wide("signals?limit=50").await.expect("get");
    assert_eq!(miss.value, None);

    cache
        .put_wide("signals?limit=50", miss.generation, b"[1,2,3]", TTL)
        .await
        .expect("put");
    let hit = poll(REPLICATION_BOUND, || async {
        let lookup = cache.get_wide("signals?limit=50").await.expect("get");
        lookup.value.is_some().then_some(lookup)
    })
    .await
    .expect("the value put on the master is read back within 1 s");
    assert_eq!(hit.value.as_deref(), Some(&b"[1,2,3]"[..]));
    assert_eq!(hit.generation, miss.generation);
    assert_eq!(
        cache.get_wide("signals?limit=10").await.expect("get").value,
        None,
        "another key is still a miss"
    );
    redis.shutdown().await;
}

#[tokio::test]
async fn binary_values_round_trip_and_expire() {
    let Some(config) = stack_config("binary_values_round_trip_and_expire", true) else {
        return;
    };
    let _lock = fault_lock(false);
    let redis = connect_stack(config).await;
    let cache = redis.cache();
    let bytes: Vec<u8> = (0..=255).chain([0, 0, 0xff]).collect();

    let generation = cache.get_wide("bin").await.expect("get").generation;
    cache
        .put_wide("bin", generation, &bytes, Duration::from_millis(400))
        .await
        .expect("put");
    let hit = poll(REPLICATION_BOUND, || async {
        cache.get_wide("bin").await.expect("get").value
    })
    .await
    .expect("hit");
    assert_eq!(
        hit, bytes,
        "bytes come back exactly, NUL and non-UTF-8 included"
    );

    let expired = poll(Duration::from_secs(3), || async {
        cache
            .get_wide("bin")
            .await
            .expect("get")
            .value
            .is_none()
            .then_some(())
    })
    .await;
    assert!(expired.is_some(), "the value expires after its ttl");
    redis.shutdown().await;
}

#[tokio::test]
async fn invalidate_all_makes_every_key_a_miss() {
    let Some(config) = stack_config("invalidate_all_makes_every_key_a_miss", true) else {
        return;
    };
    let _lock = fault_lock(false);
    let redis = connect_stack(config).await;
    let cache = redis.cache();

    let generation = cache.get_wide("a").await.expect("get").generation;
    for key in ["a", "b", "c"] {
        cache
            .put_wide(key, generation, key.as_bytes(), TTL)
            .await
            .expect("put");
    }
    for key in ["a", "b", "c"] {
        let hit = poll(REPLICATION_BOUND, || async {
            cache.get_wide(key).await.expect("get").value
        })
        .await;
        assert_eq!(hit.as_deref(), Some(key.as_bytes()));
    }

    cache.invalidate_all().await.expect("invalidate");
    for key in ["a", "b", "c"] {
        let after = poll(REPLICATION_BOUND, || async {
            let lookup = cache.get_wide(key).await.expect("get");
            (lookup.generation > generation).then_some(lookup)
        })
        .await
        .expect("the replica sees the new generation within 1 s");
        assert_eq!(after.value, None, "{key} is a miss after invalidation");
    }
    redis.shutdown().await;
}

#[tokio::test]
async fn a_value_put_under_an_old_generation_is_never_served() {
    let Some(config) = stack_config("a_value_put_under_an_old_generation_is_never_served", true)
    else {
        return;
    };
    let _lock = fault_lock(false);
    let redis = connect_stack(config).await;
    let cache = redis.cache();

    // A reader looks up, then loads from the database while an ingest invalidates.
    let before = cache.get_wide("q").await.expect("get");
    cache.invalidate_all().await.expect("invalidate");
    // The slow reader writes back what it loaded before the invalidation.
    cache
        .put_wide("q", before.generation, b"stale", TTL)
        .await
        .expect("put");

    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(500) {
        let lookup = cache.get_wide("q").await.expect("get");
        assert_eq!(lookup.value, None, "the stale value is never served");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    // A reader of the new generation caches normally.
    let current = cache.get_wide("q").await.expect("get");
    assert!(current.generation > before.generation);
    cache
        .put_wide("q", current.generation, b"fresh", TTL)
        .await
        .expect("put");
    let hit = poll(REPLICATION_BOUND, || async {
        cache.get_wide("q").await.expect("get").value
    })
    .await;
    assert_eq!(hit.as_deref(), Some(&b"fresh"[..]));
    redis.shutdown().await;
}

#[tokio::test]
async fn reads_come_from_the_linked_replica_and_see_master_writes() {
    let Some(config) = stack_config(
        "reads_come_from_the_linked_replica_and_see_master_writes",
        true,
    ) else {
        return;
    };
    let _lock = fault_lock(false);
    let redis = connect_stack(config).await;
    let status = redis.status();
    assert_eq!(status.replica_in_use, Some(true), "{status:?}");
    assert!(matches!(status.replica_connections, Some((up, size)) if up == size && size > 0));
    let cache = redis.cache();

    // Many writes in a row: each one is readable from the replica within the bound.
    for round in 0..20_u8 {
        let key = format!("k{round}");
        let generation = cache.get_wide(&key).await.expect("get").generation;
        let written = Instant::now();
        cache
            .put_wide(&key, generation, &[round], TTL)
            .await
            .expect("put");
        let seen = poll(REPLICATION_BOUND, || async {
            cache.get_wide(&key).await.expect("get").value
        })
        .await;
        assert_eq!(seen, Some(vec![round]), "round {round}");
        assert!(written.elapsed() < REPLICATION_BOUND);
    }
    assert_eq!(
        redis.status().replica_in_use,
        Some(true),
        "reads stayed on the replica"
    );
    redis.shutdown().await;
}

#[tokio::test]
async fn without_a_replica_reads_go_to_the_master() {
    let Some(config) = stack_config("without_a_replica_reads_go_to_the_master", false) else {
        return;
    };
    let _lock = fault_lock(false);
    let redis = connect_stack(config).await;
    assert_eq!(redis.status().replica_in_use, None);
    let cache = redis.cache();
    let generation = cache.get_wide("m").await.expect("get").generation;
    cache
        .put_wide("m", generation, b"v", TTL)
        .await
        .expect("put");
    assert_eq!(
        cache.get_wide("m").await.expect("get").value.as_deref(),
        Some(&b"v"[..]),
        "read-your-writes on the master, no polling needed"
    );
    redis.shutdown().await;
}

#[tokio::test]
async fn namespaces_do_not_see_each_other() {
    let Some(first) = stack_config("namespaces_do_not_see_each_other", false) else {
        return;
    };
    let Some(second) = stack_config("namespaces_do_not_see_each_other", false) else {
        return;
    };
    let _lock = fault_lock(false);
    let (one, two) = (connect_stack(first).await, connect_stack(second).await);
    let generation = one.cache().get_wide("x").await.expect("get").generation;
    one.cache()
        .put_wide("x", generation, b"1", TTL)
        .await
        .expect("put");
    let two_before = two.cache().get_wide("x").await.expect("get");
    assert_eq!(two_before.value, None);
    one.cache().invalidate_all().await.expect("invalidate");
    assert_eq!(
        two.cache().get_wide("x").await.expect("get").generation,
        two_before.generation,
        "an invalidation in one namespace leaves the other alone"
    );
    one.shutdown().await;
    two.shutdown().await;
}

#[tokio::test]
async fn pubsub_delivers_published_events_to_every_subscriber() {
    let Some(config) = stack_config("pubsub_delivers_published_events_to_every_subscriber", true)
    else {
        return;
    };
    let _lock = fault_lock(false);
    let api = connect_stack(config.clone()).await;
    let ingest = connect_stack(config).await;

    let mut first = api.events().subscribe().await.expect("subscribe");
    let mut second = api.events().subscribe().await.expect("subscribe");
    assert_eq!(api.status().subscriber_connected, Some(true));

    let publisher = ingest.events();
    for id in 1..=3 {
        publisher.publish(&event(id)).await.expect("publish");
    }
    for stream in [&mut first, &mut second] {
        for id in 1..=3 {
            let received = tokio::time::timeout(Duration::from_secs(2), stream.next())
                .await
                .expect("event within 2 s")
                .expect("stream open");
            assert_eq!(
                received,
                event(id),
                "in order, intact (traceparent included)"
            );
        }
    }

    // A stream dropped by its reader does not disturb the others.
    drop(first);
    publisher.publish(&event(4)).await.expect("publish");
    let received = tokio::time::timeout(Duration::from_secs(2), second.next())
        .await
        .expect("event within 2 s");
    assert_eq!(received, Some(event(4)));

    // A whole batch goes out in one round trip, still in order.
    let batch: Vec<_> = (5..=104).map(event).collect();
    assert_eq!(publisher.publish_all(&batch).await, 0, "nothing failed");
    for expected in &batch {
        let received = tokio::time::timeout(Duration::from_secs(2), second.next())
            .await
            .expect("event within 2 s");
        assert_eq!(received.as_ref(), Some(expected), "batch events in order");
    }

    // Shutting down ends the streams.
    api.shutdown().await;
    let end = tokio::time::timeout(Duration::from_secs(2), second.next())
        .await
        .expect("stream ends after shutdown");
    assert_eq!(end, None);
    ingest.shutdown().await;
}

#[tokio::test]
async fn ping_and_status_report_a_healthy_stack() {
    let Some(config) = stack_config("ping_and_status_report_a_healthy_stack", true) else {
        return;
    };
    let _lock = fault_lock(false);
    let redis = connect_stack(config).await;
    redis.ping().await.expect("ping");
    redis.cache().ping().await.expect("cache ping");
    let status = redis.status();
    assert!(status.master_connected && status.generation_confirmed);
    assert_eq!(
        status.subscriber_connected, None,
        "no subscription before subscribe"
    );
    redis.shutdown().await;
}

/// Needs no server: nothing listens on port 1.
#[tokio::test]
async fn a_dead_redis_at_startup_does_not_fail_startup_and_calls_fail_fast() {
    let mut config = RedisConfig::new("redis://127.0.0.1:1")
        .with_replica("redis://127.0.0.1:1")
        .with_namespace(common::namespace());
    config.connect_timeout = Duration::from_millis(300);
    let started = Instant::now();
    let redis = connect(config)
        .await
        .expect("startup never fails on a dead redis");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "connect waited {:?}",
        started.elapsed()
    );
    let status = redis.status();
    assert!(
        !status.master_connected && !status.generation_confirmed,
        "{status:?}"
    );

    let cache = redis.cache();
    let events = redis.events();
    for _ in 0..5 {
        let started = Instant::now();
        assert!(matches!(
            cache.get_wide("k").await,
            Err(CacheError::Unavailable(_))
        ));
        assert!(matches!(
            cache.put_wide("k", Default::default(), b"v", TTL).await,
            Err(CacheError::Unavailable(_))
        ));
        assert!(matches!(
            cache.invalidate_all().await,
            Err(CacheError::Unavailable(_))
        ));
        assert!(matches!(
            events.publish(&event(1)).await,
            Err(CacheError::Unavailable(_))
        ));
        assert_eq!(events.publish_all(&[event(1), event(2)]).await, 2);
        assert!(matches!(
            cache.ping().await,
            Err(CacheError::Unavailable(_))
        ));
        let elapsed = started.elapsed();
        assert!(
            elapsed < Duration::from_millis(50),
            "six calls took {elapsed:?}: they must fail fast, not wait for a timeout"
        );
    }
    // Subscribing still hands out a stream that will deliver once Redis is back.
    let started = Instant::now();
    let _stream = events.subscribe().await.expect("subscribe on a dead redis");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(redis.status().subscriber_connected, Some(false));
    redis.shutdown().await;
}

#[tokio::test]
async fn a_bad_configuration_is_refused() {
    let error = connect(RedisConfig::new("postgres://127.0.0.1:5432"))
        .await
        .expect_err("not a redis url");
    assert!(error.to_string().contains("master"), "{error}");
    let error =
        connect(RedisConfig::new("redis://127.0.0.1:6381").with_replica("redis://:secret@[::1"))
            .await
            .expect_err("unparsable replica url");
    assert!(!error.to_string().contains("secret"), "{error}");
}
