//! `/health`, `/health/live` and `/health/ready`, over the checks each binary registers.
//!
//! A check belongs to a [`Component`]: the database is required (down → `unhealthy`, 503), the
//! cache is optional (down → `degraded`, still 200). Checks run concurrently with a deadline, so
//! a hung dependency makes the answer "disconnected", never a hung probe. Every report also sets
//! the gauge [`DEPENDENCY_UP`], and [`Health::spawn_probe`] reports periodically, so an alert sees
//! an unreachable dependency even when no orchestrator polls `/health`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use async_trait::async_trait;
use futures_util::future::join_all;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Gauge: 1 while the service reaches a dependency, 0 when not, by `dependency`
/// (`database`, `cache`).
pub const DEPENDENCY_UP: &str = "tpcapital_dependency_up";

/// What a check is about; decides whether its failure is fatal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// Required: without it the service cannot do its job.
    Database,
    /// Optional: without it the service works, degraded.
    Cache,
    /// Optional, and only registered by the ingest's pull consumer: the gateway it pulls from.
    /// Its failure is shown as the report's `reason` (a sentence of our own, no internals).
    Gateway,
}

/// One dependency probe.
#[async_trait]
pub trait HealthCheck: Send + Sync {
    /// The component it checks.
    fn component(&self) -> Component;

    /// A real round trip; the error is logged, never shown.
    async fn check(&self) -> Result<(), String>;
}

type CheckFn = dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync;

/// A [`HealthCheck`] made from a closure returning a future.
pub struct FnCheck {
    component: Component,
    probe: Box<CheckFn>,
}

impl std::fmt::Debug for FnCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FnCheck")
            .field("component", &self.component)
            .finish_non_exhaustive()
    }
}

impl FnCheck {
    /// Wraps `probe`, e.g. `FnCheck::new(Component::Database, move || { let s = store.clone();
    /// async move { s.ping().await.map_err(|e| e.to_string()) } })`.
    pub fn new<F, Fut>(component: Component, probe: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        Self {
            component,
            probe: Box::new(move || Box::pin(probe())),
        }
    }
}

#[async_trait]
impl HealthCheck for FnCheck {
    fn component(&self) -> Component {
        self.component
    }

    async fn check(&self) -> Result<(), String> {
        (self.probe)().await
    }
}

/// Overall state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Everything reachable.
    Healthy,
    /// The cache is unreachable (answers come from the database, slower), or the gateway the
    /// service pulls from is (its circuit breaker is open: see `reason`).
    Degraded,
    /// The database is unreachable: nothing can be served or stored.
    Unhealthy,
}

/// Whether a dependency answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Connection {
    /// It answered in time.
    Connected,
    /// It failed or did not answer in time.
    Disconnected,
}

/// The body of `/health` and `/health/ready`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"status": "healthy", "uptime": 3600, "database": "connected", "cache": "connected", "version": "0.1.0"}))]
pub struct HealthReport {
    /// Overall state.
    pub status: HealthStatus,
    /// Seconds since the service started.
    pub uptime: u64,
    /// The database (through PgBouncer, as the app user).
    pub database: Connection,
    /// Redis.
    pub cache: Connection,
    /// The service version.
    pub version: String,
    /// The gateway pulled from, when the service pulls from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub gateway: Option<Connection>,
    /// Why the service is degraded by the gateway (its circuit breaker is open).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub reason: Option<String>,
    /// The database edition running and the schema's mode, when the database answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub database_edition: Option<DatabaseEdition>,
}

/// The database server as it runs now and the mode the schema is in (answers do not depend on
/// either: statistics come from exact rollups on every edition).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"server": "PostgreSQL 17.6, TimescaleDB 2.19.3 (apache)", "mode": "hypertables=true aggregate=rollup retention=drop_chunks"}))]
pub struct DatabaseEdition {
    /// PostgreSQL version, TimescaleDB version and license, as running now.
    pub server: String,
    /// The mode recorded in `metrics.capabilities`.
    pub mode: String,
}

type EditionFn =
    dyn Fn() -> Pin<Box<dyn Future<Output = Result<DatabaseEdition, String>> + Send>> + Send + Sync;

/// The body of `/health/live`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"status": "alive", "uptime": 3600}))]
pub struct LiveReport {
    /// Always `alive`.
    pub status: String,
    /// Seconds since the service started.
    pub uptime: u64,
}

/// The registered checks and the service's identity; app data of the health routes.
pub struct Health {
    started: Instant,
    version: String,
    timeout: Duration,
    checks: Vec<Arc<dyn HealthCheck>>,
    edition: Option<Arc<EditionFn>>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("version", &self.version)
            .field("checks", &self.checks.len())
            .finish_non_exhaustive()
    }
}

impl Health {
    /// No checks yet; each check gets 2 s.
    pub fn new(version: impl Into<String>) -> Self {
        Self {
            started: Instant::now(),
            version: version.into(),
            timeout: Duration::from_secs(2),
            checks: Vec::new(),
            edition: None,
        }
    }

