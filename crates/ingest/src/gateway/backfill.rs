//! `tp-capital-ingest backfill --channel <id> [--since <date>]`: asks the gateway to fetch recent
//! history from Telegram, then drains the channel through the same consumer as `serve` (so it is
//! safe to run while the service runs: what both store is stored once), with a progress bar and a
//! summary.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use domain::ChannelId;
use domain::ports::GatewayFeed;
use domain::services::{PullConsumer, PullReport};
use indicatif::{ProgressBar, ProgressStyle};

/// What the operator asked.
#[derive(Debug, Clone)]
pub struct BackfillRequest {
    /// The channel drained.
    pub channel: ChannelId,
    /// Messages dated before are acknowledged, not stored.
    pub since: Option<DateTime<Utc>>,
    /// How many recent messages the gateway is asked to fetch (0 = do not ask, only drain).
    pub sync_limit: usize,
}

/// Runs the backfill; the summary is the `Ok` text.
pub async fn run(
    feed: &dyn GatewayFeed,
    consumer: &PullConsumer,
    request: &BackfillRequest,
) -> Result<String, String> {
    let started = Instant::now();
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let mut fetched = None;
    if request.sync_limit > 0 {
        bar.set_message(format!(
            "asking the gateway to fetch up to {} messages from Telegram (may take minutes)",
            request.sync_limit
        ));
        let sync = feed
            .request_sync(request.sync_limit)
            .await
            .map_err(|e| format!("the gateway's sync failed: {e}"))?;
        fetched = sync.fetched;
    }
    let mut total = PullReport::default();
    loop {
        let page = consumer
            .drain_since(request.channel, 1, request.since)
            .await
            .map_err(|e| {
                format!(
                    "draining {}: {e} (progress so far: {})",
                    request.channel,
                    summary(&total)
                )
            })?;
        total.absorb(&page);
        bar.set_message(summary(&total));
        if page.seen == 0 || page.acknowledged == 0 {
            break;
        }
    }
    bar.finish_and_clear();
    Ok(format!(
        "backfill of channel {}: {}{} in {:.1} s",
        request.channel,
        fetched.map_or_else(String::new, |n| format!("gateway fetched {n}; ")),
        summary(&total),
        started.elapsed().as_secs_f64()
    ))
}

fn summary(r: &PullReport) -> String {
    format!(
        "{} read, {} stored, {} already stored, {} skipped (before --since), {} unreadable, {} refused, {} acknowledged",
        r.seen, r.stored, r.duplicates, r.skipped, r.invalid, r.failed, r.acknowledged
    )
}
