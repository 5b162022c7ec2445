//! The coalescer's behaviour: shared loads, background reloads and their bound, packed forms,
//! stale-if-error.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use domain::memory::{FixedClock, MemoryCache};
use domain::services::Lookup;

use super::*;

const W: CacheScope = CacheScope::Wide;
const ID: Encoding = Encoding::Identity;

fn reads() -> (Arc<FixedClock>, CachedReads) {
    let clock = Arc::new(FixedClock::new(
        chrono::DateTime::from_timestamp(1_760_965_500, 0).expect("time"),
    ));
    let reads = CachedReads::new(
        Arc::new(MemoryCache::new()),
        clock.clone(),
        Duration::from_secs(30),
    );
    (clock, reads)
}

/// Reads `key` until its answer `body` is cached: from its second miss (`Admission`).
async fn fill(coalescer: &Coalescer, reads: &CachedReads, key: &str, body: &'static [u8]) {
    for _ in 0..2 {
        let served = coalescer
            .read(reads, key, W, ID, move || async move { Ok(body.to_vec()) })
            .await
            .expect("miss");
        assert_eq!((&served.body[..], served.result), (body, CacheResult::Miss));
    }
    assert_eq!(reads.lookup(key, W).await, Lookup::Fresh(body.to_vec()));
}

