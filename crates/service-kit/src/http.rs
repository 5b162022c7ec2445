//! The HTTP frame both services share: an `App` with the standard middleware stack and error
//! handling already in place, and a server runner with limits and graceful shutdown.
//!
//! Stack, outermost first: request tracing (root span, W3C parent) → metrics by route template
//! → security headers → compression (`Accept-Encoding`) → problem fallback (every error body is a problem) → request deadline →
//! `HEAD` served as `GET` → the routes; unknown paths answer a 404 problem.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{AppConfig, Service, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{App, Error, HttpServer, web};

use crate::extract::{self, JsonLimit};
use crate::security::{self, RequestTimeout};
use crate::{compress, head, metrics, problem, telemetry};

/// Limits and timeouts of a service's HTTP surface.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Where to listen.
    pub bind: SocketAddr,
    /// Largest accepted body, in bytes (routes may lower or raise it with [`JsonLimit`]).
    pub body_limit: usize,
    /// Deadline of one request (see [`security::request_deadline`]).
    pub request_timeout: Duration,
    /// How long in-flight requests may finish after SIGTERM/SIGINT.
    pub shutdown_timeout: Duration,
    /// Worker threads; `None` = one per core.
    pub workers: Option<usize>,
}

impl HttpSettings {
    /// Defaults: 1 MiB bodies, 30 s requests, 30 s shutdown grace, one worker per core.
    pub fn new(bind: SocketAddr) -> Self {
        Self {
            bind,
            body_limit: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(30),
            workers: None,
        }
    }
}

/// An `App` with the standard middleware, extractor error handlers, body limit, request
/// deadline and a 404-problem default service. Add the routes with `.service(...)` /
/// `.configure(...)` and app data with `.app_data(...)`.
pub fn app(
    settings: &HttpSettings,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody + use<>>,
        Error = Error,
        InitError = (),
    > + use<>,
> {
    App::new()
        .app_data(JsonLimit(settings.body_limit))
        .app_data(RequestTimeout(settings.request_timeout))
        .app_data(extract::json_config(settings.body_limit))
        .app_data(web::PayloadConfig::new(settings.body_limit))
        .app_data(extract::query_config())
        .app_data(extract::path_config())
        .default_service(web::to(problem::not_found))
        .wrap(from_fn(head::head_as_get))
        .wrap(from_fn(security::request_deadline))
        .wrap(from_fn(problem::problem_fallback))
        .wrap(from_fn(compress::compress_responses))
        .wrap(security::security_headers())
        .wrap(from_fn(metrics::record_http))
        .wrap(telemetry::request_tracing())
}

/// Serves `factory` on `settings.bind` until SIGTERM/SIGINT, then lets in-flight requests
/// finish for up to `settings.shutdown_timeout`.
pub async fn serve<F, I, S, B>(settings: &HttpSettings, factory: F) -> std::io::Result<()>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: actix_service::IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<actix_web::dev::Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    let mut server = HttpServer::new(factory)
        .shutdown_timeout(settings.shutdown_timeout.as_secs())
        .client_request_timeout(Duration::from_secs(10))
        .client_disconnect_timeout(Duration::from_secs(5))
        .max_connections(25_000)
        .backlog(4096);
    if let Some(workers) = settings.workers {
        server = server.workers(workers);
    }
    tracing::info!(bind = %settings.bind, "listening");
    server.bind(settings.bind)?.run().await
}
