//! The periodic upkeep, the same on every database edition (signal expiry, retention, folding
//! the exact rollups), run by the ingest service on a timer. Failures are logged and counted,
//! never fatal: the next tick tries again.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use adapters_postgres::{PgStore, Removed, Retention};
use chrono::{DateTime, Utc};
use domain::model::ChannelId;
use domain::ports::{Invalidation, SignalCache, SignalEvents, StoreError};

/// Maintenance runs, by `result` (`ok`, `skipped`, `error`).
pub const RUNS: &str = "tpcapital_maintenance_runs_total";
/// Unix time of the last successful run.
pub const LAST_SUCCESS: &str = "tpcapital_maintenance_last_success_timestamp_seconds";

/// What one run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MaintenanceRun {
    /// Work was done; the text says what.
    Done(String),
    /// Another replica holds the maintenance lock.
    Skipped,
}

/// Describes the maintenance metrics and creates the run counters at zero, whether or not
/// maintenance is enabled, so an alert sees "no successful run" rather than no series.
pub fn register_metrics() {
    metrics::describe_counter!(
        RUNS,
        "Maintenance runs (aggregate refresh, retention), by result"
    );
    metrics::describe_gauge!(
        LAST_SUCCESS,
        "Unix time of the last successful maintenance run"
    );
    for result in ["ok", "skipped", "error"] {
        metrics::counter!(RUNS, "result" => result).increment(0);
    }
}

/// Runs `task` after `first_delay`, then every `period`, on the current runtime.
pub fn spawn<F, Fut>(
    first_delay: Duration,
    period: Duration,
    task: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<MaintenanceRun, StoreError>> + Send,
{
    tokio::spawn(async move {
        tokio::time::sleep(first_delay).await;
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            run_once(&task).await;
        }
    })
}

/// One run, logged and counted.
pub async fn run_once<F, Fut>(task: &F) -> Option<MaintenanceRun>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<MaintenanceRun, StoreError>>,
{
    match task().await {
        Ok(MaintenanceRun::Done(what)) => {
            tracing::info!(%what, "maintenance done");
            metrics::counter!(RUNS, "result" => "ok").increment(1);
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            metrics::gauge!(LAST_SUCCESS).set(now);
            Some(MaintenanceRun::Done(what))
        }
        Ok(MaintenanceRun::Skipped) => {
            tracing::debug!("maintenance skipped: another replica runs it");
            metrics::counter!(RUNS, "result" => "skipped").increment(1);
            Some(MaintenanceRun::Skipped)
        }
        Err(e) => {
            tracing::warn!(error = %e, "maintenance failed; retrying at the next tick");
            metrics::counter!(RUNS, "result" => "error").increment(1);
            None
        }
    }
}

/// One run as the service does it: the store's upkeep in one transaction, then, once committed,
/// a cache invalidation when readers would see a change (the channels of expired signals;
/// everything after retention deletes) and
/// a `status_changed` event per expired signal. A failed invalidation or publish is logged, not
/// fatal: cached entries also expire by themselves.
pub async fn run(
    store: &PgStore,
    cache: &dyn SignalCache,
    events: &dyn SignalEvents,
    retention: &Retention,
    now: DateTime<Utc>,
) -> Result<MaintenanceRun, StoreError> {
    let report = store.maintenance(retention, now).await?;
    if report.skipped {
        return Ok(MaintenanceRun::Skipped);
    }
    let removed = |r: Removed| matches!(r, Removed::Chunks(n) | Removed::Rows(n) if n > 0);
    let invalidation = if removed(report.messages) || removed(report.signals) {
        Some(Invalidation::Everything)
    } else if report.expired.is_empty() {
        None
    } else {
        let mut channels: Vec<ChannelId> = report.expired.iter().map(|e| e.channel_id).collect();
        channels.sort_unstable();
        channels.dedup();
        Some(Invalidation::Channels(channels))
    };
    if let Some(what) = invalidation
        && let Err(e) = cache.invalidate(&what).await
    {
        tracing::warn!(error = %e, "maintenance: cache invalidation failed");
    }
    let unpublished = events.publish_all(&report.expired).await;
    if unpublished > 0 {
        tracing::warn!(unpublished, "maintenance: expiry events not published");
    }
    Ok(MaintenanceRun::Done(format!(
        "expired {} signals, messages {:?}, processing stats {:?}, signals {:?}, \
         {} rollup deltas folded, {} search indexes built",
        report.expired.len(),
        report.messages,
        report.processing_stats,
        report.signals,
        report.deltas_folded,
        report.search_indexes_built.len()
    )))
}
