//! The rate limit shared by replicas through the stack's real Redis master: two limiters (two
//! api replicas) admit one allowance together, not two; with Redis unreachable each falls back
//! to its local limit (429s, never an error).

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use adapters_redis::{RedisConfig, connect};
use api::rate_limit::{Client, RateLimitSettings, RateLimiter};

fn settings() -> RateLimitSettings {
    RateLimitSettings {
        per_second: 1,
        burst: 200,
        window: Duration::from_secs(100),
        ..RateLimitSettings::default()
    }
}

fn window_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        / 100
}

/// A client address no other run uses.
fn unique_client() -> Client {
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        ^ std::process::id();
    Client::Ip(IpAddr::from([10, (n >> 16) as u8, (n >> 8) as u8, n as u8]))
}

async fn admitted(limiter: &RateLimiter, client: Client, requests: usize) -> usize {
    let mut n = 0;
    for _ in 0..requests {
        n += usize::from(limiter.check(client, false).await.is_ok());
    }
    n
}

#[actix_web::test]
async fn replicas_share_one_limit_through_redis() {
    let Some(url) = test_support::stack::env_or_skip(
        "TP_CAPITAL_REDIS_URL",
        "replicas_share_one_limit_through_redis",
    ) else {
        return;
    };
    let namespace = format!("rl-test-{}", std::process::id());
    let redis = connect(RedisConfig::new(&url).with_namespace(&namespace))
        .await
        .expect("redis");
    // A window boundary between the two replicas' requests would reset the count: try again.
    for _attempt in 0..2 {
        let window = window_now();
        let client = unique_client();
        let a = RateLimiter::new(settings()).with_shared(Box::new(redis.counters()));
        let b = RateLimiter::new(settings()).with_shared(Box::new(redis.counters()));
        let total = admitted(&a, client, 200).await + admitted(&b, client, 200).await;
        if window_now() != window {
            continue;
        }
        let allowance = settings().allowance() as usize;
        assert_eq!(allowance, 200);
        // Each replica adds in batches of allowance / 64 = 3: at most that many over.
        assert!(
            (allowance - 6..=allowance + 6).contains(&total),
            "two replicas admitted {total} for an allowance of {allowance}"
        );
        let refused = b
            .check(client, false)
            .await
            .expect_err("over the shared limit");
        assert!((1..=100).contains(&refused), "Retry-After {refused}");
        break;
    }
    redis.shutdown().await;
}

#[actix_web::test]
async fn without_redis_each_replica_keeps_its_local_limit() {
    let redis = connect(RedisConfig::new("redis://127.0.0.1:1").with_namespace("rl-down"))
        .await
        .expect("a handle even without a server");
    let limiter = RateLimiter::new(RateLimitSettings {
        per_second: 1,
        burst: 5,
        ..RateLimitSettings::default()
    })
    .with_shared(Box::new(redis.counters()));
    let client = unique_client();
    assert_eq!(
        admitted(&limiter, client, 20).await,
        5,
        "the local burst, then 429"
    );
    redis.shutdown().await;
}
