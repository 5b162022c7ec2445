//! Prometheus metrics: one process-wide recorder, the `/metrics` endpoint, request counters and
//! latency histograms labelled by route template (never by raw path, so ids in URLs cannot
//! explode the series count), pool gauges, and the process's own `process_*` metrics (CPU, RSS,
//! open file descriptors, threads).

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use domain::ports::SignalStatistics;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Requests served, by `method`, `route` (template) and `status`.
pub const HTTP_REQUESTS_TOTAL: &str = "tpcapital_http_requests_total";
/// Request latency histogram (seconds), by `method`, `route` and `status`.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "tpcapital_http_request_duration_seconds";
/// Connections in a pool, by `pool` (`database`, `redis`).
pub const POOL_CONNECTIONS: &str = "tpcapital_pool_connections";
/// Idle connections in a pool, by `pool`.
pub const POOL_IDLE_CONNECTIONS: &str = "tpcapital_pool_idle_connections";
/// Maximum size of a pool, by `pool`.
pub const POOL_MAX_CONNECTIONS: &str = "tpcapital_pool_max_connections";
/// Signals in the database that are not deleted, by `status` (a gauge sampled from the store by
/// [`spawn_signal_gauges`], so it equals a direct count whichever process exports it).
pub const SIGNALS_TOTAL: &str = "tpcapital_signals_total";
/// Build information (value 1), by `service` and `version`.
pub const BUILD_INFO: &str = "tpcapital_build_info";

/// Histogram buckets for every `*_seconds` metric: 0.5 ms … 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Route label of requests that matched no route.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Method label of every method outside the standard nine: a client inventing methods must not
/// invent series.
pub const OTHER_METHOD: &str = "OTHER";

/// The `method` label of a request: its standard method name, or [`OTHER_METHOD`].
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => OTHER_METHOD,
    }
}

static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// Why the recorder could not be installed.
#[derive(Debug, thiserror::Error)]
#[error("cannot install the metrics recorder: {0}")]
pub struct MetricsError(String);

/// The process's metrics registry, rendered by [`metrics_endpoint`].
#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Installs the global recorder the first time, and returns it on every call (tests build
    /// many apps in one process). Records `tpcapital_build_info{service,version} 1`.
    pub fn install(service: &'static str, version: &'static str) -> Result<Self, MetricsError> {
        let handle = HANDLE
            .get_or_init(|| {
                let recorder = PrometheusBuilder::new()
                    .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                    .map_err(|e| e.to_string())?
                    .build_recorder();
                let handle = recorder.handle();
                metrics::set_global_recorder(recorder)
                    .map_err(|_| "another metrics recorder is installed".to_owned())?;
                describe();
                metrics_process::Collector::default().describe();
                Ok(handle)
            })
            .clone()
            .map_err(MetricsError)?;
        metrics::gauge!(BUILD_INFO, "service" => service, "version" => version).set(1.0);
        Ok(Self { handle })
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// Drains histogram samples into their buckets and samples the process metrics; called
    /// periodically by [`Metrics::spawn_upkeep`].
    pub fn run_upkeep(&self) {
        metrics_process::Collector::default().collect();
        self.handle.run_upkeep();
    }

    /// Runs upkeep every 5 s on the current runtime.
    pub fn spawn_upkeep(&self) {
        let metrics = self.clone();
        spawn_every(Duration::from_secs(5), move || metrics.run_upkeep());
    }
}

fn describe() {
    metrics::describe_counter!(
        HTTP_REQUESTS_TOTAL,
        "HTTP requests served, by method, route template and status"
    );
    metrics::describe_histogram!(
        HTTP_REQUEST_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "HTTP request latency, by method, route template and status"
    );
    metrics::describe_gauge!(POOL_CONNECTIONS, "Open connections in a pool, by pool");
    metrics::describe_gauge!(POOL_IDLE_CONNECTIONS, "Idle connections in a pool, by pool");
    metrics::describe_gauge!(
        POOL_MAX_CONNECTIONS,
        "Configured maximum size of a pool, by pool"
    );
    metrics::describe_gauge!(
        SIGNALS_TOTAL,
        "Signals in the database (not deleted), by status"
    );
    metrics::describe_gauge!(
        BUILD_INFO,
        "Always 1, labelled with the service and its version"
    );
}

/// `GET /metrics`: the Prometheus text exposition of the [`Metrics`] registered as app data.
pub async fn metrics_endpoint(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render())
}

/// Middleware: counts every request and observes its latency by route template.
pub async fn record_http(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    let route = req
        .match_pattern()
        .unwrap_or_else(|| UNMATCHED_ROUTE.to_owned());
    let result = next.call(req).await;
    let status = match &result {
        Ok(res) => res.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    let labels = [
        ("method", method.to_owned()),
        ("route", route),
        ("status", status.to_string()),
    ];
    metrics::counter!(HTTP_REQUESTS_TOTAL, &labels).increment(1);
    metrics::histogram!(HTTP_REQUEST_DURATION_SECONDS, &labels)
        .record(started.elapsed().as_secs_f64());
    result
}

/// A snapshot of a connection pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Open connections.
    pub connections: u64,
    /// Of which idle.
    pub idle: u64,
    /// Configured maximum.
    pub max: u64,
}

/// Sets the pool gauges of `pool` (`database`, `redis`).
pub fn record_pool(pool: &'static str, stats: PoolStats) {
    metrics::gauge!(POOL_CONNECTIONS, "pool" => pool).set(stats.connections as f64);
    metrics::gauge!(POOL_IDLE_CONNECTIONS, "pool" => pool).set(stats.idle as f64);
    metrics::gauge!(POOL_MAX_CONNECTIONS, "pool" => pool).set(stats.max as f64);
}

/// Samples `sample` every `period` and records it as the gauges of `pool`.
pub fn spawn_pool_gauges(
    pool: &'static str,
    period: Duration,
    sample: impl Fn() -> PoolStats + Send + 'static,
) {
    spawn_every(period, move || record_pool(pool, sample()));
}

/// How often the services sample [`SIGNALS_TOTAL`] (status totals plus pending deltas).
pub const SIGNAL_GAUGE_PERIOD: Duration = Duration::from_secs(30);

/// Samples the database's signal count by status every `period` into [`SIGNALS_TOTAL`]; a
/// failed sample keeps the last values (and is logged at debug: the health gauges say why).
pub fn spawn_signal_gauges(stats: Arc<dyn SignalStatistics>, period: Duration) {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            match stats.count_by_status().await {
                Ok(counts) => {
                    for (status, n) in counts {
                        metrics::gauge!(SIGNALS_TOTAL, "status" => status).set(n as f64);
                    }
                }
                Err(e) => tracing::debug!(error = %e, "cannot sample the signal counts"),
            }
        }
    });
}

/// Runs `tick` every `period` on the current tokio runtime, for as long as it lives.
pub fn spawn_every(period: Duration, tick: impl Fn() + Send + 'static) {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            tick();
        }
    });
}
