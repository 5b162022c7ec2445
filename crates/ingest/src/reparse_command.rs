//! `tp-capital-ingest reparse`: the current parser over the archive from the command line, the
//! same use case as `POST /messages/reparse`. `--dry-run` writes nothing and reports what this
//! parser version would change: new signals, stored signals read with different fields, outcome
//! flips, with samples to review.

use std::process::ExitCode;
use std::sync::Arc;

use adapters_postgres::{PgStore, PoolOptions};
use adapters_redis::RedisConfig;
use chrono::{NaiveDate, TimeZone, Utc};
use domain::model::ChannelId;
use domain::ports::{MessageClass, ReparseSelection, SystemClock};
use domain::services::{IngestService, ReparseRequest, ReparseService};
use ingest::config::IngestConfig;

/// What to re-parse.
#[derive(Debug, clap::Args)]
pub struct ReparseArgs {
    /// Report what would change; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Messages from this day (UTC).
    #[arg(long, value_name = "YYYY-MM-DD")]
    from: Option<NaiveDate>,
    /// Messages up to this day, inclusive (UTC).
    #[arg(long, value_name = "YYYY-MM-DD")]
    to: Option<NaiveDate>,
    /// Only deliveries with this outcome (signal, update, ignored, rejected); without it and
    /// without --from/--to, the rejected set.
    #[arg(long, value_parser = ["signal", "update", "ignored", "rejected"])]
    outcome: Option<String>,
    /// Only this channel.
    #[arg(long, allow_hyphen_values = true)]
    channel: Option<i64>,
    /// Most deliveries examined.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    limit: u32,
}

const PROGRAM: &str = "tp-capital-ingest reparse";

/// Runs the re-parse and prints its report as JSON.
pub fn run(args: ReparseArgs) -> ExitCode {
    let config = match service_kit::config::load_or_exit::<IngestConfig>(PROGRAM) {
        Ok(config) => config,
        Err(code) => return code,
    };
    match actix_web::rt::System::new().block_on(reparse(config, args)) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{PROGRAM}: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn reparse(config: IngestConfig, args: ReparseArgs) -> Result<String, String> {
    let day_start =
        |d: NaiveDate| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default());
    let from = args.from.map(day_start);
    let to = args
        .to
        .and_then(|d| d.succ_opt())
        .map(|d| day_start(d) - chrono::Duration::milliseconds(1));
    let outcomes = match (&args.outcome, from, to) {
        (Some(name), _, _) => MessageClass::ALL
            .into_iter()
            .filter(|o| o.as_str() == name)
            .collect(),
        (None, None, None) => vec![MessageClass::Rejected],
        (None, _, _) => Vec::new(),
    };
    let store = PgStore::connect(config.database_url.expose(), PoolOptions::default())
        .await
        .map_err(|e| format!("database: {e}"))?;
    let redis = adapters_redis::connect(
        RedisConfig::new(config.redis_url.expose()).with_namespace(&config.redis_namespace),
    )
    .await
    .map_err(|e| format!("redis: {e}"))?;
    let cache = Arc::new(redis.cache());
    let ingest = IngestService::new(
        Arc::new(store.clone()),
        Arc::new(redis.events()),
        cache.clone(),
        Arc::new(SystemClock),
    );
    let service = ReparseService::new(Arc::new(store.clone()), ingest, cache);
    let request = ReparseRequest {
        selection: ReparseSelection {
            from,
            to,
            outcomes,
            channel: args.channel.map(ChannelId),
        },
        after: None,
        limit: args.limit,
        dry_run: args.dry_run,
    };
    let report = service
        .reparse(&request, None)
        .await
        .map_err(|e| format!("re-parse: {e}"))?;
    redis.shutdown().await;
    store.close().await;
    serde_json::to_string_pretty(&report).map_err(|e| e.to_string())
}
