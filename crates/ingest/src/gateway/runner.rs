//! The pull consumer as a background task of `serve`: every poll interval it drains each
//! configured channel through the domain's [`PullConsumer`], reconciles now and then, and turns
//! what happened into the breaker's state, metrics and log lines. It never gives up: a gateway
//! that is down at start is retried (the breaker paces it) and said so; a database that is down
//! stops the pulling (nothing is acknowledged) until it answers again.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use domain::ChannelId;
use domain::ports::{FeedError, StoreError};
use domain::services::{PullConsumer, PullError, PullReport};

use super::breaker::Breaker;

/// Rows listed, by `channel`.
pub const PULLED: &str = "tpcapital_gateway_pulled_total";
/// Messages newly stored by the pull, by `channel`.
pub const STORED: &str = "tpcapital_gateway_stored_total";
/// Pulled messages already stored (by a push, or a duplicate row of the gateway), by `channel`.
pub const DUPLICATES: &str = "tpcapital_gateway_duplicates_total";
/// Ids acknowledged to the gateway, by `channel`.
pub const ACKNOWLEDGED: &str = "tpcapital_gateway_acknowledged_total";
/// Unreadable rows (acknowledged, not stored), by `channel`.
pub const INVALID: &str = "tpcapital_gateway_invalid_total";
/// Messages found by the reconciliation (swallowed by another channel's acknowledgement).
pub const HEALED: &str = "tpcapital_gateway_healed_total";
/// Age of the oldest message still pending at the gateway, by `channel`.
pub const LAG: &str = "tpcapital_gateway_pull_lag_seconds";
/// Unix time of the last poll that reached the gateway and the store.
pub const LAST_SUCCESS: &str = "tpcapital_gateway_last_success_timestamp_seconds";
/// Failures, by `kind`.
pub const ERRORS: &str = "tpcapital_gateway_errors_total";

/// Most pages one channel drains per cycle before the next channel's turn.
const MAX_PAGES: u32 = 50;

/// Error kinds of [`ERRORS`].
const ERROR_KINDS: [&str; 5] = [
    "unavailable",
    "refused",
    "rate_limited",
    "store_unavailable",
    "store",
];

/// Probes the database (the store's ping).
pub type DatabaseProbe =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// The runner's settings.
#[derive(Debug, Clone)]
pub struct RunnerSettings {
    /// The channels pulled, in order.
    pub channels: Vec<ChannelId>,
    /// Pause between polls when the gateway had nothing more.
    pub poll_interval: Duration,
    /// Period of the reconciliation (zero = never).
    pub reconcile_interval: Duration,
}

/// Describes the gateway metrics and creates their series at zero.
pub fn register_metrics(channels: &[ChannelId]) {
    metrics::describe_counter!(PULLED, "Rows pulled from the gateway, by channel");
    metrics::describe_counter!(STORED, "Pulled messages newly stored, by channel");
    metrics::describe_counter!(
        DUPLICATES,
        "Pulled messages already stored (push or gateway duplicate), by channel"
    );
    metrics::describe_counter!(
        ACKNOWLEDGED,
        "Messages acknowledged to the gateway, by channel"
    );
    metrics::describe_counter!(INVALID, "Unreadable gateway rows acknowledged, by channel");
    metrics::describe_counter!(
        HEALED,
        "Messages swallowed by another channel's acknowledgement and recovered"
    );
    metrics::describe_gauge!(
        LAG,
        metrics::Unit::Seconds,
        "Age of the oldest message pending at the gateway, by channel"
    );
    metrics::describe_gauge!(
        LAST_SUCCESS,
        "Unix time of the last successful gateway poll"
    );
    metrics::describe_counter!(ERRORS, "Gateway consumer failures, by kind");
    for channel in channels {
        let label = channel.to_string();
        for name in [PULLED, STORED, DUPLICATES, ACKNOWLEDGED, INVALID, HEALED] {
            metrics::counter!(name, "channel" => label.clone()).increment(0);
        }
        metrics::gauge!(LAG, "channel" => label).set(0.0);
    }
    for kind in ERROR_KINDS {
        metrics::counter!(ERRORS, "kind" => kind).increment(0);
    }
    metrics::gauge!(LAST_SUCCESS).set(0.0);
}

/// Starts the consumer on the current runtime.
pub fn spawn(
    consumer: Arc<PullConsumer>,
    breaker: Breaker,
    database: DatabaseProbe,
    settings: RunnerSettings,
) {
    register_metrics(&settings.channels);
    tracing::info!(
        channels = ?settings.channels.iter().map(ToString::to_string).collect::<Vec<_>>(),
        poll_ms = settings.poll_interval.as_millis() as u64,
        "gateway pull consumer started"
    );
    tokio::spawn(run(consumer, breaker, database, settings));
}