#[actix_web::test]
async fn an_entry_due_for_refresh_is_served_at_once_and_reloaded_once_in_the_background() {
    let (clock, reads) = reads();
    let coalescer = Arc::new(Coalescer::default());
    fill(&coalescer, &reads, "k", b"v1").await;
    clock.advance(chrono::Duration::seconds(20));
    let loads = Arc::new(AtomicUsize::new(0));
    let (gate, opened) = tokio::sync::oneshot::channel::<()>();
    let opened = Arc::new(tokio::sync::Mutex::new(Some(opened)));
    for _ in 0..3 {
        let (loads, opened) = (loads.clone(), opened.clone());
        let Served { body, result, .. } = coalescer
            .read(&reads, "k", W, ID, move || async move {
                loads.fetch_add(1, Ordering::SeqCst);
                if let Some(opened) = opened.lock().await.take() {
                    opened.await.ok();
                }
                Ok(b"v2".to_vec())
            })
            .await
            .expect("stale read");
        assert_eq!(
            (&body[..], result),
            (&b"v1"[..], CacheResult::Hit),
            "served from the cache while the reload waits"
        );
    }
    gate.send(()).expect("open the gate");
    for _ in 0..100 {
        if matches!(reads.lookup("k", W).await, Lookup::Fresh(_)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(reads.lookup("k", W).await, Lookup::Fresh(b"v2".to_vec()));
    assert_eq!(loads.load(Ordering::SeqCst), 1, "one background reload");
}

#[actix_web::test]
async fn background_reloads_are_bounded_and_a_skipped_entry_reloads_on_a_later_read() {
    let (clock, reads) = reads();
    let coalescer = Coalescer::default();
    let keys: Vec<String> = (0..BACKGROUND_RELOADS * 3)
        .map(|i| format!("k{i}"))
        .collect();
    for k in &keys {
        fill(&coalescer, &reads, k, b"v1").await;
    }
    clock.advance(chrono::Duration::seconds(20));
    let started = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(0));
    for k in &keys {
        let (started, gate) = (started.clone(), gate.clone());
        let served = coalescer
            .read(&reads, k, W, ID, move || async move {
                started.fetch_add(1, Ordering::SeqCst);
                let _open = gate.acquire().await;
                Ok(b"v2".to_vec())
            })
            .await
            .expect("stale read");
        assert_eq!(
            (&served.body[..], served.result),
            (&b"v1"[..], CacheResult::Hit)
        );
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        started.load(Ordering::SeqCst),
        BACKGROUND_RELOADS,
        "one reload per slot, the other stale entries served without one"
    );
    gate.add_permits(keys.len());
    let last = keys.last().expect("keys");
    for _ in 0..100 {
        coalescer
            .read(&reads, last, W, ID, || async { Ok(b"v3".to_vec()) })
            .await
            .expect("read");
        if reads.lookup(last, W).await == Lookup::Fresh(b"v3".to_vec()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        reads.lookup(last, W).await,
        Lookup::Fresh(b"v3".to_vec()),
        "a skipped entry is reloaded by a later read once a slot is free"
    );
    assert_eq!(
        reads.lookup(&keys[0], W).await,
        Lookup::Fresh(b"v2".to_vec())
    );
}

#[actix_web::test]
async fn a_miss_packs_only_the_form_asked_for_and_a_read_in_another_form_repacks_every_form() {
    let (_, reads) = reads();
    let coalescer = Coalescer::default();
    let page = || async { Ok(br#"{"asset":"PETR4","price":38.5}"#.repeat(64)) };
    let mut first = None;
    for _ in 0..2 {
        let miss = coalescer.read(&reads, "k", W, ID, page).await;
        first = Some(miss.expect("miss"));
    }
    let first = first.expect("read");
    assert_eq!(
        first.result,
        CacheResult::Miss,
        "cached from the second miss"
    );
    let stored = |l| match l {
        Lookup::Fresh(bytes) => bytes,
        other => panic!("expected a fresh entry, got {other:?}"),
    };
    let plain = stored(reads.lookup("k", W).await);
    assert!(
        !compress::holds_form(&plain, Encoding::Gzip),
        "identity: nothing compressed"
    );
    let gzip = coalescer
        .read(&reads, "k", W, Encoding::Gzip, page)
        .await
        .expect("hit");
    assert_eq!((gzip.result, &gzip.body), (CacheResult::Hit, &first.body));
    for _ in 0..100 {
        if compress::holds_form(&stored(reads.lookup("k", W).await), Encoding::Gzip) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let repacked = stored(reads.lookup("k", W).await);
    assert!(
        compress::ALL_FORMS
            .iter()
            .all(|&e| compress::holds_form(&repacked, e)),
        "reloaded in the background with every form"
    );
    let br = coalescer.read(&reads, "k", W, Encoding::Brotli, page).await;
    assert_eq!(br.expect("hit").result, CacheResult::Hit);
}

#[actix_web::test]
async fn concurrent_misses_load_once() {
    let (_, reads) = reads();
    let coalescer = Arc::new(Coalescer::default());
    let loads = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (reads, coalescer, loads) = (reads.clone(), coalescer.clone(), loads.clone());
            actix_web::rt::spawn(async move {
                coalescer
                    .read(&reads, "k", W, ID, move || async move {
                        loads.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(b"v".to_vec())
                    })
                    .await
            })
        })
        .collect();
    for t in tasks {
        let body = t.await.expect("task").expect("read").body;
        assert_eq!(&body[..], b"v");
    }
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    assert_eq!(coalescer.in_flight(), 0, "landed flights are removed");
    let mut again = Vec::new();
    for _ in 0..2 {
        let read = coalescer.read(&reads, "k", W, ID, || async { Ok(b"w".to_vec()) });
        again.push(read.await.expect("read").result);
    }
    assert_eq!(
        again,
        [CacheResult::Miss, CacheResult::Hit],
        "the shared load was one miss: cached from the next"
    );
}

#[actix_web::test]
async fn while_the_store_is_down_the_last_good_answer_is_served_stale() {
    let (_, reads) = reads();
    let coalescer = Coalescer::default();
    let down = || async { Err::<Vec<u8>, _>(StoreError::Unavailable("down".into()).into()) };
    assert!(
        coalescer.read(&reads, "never", W, ID, down).await.is_err(),
        "nothing to serve"
    );
    coalescer
        .read(&reads, "k", W, ID, || async { Ok(b"v1".to_vec()) })
        .await
        .expect("read");
    // The entry is gone (an invalidation), then the database goes down.
    let cache_gone = CachedReads::new(
        Arc::new(MemoryCache::new()),
        Arc::new(FixedClock::new(chrono::Utc::now())),
        Duration::from_secs(30),
    );
    let served = coalescer
        .read(&cache_gone, "k", W, ID, down)
        .await
        .expect("stale");
    assert_eq!(&served.body[..], b"v1");
    assert!(served.stale_for.is_some());
    let internal = || async { Err::<Vec<u8>, _>(QueryError::Render("bug".into())) };
    assert!(
        coalescer
            .read(&cache_gone, "k", W, ID, internal)
            .await
            .is_err(),
        "only an unavailable store is covered"
    );
}
