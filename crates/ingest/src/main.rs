//! `tp-capital-ingest`: the gateway's push endpoint (`serve`) and the operators' `parse` command.

mod parse_command;
mod reparse_command;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use adapters_postgres::{PgStore, Retention};
use adapters_redis::Redis;
use chrono::{NaiveDate, Utc};
use clap::{Parser, Subcommand};
use domain::ChannelId;
use domain::ports::{SignalQueries, SystemClock};
use domain::services::PullConsumer;
use ingest::config::IngestConfig;
use ingest::gateway::backfill::BackfillRequest;
use ingest::gateway::runner::{self, DatabaseProbe};
use ingest::gateway::sync::GatewaySync;
use ingest::gateway::{self, Breaker};
use ingest::http::{GatewayTokens, IngestApp, app};
use ingest::ingestion::{Ingestion, register_metrics};
use ingest::limits::MessageLimits;
use ingest::maintenance::{self, MaintenanceRun};
use service_kit::health::Health;
use service_kit::metrics::{
    Metrics, PoolStats, SIGNAL_GAUGE_PERIOD, spawn_pool_gauges, spawn_signal_gauges,
};

/// mimalloc: glibc malloc took ~20 % of the api's CPU on an uncached page; the ingest allocates per message too (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "tp-capital-ingest",
    version,
    about = "TP-Capital ingest service"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Parse one message read on stdin and print the outcome as JSON.
    Parse {
        /// The message date (YYYY-MM-DD), used to infer the year of validity dates.
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<NaiveDate>,
        /// Also print which rule of the lexicon read each field.
        #[arg(long)]
        explain: bool,
    },
    /// Re-parse the archive with this parser (`--dry-run`: report what would change).
    Reparse(reparse_command::ReparseArgs),
    /// Run the HTTP service (and the gateway pull consumer when TP_CAPITAL_GATEWAY_URL and
    /// TP_CAPITAL_GATEWAY_CHANNELS are set).
    Serve,
    /// Exit 0 when the running service answers its readiness endpoint (container healthchecks).
    Healthcheck,
    /// Run the maintenance once and exit (signal expiry, retention, rollup folding), as `serve`
    /// does every TP_CAPITAL_MAINTENANCE_INTERVAL_SECS; safe while `serve` runs.
    Maintain,
    /// Ask the gateway for a channel's recent history and store it (safe while `serve` runs).
    Backfill {
        /// The channel id (`-1001649127710`).
        #[arg(long, allow_hyphen_values = true)]
        channel: i64,
        /// Store only messages from this day on (YYYY-MM-DD, UTC); older ones are acknowledged.
        #[arg(long, value_name = "YYYY-MM-DD")]
        since: Option<NaiveDate>,
        /// How many recent messages the gateway fetches from Telegram first (0: only drain).
        #[arg(long, default_value_t = 500)]
        limit: usize,
    },
}

const USAGE: &str = "usage: tp-capital-ingest parse [--date YYYY-MM-DD] [--explain] < message.txt | tp-capital-ingest reparse [--dry-run] | tp-capital-ingest serve | tp-capital-ingest healthcheck | tp-capital-ingest maintain | tp-capital-ingest backfill --channel <id> [--since YYYY-MM-DD] [--limit N]";

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprint!("{}", e.render());
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Parse { date, explain } => match parse_command::run(date, explain) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("tp-capital-ingest parse: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Reparse(args) => reparse_command::run(args),
        Command::Serve => serve(),
        Command::Healthcheck => match service_kit::config::load_or_exit::<IngestConfig>(SERVICE) {
            Ok(config) => service_kit::probe::run(SERVICE, config.http().bind),
            Err(code) => code,
        },
        Command::Maintain => maintain(),
        Command::Backfill {
            channel,
            since,
            limit,
        } => backfill(BackfillRequest {
            channel: ChannelId(channel),
            since: since
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc()),
            sync_limit: limit,
        }),
    }
}

use ingest::wiring::{SERVICE, connect, health, service};

