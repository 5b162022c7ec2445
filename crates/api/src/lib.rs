//! `tp-capital-api`: the dashboard's REST API over the domain's read ports.
//!
//! [`app`] builds the whole HTTP surface (service-kit's frame, CORS, rate limiting, the route
//! table, Swagger UI) from [`AppParts`]; `main.rs` only loads the configuration, connects the
//! adapters and serves it, and the tests build the same app over the in-memory adapters.

pub mod auth;
pub mod cache;
pub mod channels;
pub mod common;
pub mod config;
pub mod cursor;
pub mod export;
pub mod legacy;
pub mod logs;
pub mod messages;
pub mod meta;
pub mod openapi;
pub mod rate_limit;
pub mod routes;
pub mod signals;
pub mod state;
pub mod stats;
pub mod stream;
pub mod sync;
pub mod wiring;

use std::sync::Arc;

use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName};
use actix_web::middleware::from_fn;
use actix_web::{App, Error, web};
use domain::memory::{MemoryCache, MemoryEvents, MemoryStore};
use domain::ports::SystemClock;
use domain::services::{CachedReads, IngestService, ReparseService};
use service_kit::{Health, HttpSettings, Metrics};
use utoipa_swagger_ui::{Config as SwaggerConfig, SwaggerUi};

use crate::meta::OpenApiJson;
use crate::rate_limit::{RateLimitSettings, RateLimiter};
use crate::state::{AdminKeys, ApiState, Ports};
use crate::stream::LiveFanout;

/// The service name in metrics and traces.
pub const SERVICE: &str = "tp-capital-api";
/// The version reported by `/health`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Everything [`app`] needs; cheap to clone (one per worker).
#[derive(Clone)]
pub struct AppParts {
    /// Limits and timeouts.
    pub http: HttpSettings,
    /// Browser origins allowed to call the api: the configured list and the api's own origin
    /// ([`config::ApiConfig::allowed_origins`]); nothing else, whatever `Host` a request names.
    pub cors_origins: Arc<Vec<String>>,
    /// Handler state.
    pub state: web::Data<ApiState>,
    /// Health checks.
    pub health: web::Data<Health>,
    /// The metrics registry.
    pub metrics: web::Data<Metrics>,
    /// Rate limits.
    pub limiter: web::Data<RateLimiter>,
    /// The OpenAPI document, rendered.
    pub openapi: web::Data<OpenApiJson>,
}

impl std::fmt::Debug for AppParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppParts")
            .field("http", &self.http)
            .field("cors_origins", &self.cors_origins)
            .finish_non_exhaustive()
    }
}

/// Builds the state shared by every handler from the adapters.
pub fn state(
    ports: Ports,
    store_for_writes: Arc<dyn domain::ports::SignalStore>,
    admin: AdminKeys,
    cache_ttl: std::time::Duration,
    sse_max_clients: usize,
) -> ApiState {
    let ingest = IngestService::new(
        store_for_writes,
        ports.events.clone(),
        ports.cache.clone(),
        ports.clock.clone(),
    );
    ApiState {
        reads: CachedReads::new(ports.cache.clone(), ports.clock.clone(), cache_ttl),
        flights: cache::Coalescer::default(),
        reparse: ReparseService::new(ports.archive.clone(), ingest, ports.cache.clone()),
        admin,
        fanout: LiveFanout::new(sse_max_clients),
        export_slots: export::handlers::export_slots(),
        desk_zone: common::instant::DEFAULT_DESK_ZONE,
        sync: None,
        ports,
    }
}

/// The in-memory adapters behind every port, for tests and dev mode without servers.
pub fn memory_ports() -> (Ports, MemoryStore, Arc<MemoryCache>, Arc<MemoryEvents>) {
    let store = MemoryStore::new();
    let cache = Arc::new(MemoryCache::new());
    let events = Arc::new(MemoryEvents::new());
    let ports = Ports {
        queries: Arc::new(store.clone()),
        archive: Arc::new(store.clone()),
        channels: Arc::new(store.clone()),
        stats: Arc::new(store.clone()),
        changes: Arc::new(store.clone()),
        cache: cache.clone(),
        events: events.clone(),
        clock: Arc::new(SystemClock),
        receptions: Arc::new(store.clone()),
    };
    (ports, store, cache, events)
}

/// The rendered OpenAPI document.
pub fn openapi_json() -> OpenApiJson {
    let doc = openapi::document();
    OpenApiJson(web::Bytes::from(doc.to_json().unwrap_or_default()))
}

/// Default rate limits (see [`config::ApiConfig`]).
pub fn default_rate_limits() -> RateLimitSettings {
    RateLimitSettings::default()
}

/// CORS for the configured origins only. The request's `Host` is never trusted to say what
/// "same origin" is: a DNS-rebinding page names its own host in both `Host` and `Origin`.
fn cors(origins: &[String]) -> Cors {
    let allowed: Vec<String> = origins.to_vec();
    Cors::default()
        .allowed_origin_fn(move |origin, _head| {
            origin
                .to_str()
                .is_ok_and(|origin| allowed.iter().any(|a| a == origin))
        })
        .allowed_methods(["GET", "POST", "PUT", "DELETE"])
        .allowed_headers([
            header::CONTENT_TYPE,
            header::ACCEPT,
            HeaderName::from_static("x-api-key"),
            HeaderName::from_static("last-event-id"),
            HeaderName::from_static("traceparent"),
        ])
        .expose_headers([
            header::RETRY_AFTER,
            header::CONTENT_DISPOSITION,
            HeaderName::from_static("x-cache"),
        ])
        .max_age(3600)
}

/// The api's HTTP surface: service-kit's frame (tracing, metrics, security headers, problem
/// responses, deadline, body limit), then CORS and rate limiting around the route table, and
/// Swagger UI.
pub fn app(
    parts: &AppParts,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody + use<>>,
        Error = Error,
        InitError = (),
    > + use<>,
> {
    let swagger = SwaggerUi::new("/swagger-ui/{_:.*}").config(
        SwaggerConfig::new(["/api-docs/openapi.json"])
            .persist_authorization(true)
            .display_request_duration(true),
    );
    service_kit::http::app(&parts.http)
        .app_data(parts.state.clone())
        .app_data(parts.health.clone())
        .app_data(parts.metrics.clone())
        .app_data(parts.limiter.clone())
        .app_data(parts.openapi.clone())
        .service(swagger)
        .service(
            web::scope("")
                .wrap(from_fn(rate_limit::limit))
                .wrap(cors(&parts.cors_origins))
                .configure(routes::configure),
        )
}
