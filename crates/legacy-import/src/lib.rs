//! The legacy data import (`tp-capital-migrate import-legacy`) and its rollback
//! (`tp-capital-migrate rollback-import`), SPEC §6. The binary lives in `migrations` (it is the
//! one-shot database tool operators already run); this crate needs nothing from it but the
//! target's migration state, which the caller passes in ([`TargetSchema`]).
//!
//! Order of a run: pre-flight (both ends, legacy shape, target migrated, lock, backup space) →
//! backup of everything it reads → channels → signals and archived messages in batches, each
//! committed with its checkpoint → validation (per-day and per-channel counts and checksums on
//! both sides, random rows field by field) → report. The run is `complete` only when validation
//! agrees. Imported rows carry `import_id`; signals are keyed by their legacy UUID, so a second
//! run adds nothing and a killed run resumes from its last checkpoint.

mod backup;
mod copy;
mod dry_run;
mod error;
mod ids;
mod mapping;
mod preflight;
mod progress;
mod report;
mod run;
mod shape;
mod source;
mod survey;
mod target;
mod validate;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Instant;

use sea_orm::sqlx::postgres::PgConnectOptions;
use uuid::Uuid;

pub use error::LegacyError;
pub use mapping::{
    ID_NAMESPACE, UNKNOWN_CHANNEL_ID, UNKNOWN_CHANNEL_LABEL, synthetic_channel_id,
    synthetic_message_id,
};
pub use report::Report;
pub use target::RollbackSummary;

pub(crate) const APPLICATION: &str = "tp-capital-migrate import-legacy";

/// The oldest legacy server whose SQL the import uses (`trim_scale`).
pub(crate) const MIN_SOURCE_VERSION: i32 = 130_000;

/// What `import-legacy` was asked to do.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The legacy (shared) database.
    pub source_url: String,
    /// The new database, direct (not PgBouncer).
    pub target_url: String,
    /// The schema of the legacy signals table; `None` finds it (`signals`, then `tp_capital`).
    pub schema: Option<String>,
    /// Only check, count and show a sample mapping; write nothing anywhere.
    pub dry_run: bool,
    /// Rows per batch.
    pub batch_size: usize,
    /// Parallel writing connections to the target (batches still commit in order).
    pub writers: usize,
    /// Where backups go (one sub-directory per import).
    pub backup_dir: PathBuf,
    /// Where reports go.
    pub report_dir: PathBuf,
    /// Rows per table compared field by field.
    pub sample_size: usize,
    /// The target's schema migrations, read by the caller (`migrations::status`).
    pub target_schema: TargetSchema,
}

/// The target's migration state: the import writes only into a fully migrated database.
#[derive(Debug, Clone, Default)]
pub struct TargetSchema {
    /// Migrations applied.
    pub applied: usize,
    /// Migrations not applied yet, by name.
    pub pending: Vec<String>,
}

/// What a run did.
#[derive(Debug)]
pub enum ImportRun {
    /// A dry run: nothing was written.
    DryRun,
    /// A complete import, its report and where it was written.
    Imported {
        /// The report.
        report: Box<Report>,
        /// The JSON report file.
        json: PathBuf,
        /// The Markdown report file.
        markdown: PathBuf,
    },
}

/// `host:port/database/schema`: which runs may resume each other (no credentials).
pub(crate) fn source_key(url: &str, schema: &str) -> String {
    match PgConnectOptions::from_str(url) {
        Ok(o) => format!(
            "{}:{}/{}/{schema}",
            o.get_host(),
            o.get_port(),
            o.get_database().unwrap_or("")
        ),
        Err(_) => format!("{}/{schema}", redact_url(url)),
    }
}

/// `url` without its password (what reports, logs and errors show).
pub fn redact_url(url: &str) -> String {
    match PgConnectOptions::from_str(url) {
        Ok(o) => format!(
            "postgres://{}:***@{}:{}/{}",
            o.get_username(),
            o.get_host(),
            o.get_port(),
            o.get_database().unwrap_or("")
        ),
        Err(_) => "(an unparsable URL)".to_owned(),
    }
}

/// The command that undoes an import.
pub fn rollback_command(import_id: Uuid) -> String {
    format!("tp-capital-migrate rollback-import --import-id {import_id}")
}

/// Runs `import-legacy`: a dry run, a new import, or the resume of an unfinished one.
pub async fn import_legacy(opts: &ImportOptions) -> Result<ImportRun, LegacyError> {
    let started = Instant::now();
    // Whatever stops pre-flight (an unreachable database, a role without privileges) stops it
    // before anything is written: a NO-GO, not a resumable failure.
    let no_go = |e: LegacyError| match e {
        LegacyError::NoGo(_) => e,
        other => LegacyError::NoGo(other.to_string()),
    };
    let mut src = source::connect(&opts.source_url, APPLICATION, true)
        .await
        .map_err(no_go)?;
    let mut tgt = source::connect(&opts.target_url, APPLICATION, false)
        .await
        .map_err(no_go)?;
    let survey = survey::survey(opts, &mut src, &mut tgt)
        .await
        .map_err(no_go)?;
    print!("{}", survey.preflight.render());
    if !survey.preflight.go() {
        return Err(LegacyError::NoGo(survey.preflight.blocking()));
    }
    if opts.dry_run {
        dry_run::dry_run(opts, &mut src, &mut tgt, &survey).await?;
        return Ok(ImportRun::DryRun);
    }
    let result = run::import(opts, &mut src, &mut tgt, survey, started).await;
    if let Err(e) = &result
        && !matches!(e, LegacyError::ValidationFailed(_) | LegacyError::Busy(_))
    {
        tracing::error!("import stopped: {e}; run the same command again to resume");
    }
    result
}

/// Runs `rollback-import`: removes exactly the rows of `import_id`. Idempotent: a second call
/// finds the import rolled back and does nothing.
pub async fn rollback_import(
    target_url: &str,
    import_id: Uuid,
) -> Result<Option<RollbackSummary>, LegacyError> {
    let mut tgt = source::connect(target_url, "tp-capital-migrate rollback-import", false).await?;
    target::lock(&mut tgt).await?;
    let summary = target::rollback(&mut tgt, import_id).await?;
    match &summary {
        Some(s) => println!(
            "rolled back import {import_id}: removed {} signals, {} revisions, {} status events, {} archived messages ({} delivery keys), {} channels",
            s.signals, s.revisions, s.status_events, s.messages, s.delivery_keys, s.channels
        ),
        None => println!("import {import_id} was already rolled back: nothing to do"),
    }
    Ok(summary)
}
