//! Per-client rate limiting. A client is its API key (when a valid one is presented) or its
//! address ([`client`]: forwarding headers count only from trusted proxies). Each replica keeps
//! a `governor` GCRA limit per client (`per_second` sustained, `burst` at once); with Redis the
//! replicas also share a per-client window ([`shared`]), so three replicas allow one limit, not
//! three. Nothing is exempt by default; the probe routes (`/health*`, `/metrics`) have a limit
//! of their own. A refused request gets a 429 problem with `Retry-After`.

pub mod client;
pub mod shared;

use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use service_kit::Problem;
use service_kit::security::API_KEY_HEADER;

pub use self::client::{Client, TrustedProxies};
pub use self::shared::{SharedWindows, WindowCounter};
use crate::state::ApiState;

/// Checks between two sweeps of idle local limits.
const SWEEP_EVERY: u64 = 8_192;

/// Limits.
#[derive(Debug, Clone)]
pub struct RateLimitSettings {
    /// Requests per second per client; 0 disables limiting.
    pub per_second: u32,
    /// Requests a client may send at once.
    pub burst: u32,
    /// Client addresses never limited (none by default).
    pub exempt: Vec<IpAddr>,
    /// Proxies whose `Forwarded` / `X-Forwarded-For` name the client.
    pub trusted_proxies: TrustedProxies,
    /// Probe requests (`/health*`, `/metrics`) per second per client; 0 = not limited.
    pub probe_per_second: u32,
    /// The window the replicas share: a client may send `per_second × window` (at least
    /// `burst`) requests in one, all replicas together.
    pub window: Duration,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            per_second: 50,
            burst: 200,
            exempt: Vec::new(),
            trusted_proxies: TrustedProxies::default(),
            probe_per_second: 20,
            window: Duration::from_secs(10),
        }
    }
}

impl RateLimitSettings {
    /// What a client may send in one shared window.
    pub fn allowance(&self) -> u64 {
        (u64::from(self.per_second) * self.window.as_secs().max(1)).max(u64::from(self.burst))
    }
}

/// The limits of every client (app data of [`limit`]).
#[derive(Debug)]
pub struct RateLimiter {
    settings: RateLimitSettings,
    requests: Option<DefaultKeyedRateLimiter<Client>>,
    probes: Option<DefaultKeyedRateLimiter<Client>>,
    shared: Option<SharedWindows>,
    checks: AtomicU64,
}

impl RateLimiter {
    /// A limiter with `settings`, local to this process.
    pub fn new(settings: RateLimitSettings) -> Self {
        let keyed = |per_second: u32, burst: u32| {
            let rate = NonZeroU32::new(per_second)?;
            let burst = NonZeroU32::new(burst.max(1)).unwrap_or(rate);
            Some(DefaultKeyedRateLimiter::keyed(
                Quota::per_second(rate).allow_burst(burst),
            ))
        };
        Self {
            requests: keyed(settings.per_second, settings.burst),
            probes: keyed(settings.probe_per_second, settings.probe_per_second * 3),
            settings,
            shared: None,
            checks: AtomicU64::new(0),
        }
    }

    /// Shares the limit with the other replicas through `counter`.
    pub fn with_shared(mut self, counter: Box<dyn WindowCounter>) -> Self {
        if self.requests.is_some() {
            self.shared = Some(SharedWindows::new(
                counter,
                self.settings.window,
                self.settings.allowance(),
            ));
        }
        self
    }

    /// Whether request limiting is on.
    pub fn enabled(&self) -> bool {
        self.requests.is_some()
    }

    /// The settings.
    pub fn settings(&self) -> &RateLimitSettings {
        &self.settings
    }

    /// Counts one request of `client`; `Err(seconds to wait)` when it is over a limit.
    pub async fn check(&self, client: Client, probe: bool) -> Result<(), u64> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            for limiter in self.requests.iter().chain(&self.probes) {
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
        }
        let limiter = if probe { &self.probes } else { &self.requests };
        let Some(limiter) = limiter else {
            return Ok(());
        };
        if let Err(not_until) = limiter.check_key(&client) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            return Err(wait.as_secs_f64().ceil().max(1.0) as u64);
        }
        match &self.shared {
            Some(shared) if !probe => shared.admit(client).await,
            _ => Ok(()),
        }
    }

    /// Who sent `req`.
    fn client_of(&self, req: &ServiceRequest) -> (Client, IpAddr) {
        let peer = req
            .peer_addr()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
        let ip = self.settings.trusted_proxies.client_ip(peer, req.headers());
        let valid_key = req
            .headers()
            .get(API_KEY_HEADER)
            .map(|v| v.as_bytes())
            .filter(|k| {
                req.app_data::<web::Data<ApiState>>()
                    .is_some_and(|s| s.admin.keys.matches_any(k))
            });
        (valid_key.map_or(Client::Ip(ip), Client::key), ip)
    }
}

/// Middleware: refuses a client over its limit with 429 and `Retry-After`.
pub async fn limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let verdict = match req.app_data::<web::Data<RateLimiter>>() {
        Some(limiter) if limiter.enabled() => {
            let (client, ip) = limiter.client_of(&req);
            if limiter.settings.exempt.contains(&ip) {
                Ok(())
            } else {
                limiter.check(client, is_probe(req.path())).await
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
#[path = "tests.rs"]
mod tests;
