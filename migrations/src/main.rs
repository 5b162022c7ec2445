//! `tp-capital-migrate`: the one-shot migration step, run against PostgreSQL directly (never
//! through PgBouncer: the run holds a session advisory lock).
//!
//! The legacy import (`import-legacy`, `rollback-import`, SPEC §6) are further [`Command`]
//! variants dispatching into the `legacy-import` crate; the target is the same direct URL.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use legacy_import::{ImportOptions, LegacyError, TargetSchema};

/// TP-Capital schema migrations.
#[derive(Debug, Parser)]
#[command(name = "tp-capital-migrate", version, about)]
struct Cli {
    /// PostgreSQL URL, direct (not PgBouncer).
    #[arg(
        long,
        env = "TP_CAPITAL_MIGRATE_DATABASE_URL",
        hide_env_values = true,
        global = true
    )]
    database_url: Option<String>,

    /// How long to wait for another run holding the migration lock.
    #[arg(long, default_value_t = 600, global = true, value_name = "SECONDS")]
    lock_timeout: u64,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply every pending migration (or the first N).
    Up {
        /// Apply at most N pending migrations.
        #[arg(short = 'n', long)]
        steps: Option<u32>,
    },
    /// Roll back the last N applied migrations.
    Down {
        /// How many to roll back.
        #[arg(short = 'n', long, default_value_t = 1)]
        steps: u32,
    },
    /// List every migration and whether it is applied, and the recorded capabilities.
    Status,
    /// Import the legacy shared database's tp_capital data (pre-flight, backup, batched copy,
    /// validation, report). Run it again to resume after a crash; a second run adds nothing.
    /// Exit codes: 0 done, 2 bad arguments, 3 stopped before writing anything (NO-GO, a database
    /// unreachable, missing privileges), 4 validation mismatch, 1 stopped after it started
    /// writing (run it again to resume).
    ImportLegacy {
        /// PostgreSQL URL of the legacy (shared) database; only read, never written.
        #[arg(long, env = "TP_CAPITAL_LEGACY_DATABASE_URL", hide_env_values = true)]
        source: String,
        /// The schema of the legacy signals table. Default: found by pre-flight (`signals`, the
        /// dedicated stack's, then `tp_capital`, the shared database's).
        #[arg(long)]
        schema: Option<String>,
        /// Pre-flight, counts and a sample mapping only: writes nothing anywhere.
        #[arg(long)]
        dry_run: bool,
        /// Legacy rows per batch (one transaction with its checkpoint).
        #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        batch_size: u32,
        /// Parallel writing connections to the target (batches still commit in order).
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=16))]
        writers: u32,
        /// Where the backup is written (a sub-directory per import).
        #[arg(long, default_value = "legacy-backup", value_name = "DIR")]
        backup_dir: PathBuf,
        /// Where the Markdown and JSON reports are written.
        #[arg(
            long = "report",
            default_value = "legacy-import-reports",
            value_name = "DIR"
        )]
        report_dir: PathBuf,
        /// Random rows per table compared field by field during validation.
        #[arg(long, default_value_t = 500)]
        sample_size: u32,
    },
    /// Remove exactly the rows of one import (idempotent).
    RollbackImport {
        /// The import id (printed by import-legacy and in its report).
        #[arg(long)]
        import_id: uuid::Uuid,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let Some(url) = cli.database_url.clone() else {
        eprintln!(
            "tp-capital-migrate: no database: pass --database-url or set TP_CAPITAL_MIGRATE_DATABASE_URL"
        );
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tp-capital-migrate: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, &url)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Error::Legacy(e)) => {
            eprintln!("tp-capital-migrate: error: {e}");
            ExitCode::from(e.exit_code())
        }
        Err(e) => {
            eprintln!("tp-capital-migrate: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
enum Error {
    #[error(transparent)]
    Migrate(#[from] migrations::MigrateError),
    #[error(transparent)]
    Legacy(#[from] LegacyError),
}

/// `30 days`, or `keep` for 0.
fn days(n: i32) -> String {
    if n == 0 {
        "keep".to_owned()
    } else {
        format!("{n} days")
    }
}

async fn run(cli: Cli, url: &str) -> Result<(), Error> {
    let lock_timeout = Duration::from_secs(cli.lock_timeout);
    match cli.command {
        Command::Up { steps } => {
            let applied = migrations::up(url, steps, lock_timeout).await?;
            if applied.is_empty() {
                println!("nothing to apply: the schema is up to date");
            }
            for name in applied {
                println!("applied   {name}");
            }
        }
        Command::Down { steps } => {
            let reverted = migrations::down(url, steps, lock_timeout).await?;
            if reverted.is_empty() {
                println!("nothing to roll back");
            }
            for name in reverted {
                println!("reverted  {name}");
            }
        }
        Command::Status => {
            let (states, caps) = migrations::status(url).await?;
            println!("database  {}", migrations::redact_url(url));
            for s in &states {
                let state = if s.applied { "applied" } else { "pending" };
                println!("{state:<9} {}", s.name);
            }
            let pending = states.iter().filter(|s| !s.applied).count();
            println!(
                "{} of {} applied, {pending} pending",
                states.len() - pending,
                states.len()
            );
            let (server, retention) = migrations::server_report(url).await?;
            println!("server    {} (running now)", server.describe());
            if let Some(c) = caps {
                println!(
                    "mode      timescaledb={} license={} hypertables={} aggregate={} retention={}",
                    c.timescaledb_version.as_deref().unwrap_or("absent"),
                    c.timescaledb_license.as_deref().unwrap_or("-"),
                    c.hypertables,
                    c.aggregate.as_str(),
                    c.retention.as_str()
                );
                if c.timescaledb_license != server.timescaledb_license {
                    println!(
                        "note      the schema was first migrated under license={}; the server now runs {}: \
                         answers are the same (exact rollups), only the recorded mode is used",
                        c.timescaledb_license.as_deref().unwrap_or("none"),
                        server
                            .timescaledb_license
                            .as_deref()
                            .unwrap_or("no TimescaleDB")
                    );
                }
            }
            match retention {
                Some(r) => println!(
                    "retention messages={} signals={} by {} (last maintenance run {})",
                    days(r.message_days),
                    days(r.signal_days),
                    r.method,
                    r.applied_at
                ),
                None => println!(
                    "retention not applied yet: the ingest's maintenance run applies \
                     TP_CAPITAL_MESSAGE_RETENTION_DAYS / TP_CAPITAL_SIGNAL_RETENTION_DAYS"
                ),
            }
        }
        Command::ImportLegacy {
            source,
            schema,
            dry_run,
            batch_size,
            writers,
            backup_dir,
            report_dir,
            sample_size,
        } => {
            let (states, _) = migrations::status(url).await?;
            let target_schema = TargetSchema {
                applied: states.iter().filter(|s| s.applied).count(),
                pending: states
                    .into_iter()
                    .filter(|s| !s.applied)
                    .map(|s| s.name)
                    .collect(),
            };
            legacy_import::import_legacy(&ImportOptions {
                source_url: source,
                target_url: url.to_owned(),
                schema,
                dry_run,
                batch_size: batch_size as usize,
                writers: writers as usize,
                backup_dir,
                report_dir,
                sample_size: sample_size as usize,
                target_schema,
            })
            .await?;
        }
        Command::RollbackImport { import_id } => {
            legacy_import::rollback_import(url, import_id).await?;
        }
    }
    Ok(())
}
