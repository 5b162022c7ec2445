//! Redis restarts in the middle of use: calls fail fast (or move to the master) while a server
//! is down, and the same handles — cache and a live event stream — heal by themselves.
//!
//! Stops and starts the stack's servers through `test_support::stack::Stopped`. Named `fault_*`
//! so `tests/run.sh` runs them alone, after the rest of the suite; they also hold this crate's
//! test lock exclusively.

mod common;

use std::time::{Duration, Instant};

use common::{WideCache, connect_stack, event, fault_lock, poll, stack_config};
use domain::ports::{CacheError, SignalCache, SignalEvents};
use futures_util::StreamExt;
use test_support::stack::Stopped;

const TTL: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_master_restart_during_use_heals_without_restarting_the_service() {
    const TEST: &str = "fault_master_restart_during_use_heals_without_restarting_the_service";
    let Some(config) = stack_config(TEST, true) else {
        return;
    };
    if common::env_or_skip("TP_STACK_SCRIPT", TEST).is_none() {
        return;
    }
    let _lock = fault_lock(true);
    let redis = connect_stack(config).await;
    let cache = redis.cache();
    let events = redis.events();
    let mut stream = events.subscribe().await.expect("subscribe");

    // In use: a cached value and a delivered event.
    let before = cache.get_wide("hot").await.expect("get");
    cache
        .put_wide("hot", before.generation, b"cached before the restart", TTL)
        .await
        .expect("put");
    poll(Duration::from_secs(1), || async {
        cache.get_wide("hot").await.expect("get").value
    })
    .await
    .expect("hit before the restart");
    events.publish(&event(1)).await.expect("publish");
    let first = tokio::time::timeout(Duration::from_secs(2), stream.next()).await;
    assert_eq!(first.ok().flatten(), Some(event(1)));

    // Down: every call fails fast with Unavailable.
    let mut master = Stopped::stop("redis-master");
    let noticed = poll(Duration::from_secs(3), || async {
        (!redis.status().master_connected).then_some(())
    })
    .await;
    assert!(noticed.is_some(), "the client notices the master is gone");
    for _ in 0..10 {
        let started = Instant::now();
        assert!(matches!(
            cache.get_wide("hot").await,
            Err(CacheError::Unavailable(_))
        ));
        assert!(matches!(
            cache.put_wide("hot", before.generation, b"x", TTL).await,
            Err(CacheError::Unavailable(_))
        ));
        assert!(matches!(
            cache.invalidate_all().await,
            Err(CacheError::Unavailable(_))
        ));
        assert!(matches!(
            events.publish(&event(2)).await,
            Err(CacheError::Unavailable(_))
        ));
        assert!(matches!(
            redis.ping().await,
            Err(CacheError::Unavailable(_))
        ));
        let elapsed = started.elapsed();
        assert!(
            elapsed < Duration::from_millis(100),
            "five calls took {elapsed:?} with the master down: they must fail fast"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Back: the same handles work again within a few seconds.
    master.restart();
    let restarted = Instant::now();
    let healed = poll(Duration::from_secs(10), || async {
        cache.get_wide("hot").await.ok()
    })
    .await
    .expect("cache reads heal within 10 s of the restart");
    let heal_time = restarted.elapsed();
    eprintln!("cache healed {heal_time:?} after the master restart");
    assert!(
        heal_time < Duration::from_secs(5),
        "healed only after {heal_time:?}"
    );
    // An invalidation may have been lost while the master was down: the generation was bumped
    // on reconnection, so what was cached before is not served (even if the RDB kept it).
    assert!(healed.generation > before.generation);
    assert_eq!(healed.value, None);
    redis.ping().await.expect("ping after the restart");
    cache
        .put_wide("hot", healed.generation, b"after", TTL)
        .await
        .expect("put after the restart");
    cache
        .invalidate_all()
        .await
        .expect("invalidate after the restart");

    // The event stream delivers again without re-subscribing (events published while the
    // subscription was down are lost by contract, so publish until one arrives).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut delivered = None;
    for id in 101.. {
        if Instant::now() >= deadline {
            break;
        }
        if events.publish(&event(id)).await.is_err() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        if let Ok(Some(received)) =
            tokio::time::timeout(Duration::from_millis(200), stream.next()).await
        {
            delivered = Some(received);
            break;
        }
    }
    let delivered = delivered.expect("the old stream receives events again after the restart");
    assert!(delivered.signal_id.0 > 100, "{delivered:?}");
    assert_eq!(redis.status().subscriber_connected, Some(true));

    // Leave the stack as we found it: master up and the replica linked again.
    drop(master);
    let relinked = poll(Duration::from_secs(30), || async {
        (redis.status().replica_in_use == Some(true)).then_some(())
    })
    .await;
    assert!(
        relinked.is_some(),
        "the replica relinks: {:?}",
        redis.status()
    );
    redis.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_replica_outage_moves_reads_to_the_master_without_a_single_failure() {
    const TEST: &str = "fault_replica_outage_moves_reads_to_the_master_without_a_single_failure";
    let Some(config) = stack_config(TEST, true) else {
        return;
    };
    if common::env_or_skip("TP_STACK_SCRIPT", TEST).is_none() {
        return;
    }
    let _lock = fault_lock(true);
    let redis = connect_stack(config).await;
    let cache = redis.cache();
    assert_eq!(redis.status().replica_in_use, Some(true));
    // The replica may still be resyncing after an earlier test restarted the master (which
    // keeps no snapshot, so the replica reloads everything): until it has, the generation it
    // answers is the old one, and a value put under it is never served. So read the generation
    // and put again until the value is served.
    poll(Duration::from_secs(10), || async {
        let generation = cache.get_wide("k").await.expect("get").generation;
        cache
            .put_wide("k", generation, b"v", TTL)
            .await
            .expect("put");
        tokio::time::sleep(Duration::from_millis(50)).await;
        cache.get_wide("k").await.expect("get").value
    })
    .await
    .expect("hit");

    let mut replica = Stopped::stop("redis-replica");
    // From the first read after the stop, every read is answered (by the master).
    let started = Instant::now();
    let mut reads = 0;
    while started.elapsed() < Duration::from_secs(2) {
        let lookup = cache
            .get_wide("k")
            .await
            .expect("reads never fail during a replica outage");
        assert_eq!(lookup.value.as_deref(), Some(&b"v"[..]));
        reads += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(reads > 50, "{reads} reads");
    assert_eq!(
        redis.status().replica_in_use,
        Some(false),
        "reads moved to the master"
    );
    let generation = cache.get_wide("k2").await.expect("get").generation;
    cache
        .put_wide("k2", generation, b"w", TTL)
        .await
        .expect("put");
    assert_eq!(
        cache.get_wide("k2").await.expect("get").value.as_deref(),
        Some(&b"w"[..]),
        "read-your-writes while the master serves reads"
    );

    replica.restart();
    let restarted = Instant::now();
    let back = poll(Duration::from_secs(30), || async {
        (redis.status().replica_in_use == Some(true)).then_some(())
    })
    .await;
    assert!(
        back.is_some(),
        "reads return to the relinked replica: {:?}",
        redis.status()
    );
    eprintln!(
        "reads back on the replica {:?} after its restart",
        restarted.elapsed()
    );
    assert_eq!(
        cache.get_wide("k2").await.expect("get").value.as_deref(),
        Some(&b"w"[..]),
        "the resynced replica serves what the master holds"
    );
    redis.shutdown().await;
}