/// `serve`: configuration, telemetry, adapters, the use case, the HTTP server; then a clean
/// shutdown (in-flight requests finish, connections close, spans are flushed).
fn serve() -> ExitCode {
    let config = match service_kit::config::load_or_exit::<IngestConfig>(SERVICE) {
        Ok(config) => config,
        Err(code) => return code,
    };
    match actix_web::rt::System::new().block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{SERVICE}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `maintain`: one maintenance run with the configured retention; prints what it did.
fn maintain() -> ExitCode {
    let config = match service_kit::config::load_or_exit::<IngestConfig>(SERVICE) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let result = actix_web::rt::System::new().block_on(async move {
        let (store, redis) = connect(&config).await?;
        let outcome = maintenance::run(
            &store,
            &redis.cache(),
            &redis.events(),
            &retention(&config),
            Utc::now(),
        )
        .await
        .map_err(|e| e.to_string());
        redis.shutdown().await;
        store.close().await;
        outcome
    });
    match result {
        Ok(MaintenanceRun::Done(what)) => {
            println!("{what}");
            ExitCode::SUCCESS
        }
        Ok(MaintenanceRun::Skipped) => {
            println!("skipped: another process holds the maintenance lock");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{SERVICE} maintain: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The configured retention (`0` days = keep).
fn retention(config: &IngestConfig) -> Retention {
    const DAY: u64 = 24 * 3600;
    let days = |d: u32| (d > 0).then(|| Duration::from_secs(u64::from(d) * DAY));
    Retention {
        messages: days(config.message_retention_days),
        processing_stats: days(config.message_retention_days),
        signals: days(config.signal_retention_days),
    }
}

/// `backfill`: the same adapters and consumer as `serve`, one channel drained, a summary.
fn backfill(request: BackfillRequest) -> ExitCode {
    let config = match service_kit::config::load_or_exit::<IngestConfig>(SERVICE) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let result = actix_web::rt::System::new().block_on(async move {
        let client = gateway::client(&config)?
            .ok_or("TP_CAPITAL_GATEWAY_URL is not set: there is no gateway to backfill from")?;
        let client = Arc::new(client);
        let (store, redis) = connect(&config).await?;
        let ingestion = Ingestion::new(service(&store, &redis));
        let consumer = gateway::consumer(&config, client.clone(), ingestion, Arc::new(SystemClock));
        let summary = gateway::backfill::run(client.as_ref(), &consumer, &request).await;
        redis.shutdown().await;
        store.close().await;
        summary
    });
    match result {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{SERVICE} backfill: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: IngestConfig) -> Result<(), String> {
    let telemetry =
        service_kit::telemetry::init(SERVICE, config.log_format).map_err(|e| e.to_string())?;
    let metrics =
        Metrics::install(SERVICE, env!("CARGO_PKG_VERSION")).map_err(|e| e.to_string())?;
    metrics.spawn_upkeep();
    register_metrics();
    if config.dev_mode && config.gateway_token.is_empty() {
        tracing::warn!("TP_CAPITAL_DEV_MODE: accepting messages without a gateway token");
    }

    let (store, redis) = connect(&config).await?;
    MessageLimits {
        max_text_chars: config.ingest_max_text_chars,
        max_caption_chars: config.ingest_max_caption_chars,
    }
    .install();
    let service = service(&store, &redis).with_horizon(config.ingest_max_age_days);
    watch_pools(&store, &redis);
    spawn_signal_gauges(Arc::new(store.clone()), SIGNAL_GAUGE_PERIOD);
    spawn_maintenance(&store, &redis, &config);
    let ingestion = Ingestion::new(service);
    let (breaker, consumer) = start_consumer(&config, &store, &ingestion)?.unzip();
    let health = web::Data::new(health(&store, &redis, breaker));
    let sync = GatewaySync {
        consumer: consumer.map(|c| (c, config.gateway_channels.0.clone())),
        limit: config.gateway_sync_limit,
        tokens: config.sync_token.clone(),
        dev_mode: config.dev_mode,
    };
    Health::spawn_probe(health.clone(), Duration::from_secs(15));
    let state = IngestApp {
        ingestion: web::Data::new(ingestion),
        tokens: web::Data::new(GatewayTokens::new(config.gateway_token.clone())),
        health,
        metrics: web::Data::new(metrics),
        batch_body_limit: config.ingest_batch_body_limit,
        sync: web::Data::new(sync),
    };
    let settings = config.http();
    let factory_settings = settings.clone();
    let served = service_kit::http::serve(&settings, move || app(&factory_settings, &state)).await;

    tracing::info!("stopped serving; closing connections");
    redis.shutdown().await;
    store.close().await;
    telemetry.shutdown();
    served.map_err(|e| format!("http server on {}: {e}", settings.bind))
}

/// Starts the gateway pull consumer when a gateway and channels are configured; its breaker and
/// the consumer (for `/gateway/sync`).
fn start_consumer(
    config: &IngestConfig,
    store: &PgStore,
    ingestion: &Ingestion,
) -> Result<Option<(Breaker, Arc<PullConsumer>)>, String> {
    let Some(client) = gateway::client(config)? else {
        return Ok(None);
    };
    if config.gateway_channels.0.is_empty() {
        tracing::warn!(
            "TP_CAPITAL_GATEWAY_URL is set but TP_CAPITAL_GATEWAY_CHANNELS is empty: not pulling"
        );
        return Ok(None);
    }
    let consumer = gateway::consumer(
        config,
        Arc::new(client),
        ingestion.clone(),
        Arc::new(SystemClock),
    );
    let breaker = gateway::breaker(config);
    let store = store.clone();
    let probe: DatabaseProbe = Arc::new(move || {
        let store = store.clone();
        Box::pin(async move { store.ping().await.map_err(|e| e.to_string()) })
    });
    runner::spawn(
        consumer.clone(),
        breaker.clone(),
        probe,
        gateway::runner_settings(config),
    );
    Ok(Some((breaker, consumer)))
}

fn watch_pools(store: &PgStore, redis: &Redis) {
    let (store, redis) = (store.clone(), redis.clone());
    spawn_pool_gauges("database", Duration::from_secs(5), move || {
        let s = store.pool_stats();
        PoolStats {
            connections: s.size.into(),
            idle: s.idle.into(),
            max: s.max.into(),
        }
    });
    spawn_pool_gauges("redis", Duration::from_secs(5), move || {
        let (connections, max) = redis.status().connection_counts();
        PoolStats {
            connections,
            idle: 0,
            max,
        }
    });
}

fn spawn_maintenance(store: &PgStore, redis: &Redis, config: &IngestConfig) {
    maintenance::register_metrics();
    if config.maintenance_interval_secs == 0 {
        tracing::warn!(
            "TP_CAPITAL_MAINTENANCE_INTERVAL_SECS=0: no retention, expiry or rollup folding here"
        );
        return;
    }
    let retention = retention(config);
    tracing::info!(
        message_retention_days = config.message_retention_days,
        signal_retention_days = config.signal_retention_days,
        "effective retention (0 = keep), applied by the maintenance run on every edition"
    );
    let (store, cache, events) = (store.clone(), redis.cache(), redis.events());
    maintenance::spawn(
        Duration::from_secs(30),
        Duration::from_secs(config.maintenance_interval_secs),
        move || {
            let (store, cache, events) = (store.clone(), cache.clone(), events.clone());
            let retention = retention.clone();
            async move { maintenance::run(&store, &cache, &events, &retention, Utc::now()).await }
        },
    );
}