/// What one cycle asks of the next.
enum Next {
    /// Poll again after the interval.
    Wait,
    /// A channel had more than one cycle's pages: poll again now.
    Again,
    /// Wait this long (rate limit).
    Pause(Duration),
}

async fn run(
    consumer: Arc<PullConsumer>,
    breaker: Breaker,
    database: DatabaseProbe,
    settings: RunnerSettings,
) {
    let mut last_reconcile = Instant::now();
    loop {
        if let Err(wait) = breaker.permit() {
            tokio::time::sleep(wait.min(settings.poll_interval)).await;
            continue;
        }
        let next = cycle(&consumer, &breaker, &database, &settings.channels).await;
        let reconcile_due = !settings.reconcile_interval.is_zero()
            && last_reconcile.elapsed() >= settings.reconcile_interval;
        if reconcile_due && matches!(breaker.state(), super::breaker::BreakerState::Closed) {
            last_reconcile = Instant::now();
            reconcile(&consumer, &settings.channels).await;
        }
        match next {
            Next::Again => tokio::task::yield_now().await,
            Next::Wait => tokio::time::sleep(settings.poll_interval).await,
            Next::Pause(d) => tokio::time::sleep(d.max(settings.poll_interval)).await,
        }
    }
}

/// One poll of every channel.
async fn cycle(
    consumer: &PullConsumer,
    breaker: &Breaker,
    database: &DatabaseProbe,
    channels: &[ChannelId],
) -> Next {
    let mut next = Next::Wait;
    for &channel in channels {
        match consumer.drain(channel, MAX_PAGES).await {
            Ok(report) => {
                breaker.success();
                record(channel, &report);
                if report.pages >= MAX_PAGES {
                    next = Next::Again;
                }
            }
            Err(PullError::Feed(FeedError::RateLimited { retry_after })) => {
                error("rate_limited");
                let wait = retry_after.unwrap_or(Duration::from_secs(5));
                tracing::warn!(channel = %channel, wait_ms = wait.as_millis() as u64, "gateway rate limit: waiting");
                return Next::Pause(wait);
            }
            Err(PullError::Feed(e)) => {
                error(e.kind());
                breaker.failure(e.kind());
                tracing::warn!(channel = %channel, error = %e, breaker = breaker.state().as_str(), "gateway poll failed; will retry");
                return Next::Wait;
            }
            Err(PullError::Store(StoreError::Unavailable(why))) => {
                error("store_unavailable");
                tracing::warn!(error = %why, "database unavailable: gateway pulling paused, nothing acknowledged");
                wait_for_database(database).await;
                tracing::info!("database back: gateway pulling resumes");
                return Next::Again;
            }
            Err(PullError::Store(e)) => {
                error("store");
                tracing::error!(channel = %channel, error = %e, "storing pulled messages failed; not acknowledged");
            }
        }
    }
    next
}

async fn reconcile(consumer: &PullConsumer, channels: &[ChannelId]) {
    for &channel in channels {
        match consumer.reconcile(channel).await {
            Ok(report) if report.healed > 0 => {
                metrics::counter!(HEALED, "channel" => channel.to_string())
                    .increment(report.healed);
                tracing::warn!(channel = %channel, healed = report.healed, "reconciliation stored messages another channel's acknowledgement had hidden");
            }
            Ok(_) => {}
            Err(e) => {
                tracing::info!(channel = %channel, error = %e, "reconciliation skipped");
                return;
            }
        }
    }
}

/// Waits until the database answers, with backoff up to 10 s.
async fn wait_for_database(database: &DatabaseProbe) {
    let mut delay = Duration::from_millis(500);
    loop {
        tokio::time::sleep(delay).await;
        if database().await.is_ok() {
            return;
        }
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

fn error(kind: &'static str) {
    metrics::counter!(ERRORS, "kind" => kind).increment(1);
}

fn record(channel: ChannelId, report: &PullReport) {
    let label = channel.to_string();
    let add = |name: &'static str, n: u64| {
        if n > 0 {
            metrics::counter!(name, "channel" => label.clone()).increment(n);
        }
    };
    add(PULLED, report.seen);
    add(STORED, report.stored);
    add(DUPLICATES, report.duplicates);
    add(ACKNOWLEDGED, report.acknowledged);
    add(INVALID, report.invalid);
    metrics::gauge!(LAG, "channel" => label).set(report.lag_seconds);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    metrics::gauge!(LAST_SUCCESS).set(now);
    if report.stored + report.invalid > 0 {
        tracing::info!(
            channel = %channel, stored = report.stored, duplicates = report.duplicates,
            invalid = report.invalid, acknowledged = report.acknowledged, "gateway messages pulled"
        );
    }
}