    /// Reports the database edition with every `/health` answer (read while the database is
    /// connected; absent otherwise).
    pub fn with_edition<F, Fut>(mut self, probe: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<DatabaseEdition, String>> + Send + 'static,
    {
        self.edition = Some(Arc::new(move || Box::pin(probe())));
        self
    }

    /// Adds a check.
    pub fn with_check(mut self, check: impl HealthCheck + 'static) -> Self {
        self.checks.push(Arc::new(check));
        self
    }

    /// Sets the per-check deadline.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Seconds since start.
    pub fn uptime(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// Runs every check concurrently. A component is connected when all its checks pass (and
    /// when it has none).
    pub async fn report(&self) -> HealthReport {
        let results = join_all(self.checks.iter().map(|c| {
            let c = Arc::clone(c);
            let timeout = self.timeout;
            async move {
                let outcome = match tokio::time::timeout(timeout, c.check()).await {
                    Ok(r) => r,
                    Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
                };
                if let Err(why) = &outcome {
                    tracing::warn!(component = ?c.component(), error = %why, "health check failed");
                }
                (c.component(), outcome)
            }
        }))
        .await;
        let state = |component| {
            if results.iter().all(|(c, r)| *c != component || r.is_ok()) {
                Connection::Connected
            } else {
                Connection::Disconnected
            }
        };
        let database = state(Component::Database);
        let cache = state(Component::Cache);
        let has_gateway = results.iter().any(|(c, _)| *c == Component::Gateway);
        let gateway = has_gateway.then(|| state(Component::Gateway));
        let reason = results.iter().find_map(|(c, r)| match (c, r) {
            (Component::Gateway, Err(why)) => Some(why.clone()),
            _ => None,
        });
        let dependencies = [
            ("database", Some(database)),
            ("cache", Some(cache)),
            ("gateway", gateway),
        ];
        for (dependency, connection) in dependencies {
            if let Some(connection) = connection {
                let up = f64::from(u8::from(connection == Connection::Connected));
                metrics::gauge!(DEPENDENCY_UP, "dependency" => dependency).set(up);
            }
        }
        let status = match (database, cache, gateway) {
            (Connection::Disconnected, _, _) => HealthStatus::Unhealthy,
            (_, Connection::Disconnected, _) | (_, _, Some(Connection::Disconnected)) => {
                HealthStatus::Degraded
            }
            _ => HealthStatus::Healthy,
        };
        let database_edition = match (&self.edition, database) {
            (Some(probe), Connection::Connected) => {
                match tokio::time::timeout(self.timeout, probe()).await {
                    Ok(Ok(edition)) => Some(edition),
                    Ok(Err(why)) => {
                        tracing::warn!(error = %why, "health: database edition unknown");
                        None
                    }
                    Err(_) => None,
                }
            }
            _ => None,
        };
        HealthReport {
            status,
            uptime: self.uptime(),
            database,
            cache,
            version: self.version.clone(),
            gateway,
            reason,
            database_edition,
        }
    }
}

impl Health {
    /// Reports every `period` on the current runtime (for [`DEPENDENCY_UP`]), as long as it lives.
    pub fn spawn_probe(health: web::Data<Health>, period: Duration) {
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                health.report().await;
            }
        });
    }
}

/// Registers `/health`, `/health/live` and `/health/ready` (GET); needs `web::Data<Health>`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/health")
            .route(web::get().to(health))
            .default_service(web::to(crate::problem::method_not_allowed)),
    )
    .service(
        web::resource("/health/live")
            .route(web::get().to(live))
            .default_service(web::to(crate::problem::method_not_allowed)),
    )
    .service(
        web::resource("/health/ready")
            .route(web::get().to(health))
            .default_service(web::to(crate::problem::method_not_allowed)),
    );
}

/// `GET /health` and `GET /health/ready`: 200 when healthy or degraded, 503 when unhealthy.
pub async fn health(health: web::Data<Health>) -> HttpResponse {
    let report = health.report().await;
    let status = if report.status == HealthStatus::Unhealthy {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let mut res = HttpResponse::build(status);
    res.insert_header(("Cache-Control", "no-store"));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        res.insert_header(("Retry-After", "5"));
    }
    res.json(report)
}

/// `GET /health/live`: 200 as long as the process serves HTTP; checks nothing else.
pub async fn live(health: web::Data<Health>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(LiveReport {
            status: "alive".to_owned(),
            uptime: health.uptime(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn flag_check(component: Component, up: Arc<AtomicBool>) -> FnCheck {
        FnCheck::new(component, move || {
            let up = up.load(Ordering::SeqCst);
            async move { if up { Ok(()) } else { Err("down".into()) } }
        })
    }

    #[actix_web::test]
    async fn database_required_cache_optional() {
        let db = Arc::new(AtomicBool::new(true));
        let cache = Arc::new(AtomicBool::new(true));
        let health = Health::new("1.2.3")
            .with_check(flag_check(Component::Database, db.clone()))
            .with_check(flag_check(Component::Cache, cache.clone()));
        let r = health.report().await;
        assert_eq!(
            (r.status, r.database, r.cache),
            (
                HealthStatus::Healthy,
                Connection::Connected,
                Connection::Connected
            )
        );
        cache.store(false, Ordering::SeqCst);
        let r = health.report().await;
        assert_eq!(
            (r.status, r.cache),
            (HealthStatus::Degraded, Connection::Disconnected)
        );
        db.store(false, Ordering::SeqCst);
        let r = health.report().await;
        assert_eq!(
            (r.status, r.database),
            (HealthStatus::Unhealthy, Connection::Disconnected)
        );
        assert_eq!(r.version, "1.2.3");
    }

    #[actix_web::test]
    async fn a_hung_check_is_disconnected() {
        let health = Health::new("x")
            .with_timeout(Duration::from_millis(50))
            .with_check(FnCheck::new(Component::Cache, || async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(())
            }));
        let r = health.report().await;
        assert_eq!(r.status, HealthStatus::Degraded);
    }
}
