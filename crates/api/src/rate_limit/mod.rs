//! Per-client rate limiting: a token bucket per API key (when a valid one is presented) or per
//! client IP, in process. Exempt IPs (loopback by default: local tools, probes and the load
//! benchmark) and the probe routes (`/health*`, `/metrics`) are never limited. A refused request
//! gets a 429 problem with `Retry-After`.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use service_kit::Problem;
use service_kit::security::API_KEY_HEADER;

use crate::state::ApiState;

const SHARDS: usize = 16;
/// Buckets kept per shard before idle ones are dropped.
const SHARD_SOFT_CAP: usize = 4096;

/// Limits: `per_second` sustained, `burst` at once.
#[derive(Debug, Clone)]
pub struct RateLimitSettings {
    /// Tokens added per second; 0 disables limiting.
    pub per_second: u32,
    /// Bucket size.
    pub burst: u32,
    /// Client IPs never limited.
    pub exempt: Vec<IpAddr>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// The buckets of every client (app data of [`limit`]).
#[derive(Debug)]
pub struct RateLimiter {
    settings: RateLimitSettings,
    hasher: RandomState,
    shards: Vec<Mutex<HashMap<u64, Bucket>>>,
}

impl RateLimiter {
    /// A limiter with `settings`.
    pub fn new(settings: RateLimitSettings) -> Self {
        Self {
            settings,
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// Whether limiting is on.
    pub fn enabled(&self) -> bool {
        self.settings.per_second > 0
    }

    /// Whether `ip` is exempt.
    pub fn exempt(&self, ip: IpAddr) -> bool {
        self.settings.exempt.contains(&ip)
    }

    /// Takes a token for `client`; `Err(seconds to wait)` when none is left.
    pub fn acquire(&self, client: impl Hash, now: Instant) -> Result<(), u64> {
        let rate = f64::from(self.settings.per_second);
        let burst = f64::from(self.settings.burst.max(1));
        let key = self.hasher.hash_one(client);
        let shard = &self.shards[(key as usize) % SHARDS];
        let mut buckets = shard.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= SHARD_SOFT_CAP {
            // A bucket that has refilled completely carries no information: drop it.
            let full_after = Duration::from_secs_f64(burst / rate);
            buckets.retain(|_, b| now.duration_since(b.last) < full_after);
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: burst,
            last: now,
        });
        let elapsed = now.duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - bucket.tokens) / rate).ceil().max(1.0);
            Err(wait as u64)
        }
    }
}

/// Who is asking: the presented key when it is valid, else the client IP.
#[derive(Hash)]
enum Client<'a> {
    Key(&'a [u8]),
    Ip(IpAddr),
}

/// Middleware: refuses a client over its limit with 429 and `Retry-After`.
pub async fn limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let verdict = match req.app_data::<web::Data<RateLimiter>>() {
        Some(limiter) if limiter.enabled() && !is_probe(req.path()) => {
            let ip = req
                .peer_addr()
                .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
            if limiter.exempt(ip) {
                Ok(())
            } else {
                let presented = req.headers().get(API_KEY_HEADER).map(|v| v.as_bytes());
                let valid_key = presented.filter(|k| {
                    req.app_data::<web::Data<ApiState>>()
                        .is_some_and(|s| s.admin.keys.matches_any(k))
                });
                let client = valid_key.map_or(Client::Ip(ip), Client::Key);
                limiter.acquire(client, Instant::now())
            }
        }
        _ => Ok(()),
    };
    match verdict {
        Ok(()) => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body),
        Err(wait) => {
            metrics::counter!("tpcapital_api_rate_limited_total").increment(1);
            let response = Problem::too_many_requests(wait)
                .with_instance(req.path())
                .to_response();
            Ok(req.into_response(response))
        }
    }
}

fn is_probe(path: &str) -> bool {
    path == "/metrics" || path == "/health" || path.starts_with("/health/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_second: u32, burst: u32) -> RateLimiter {
        RateLimiter::new(RateLimitSettings {
            per_second,
            burst,
            exempt: vec![],
        })
    }

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let l = limiter(2, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.acquire("a", t0), Ok(()));
        }
        assert_eq!(l.acquire("a", t0), Err(1));
        assert_eq!(l.acquire("b", t0), Ok(()), "clients are independent");
        assert_eq!(l.acquire("a", t0 + Duration::from_millis(500)), Ok(()));
        assert!(l.acquire("a", t0 + Duration::from_millis(500)).is_err());
    }

    #[test]
    fn idle_buckets_are_dropped_when_a_shard_fills() {
        let l = limiter(1000, 1);
        let t0 = Instant::now();
        for i in 0..(SHARD_SOFT_CAP * SHARDS * 2) {
            let _ = l.acquire(i, t0);
        }
        let later = t0 + Duration::from_secs(1);
        for i in 0..1024 {
            let _ = l.acquire(("later", i), later);
        }
        let total: usize = l
            .shards
            .iter()
            .map(|s| s.lock().map(|m| m.len()).unwrap_or(0))
            .sum();
        assert!(total <= 1024, "idle buckets were kept: {total}");
    }
}
