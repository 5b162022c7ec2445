//! Probes, metrics and the OpenAPI document: service-kit's implementations, documented here.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use service_kit::health::{self, HealthReport, LiveReport};
use service_kit::{Health, Metrics};

/// The OpenAPI document, rendered once at startup (app data of [`openapi_json`]).
#[derive(Debug, Clone)]
pub struct OpenApiJson(pub web::Bytes);

/// Health: the database (through PgBouncer, as the app user) and Redis.
///
/// `healthy`, or `degraded` when Redis is down (answers then come from the database); 503
/// `unhealthy` when the database is unreachable.
#[utoipa::path(
    get, path = "/health", tag = "health", operation_id = "health",
    responses(
        (status = 200, description = "Healthy or degraded", body = HealthReport),
        (status = 503, description = "The database is unreachable", body = HealthReport,
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn health(h: web::Data<Health>) -> HttpResponse {
    health::health(h).await
}

/// Liveness: the process serves HTTP (checks nothing else).
#[utoipa::path(
    get, path = "/health/live", tag = "health", operation_id = "health_live",
    responses((status = 200, description = "Alive", body = LiveReport))
)]
pub async fn live(h: web::Data<Health>) -> HttpResponse {
    health::live(h).await
}

/// Readiness: a real round trip app user → PgBouncer → PostgreSQL (and Redis, optional).
#[utoipa::path(
    get, path = "/health/ready", tag = "health", operation_id = "health_ready",
    responses(
        (status = 200, description = "Ready (Redis may be degraded)", body = HealthReport),
        (status = 503, description = "Not ready: the database is unreachable", body = HealthReport,
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn ready(h: web::Data<Health>) -> HttpResponse {
    health::health(h).await
}

/// Prometheus metrics (text exposition).
#[utoipa::path(
    get, path = "/metrics", tag = "health", operation_id = "metrics",
    responses((status = 200, description = "Prometheus text format",
               content_type = "text/plain; version=0.0.4", body = String,
               example = json!("# TYPE tpcapital_cache_requests_total counter\ntpcapital_cache_requests_total{result=\"hit\",endpoint=\"signals\"} 42\n")))
)]
pub async fn metrics(m: web::Data<Metrics>) -> HttpResponse {
    service_kit::metrics::metrics_endpoint(m).await
}

/// This OpenAPI document.
#[utoipa::path(
    get, path = "/api-docs/openapi.json", tag = "health", operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object))
)]
pub async fn openapi_json(doc: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(doc.0.clone())
}
