//! Unit tests of the rate limiter: client identity behind proxies, the local limit, and the
//! window shared by replicas (over an in-memory counter; tests/rate_limit.rs uses Redis).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_static(k),
            HeaderValue::from_str(v).expect("value"),
        );
    }
    h
}

#[test]
fn forwarding_headers_count_only_from_trusted_proxies() {
    let proxies = TrustedProxies::parse("10.0.0.0/8, 127.0.0.1").expect("list");
    let xff = headers(&[("x-forwarded-for", "203.0.113.9, 10.1.2.3")]);
    assert_eq!(
        proxies.client_ip(ip("198.51.100.7"), &xff),
        ip("198.51.100.7"),
        "untrusted peer"
    );
    assert_eq!(
        proxies.client_ip(ip("127.0.0.1"), &xff),
        ip("203.0.113.9"),
        "through two proxies"
    );
    let spoofed = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9")]);
    assert_eq!(
        proxies.client_ip(ip("10.9.9.9"), &spoofed),
        ip("203.0.113.9"),
        "the nearest untrusted hop, not what the client wrote first"
    );
    let forwarded = headers(&[(
        "forwarded",
        "for=192.0.2.60;proto=http, for=\"[2001:db8:cafe::17]:4711\"",
    )]);
    assert_eq!(
        proxies.client_ip(ip("10.0.0.1"), &forwarded),
        ip("2001:db8:cafe::17")
    );
    let hidden = headers(&[("forwarded", "for=_hidden")]);
    assert_eq!(proxies.client_ip(ip("10.0.0.1"), &hidden), ip("10.0.0.1"));
    assert_eq!(
        TrustedProxies::default().client_ip(ip("127.0.0.1"), &xff),
        ip("127.0.0.1"),
        "no trusted proxy: headers ignored"
    );
    assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
    assert!(TrustedProxies::parse("proxy.local").is_err());
    assert!(
        TrustedProxies::parse("::ffff:10.0.0.1")
            .expect("mapped")
            .contains(ip("10.0.0.1"))
    );
}

fn settings(per_second: u32, burst: u32) -> RateLimitSettings {
    RateLimitSettings {
        per_second,
        burst,
        window: Duration::from_secs(3_600),
        ..RateLimitSettings::default()
    }
}

#[actix_web::test]
async fn a_burst_then_429_per_client_and_probes_apart() {
    let l = RateLimiter::new(settings(1, 3));
    let a = Client::Ip(ip("127.0.0.1"));
    for _ in 0..3 {
        assert_eq!(l.check(a, false).await, Ok(()));
    }
    let wait = l
        .check(a, false)
        .await
        .expect_err("over the burst, loopback included");
    assert!((1..=2).contains(&wait), "{wait}");
    assert_eq!(
        l.check(Client::Ip(ip("::1")), false).await,
        Ok(()),
        "clients apart"
    );
    assert_eq!(
        l.check(a, true).await,
        Ok(()),
        "probes have their own limit"
    );
    let key = Client::key(b"secret");
    assert_eq!(key, Client::key(b"secret"));
    assert!(!key.counter_name().contains("secret"));
}

/// Redis stand-in shared by the "replicas" of a test.
#[derive(Default, Clone)]
struct Counter(Arc<Mutex<HashMap<String, u64>>>, bool);

#[async_trait::async_trait]
impl WindowCounter for Counter {
    async fn add(&self, key: &str, by: u64, _ttl: Duration) -> Result<u64, String> {
        if self.1 {
            return Err("connection refused".into());
        }
        let mut map = self.0.lock().expect("lock");
        let total = map.entry(key.to_owned()).or_default();
        *total += by;
        Ok(*total)
    }
}

#[actix_web::test]
async fn replicas_share_one_allowance() {
    let counter = Counter::default();
    // Allowance max(1 × 3600, 4000) = 4000 per window, and each replica alone would admit 4000.
    let replicas: Vec<RateLimiter> = (0..3)
        .map(|_| RateLimiter::new(settings(1, 4_000)).with_shared(Box::new(counter.clone())))
        .collect();
    let c = Client::Ip(ip("192.0.2.1"));
    let mut admitted = 0;
    for r in &replicas {
        for _ in 0..2_000 {
            admitted += usize::from(r.check(c, false).await.is_ok());
        }
    }
    let allowance = replicas[0].settings().allowance() as usize;
    assert!(
        admitted <= allowance + 3 * (allowance / 64),
        "{admitted} admitted, allowance {allowance}"
    );
    assert!(admitted >= allowance - 3 * (allowance / 64), "{admitted}");
}

#[actix_web::test]
async fn without_the_shared_counter_the_local_limit_still_holds() {
    let down = Counter(Arc::default(), true);
    let l = RateLimiter::new(settings(1, 5)).with_shared(Box::new(down));
    let c = Client::Ip(ip("192.0.2.2"));
    let mut admitted = 0;
    for _ in 0..20 {
        admitted += usize::from(l.check(c, false).await.is_ok());
    }
    assert_eq!(admitted, 5);
}
