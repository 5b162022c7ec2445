//! The legacy data import (`tp-capital-migrate import-legacy`) and its rollback
//! (`tp-capital-migrate rollback-import`), SPEC §6.
//!
//! Order of a run: pre-flight (both ends, legacy shape, target migrated, lock, backup space) →
//! backup of everything it reads → channels → signals and archived messages in batches, each
//! committed with its checkpoint → validation (per-day and per-channel counts and checksums on
//! both sides, random rows field by field) → report. The run is `complete` only when validation
//! agrees. Imported rows carry `import_id`; signals are keyed by their legacy UUID, so a second
//! run adds nothing and a killed run resumes from its last checkpoint.

mod backup;
mod copy;
mod error;
mod mapping;
mod preflight;
mod progress;
mod report;
mod shape;
mod source;
mod target;
mod validate;

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Instant;

use chrono::Utc;
use futures_util::TryStreamExt;
use sea_orm::sqlx::postgres::PgConnectOptions;
use sea_orm::sqlx::{AssertSqlSafe, Connection, PgConnection, Row};
use uuid::Uuid;

pub use error::LegacyError;
pub use mapping::{synthetic_channel_id, synthetic_message_id};
pub use report::Report;
pub use target::RollbackSummary;

use error::SqlContext;
use mapping::{ChannelResolution, TimeBounds, kind_of, map_message, map_signal};
use preflight::{Preflight, Status};
use shape::{LegacyShape, MESSAGES_TABLE, SIGNALS_TABLE, Severity};

const APPLICATION: &str = "tp-capital-migrate import-legacy";

/// The oldest legacy server whose SQL the import uses (`trim_scale`).
const MIN_SOURCE_VERSION: i32 = 130_000;

/// What `import-legacy` was asked to do.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The legacy (shared) database.
    pub source_url: String,
    /// The new database, direct (not PgBouncer).
    pub target_url: String,
    /// The legacy schema.
    pub schema: String,
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
}

/// What a run did.
#[derive(Debug)]
pub enum ImportOutcome {
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
fn source_key(url: &str, schema: &str) -> String {
    match PgConnectOptions::from_str(url) {
        Ok(o) => format!(
            "{}:{}/{}/{schema}",
            o.get_host(),
            o.get_port(),
            o.get_database().unwrap_or("")
        ),
        Err(_) => format!("{}/{schema}", crate::redact_url(url)),
    }
}

/// The command that undoes an import.
pub fn rollback_command(import_id: Uuid) -> String {
    format!("tp-capital-migrate rollback-import --import-id {import_id}")
}

struct Survey {
    preflight: Preflight,
    shape: LegacyShape,
    unfinished: Option<target::Run>,
    legacy_rows: Vec<(&'static str, i64)>,
}

/// Pre-flight: everything is read, nothing is written.
async fn survey(
    opts: &ImportOptions,
    src: &mut PgConnection,
    tgt: &mut PgConnection,
) -> Result<Survey, LegacyError> {
    let mut p = Preflight::default();
    let version = source::server_version(src).await?;
    p.add(
        "legacy database reachable",
        if version >= MIN_SOURCE_VERSION {
            Status::Go
        } else {
            Status::NoGo
        },
        format!(
            "{} (server_version_num {version}{})",
            crate::redact_url(&opts.source_url),
            if version >= MIN_SOURCE_VERSION {
                ""
            } else {
                ", PostgreSQL 13 or newer needed"
            }
        ),
    );
    let shape = shape::detect(src, &opts.schema).await?;
    let present: Vec<&str> = shape.all_columns.iter().map(|(t, _)| t.as_str()).collect();
    p.add(
        "legacy tables present",
        if shape.signals.is_some() {
            Status::Go
        } else {
            Status::NoGo
        },
        format!("schema {}: {}", opts.schema, present.join(", ")),
    );
    for (severity, finding) in &shape.findings {
        let status = match severity {
            Severity::Fail => Status::NoGo,
            Severity::Warn => Status::Warn,
            Severity::Info => Status::Go,
        };
        p.add("legacy columns", status, finding.clone());
    }
    for c in shape
        .columns
        .iter()
        .filter(|c| c.severity != Severity::Info)
    {
        let status = if c.severity == Severity::Fail {
            Status::NoGo
        } else {
            Status::Warn
        };
        p.add(
            "legacy columns",
            status,
            format!("{}.{} ({}): {}", c.table, c.column, c.sql_type, c.target),
        );
    }
    let unmapped = shape
        .columns
        .iter()
        .filter(|c| c.target.starts_with("not mapped"))
        .map(|c| format!("{}.{}", c.table, c.column))
        .collect::<Vec<_>>();
    if !unmapped.is_empty() {
        p.add(
            "legacy columns",
            Status::Warn,
            format!(
                "not mapped (no target column, kept in the backup): {}",
                unmapped.join(", ")
            ),
        );
    }
    let mut legacy_rows = Vec::new();
    for table in [SIGNALS_TABLE, MESSAGES_TABLE] {
        if shape.columns_of(table).is_some() {
            let n =
                source::count(src, format!("SELECT count(*) FROM {}", shape.table(table))).await?;
            legacy_rows.push((table, n));
        }
    }
    p.add(
        "legacy rows",
        Status::Go,
        legacy_rows
            .iter()
            .map(|(t, n)| format!("{t}: {n}"))
            .collect::<Vec<_>>()
            .join(", "),
    );

    p.add(
        "target database reachable",
        Status::Go,
        crate::redact_url(&opts.target_url),
    );
    let (states, _) = crate::status(&opts.target_url)
        .await
        .map_err(|e| LegacyError::Database {
            context: "reading the target's migrations".into(),
            detail: e.to_string(),
        })?;
    let pending: Vec<&str> = states
        .iter()
        .filter(|s| !s.applied)
        .map(|s| s.name.as_str())
        .collect();
    let migrated = pending.is_empty();
    p.add(
        "target migrated",
        if migrated { Status::Go } else { Status::NoGo },
        if migrated {
            format!("{} migrations applied", states.len())
        } else {
            format!(
                "pending: {} (run `tp-capital-migrate up`)",
                pending.join(", ")
            )
        },
    );
    let unfinished = if migrated {
        let holder = target::lock_holder(tgt).await?;
        p.add(
            "no other import running",
            if holder.is_none() {
                Status::Go
            } else {
                Status::Warn
            },
            holder.map_or_else(
                || "import lock free".to_owned(),
                |pid| {
                    format!(
                        "import lock held by backend pid {pid}: this run waits up to {} s for it",
                        target::LOCK_WAIT.as_secs()
                    )
                },
            ),
        );
        let run = target::unfinished_run(tgt, &source_key(&opts.source_url, &opts.schema)).await?;
        if let Some(r) = &run {
            p.add(
                "resume",
                Status::Warn,
                format!(
                    "import {} is {} (attempt {}, {} signals and {} messages read): it will resume from its checkpoint",
                    r.import_id, r.state, r.attempts, r.signals_read, r.messages_read
                ),
            );
        }
        run
    } else {
        None
    };

    let backup_dir = unfinished
        .as_ref()
        .and_then(|r| r.backup_dir.clone())
        .map_or_else(|| opts.backup_dir.clone(), PathBuf::from);
    let need = source::table_bytes(src, &shape).await?;
    match backup::free_bytes(&backup_dir) {
        Ok((existing, free)) => {
            let ok = free > need as u64 + (64 << 20);
            p.add(
                "backup space",
                if ok { Status::Go } else { Status::NoGo },
                format!(
                    "{}: {} MiB free on {}, legacy tables take {} MiB uncompressed (the backup is gzip-compressed)",
                    backup_dir.display(),
                    free >> 20,
                    existing.display(),
                    (need as u64) >> 20
                ),
            );
            p.add(
                "backup directory writable",
                if backup::writable(&existing) {
                    Status::Go
                } else {
                    Status::NoGo
                },
                existing.display().to_string(),
            );
        }
        Err(e) => p.add("backup space", Status::NoGo, e.to_string()),
    }
    Ok(Survey {
        preflight: p,
        shape,
        unfinished,
        legacy_rows,
    })
}

async fn resolve_channels(
    src: &mut PgConnection,
    shape: &LegacyShape,
) -> Result<
    (
        HashMap<String, ChannelResolution>,
        Vec<(Option<String>, i64)>,
    ),
    LegacyError,
> {
    let Some(sh) = &shape.signals else {
        return Ok((HashMap::new(), Vec::new()));
    };
    let values = source::distinct_values(src, shape, SIGNALS_TABLE, &sh.channel).await?;
    let telegram = source::telegram_channels(src, shape).await?;
    let names: Vec<String> = values.iter().filter_map(|(v, _)| v.clone()).collect();
    Ok((mapping::resolve_channels(&names, &telegram), values))
}

async fn signal_types(
    src: &mut PgConnection,
    shape: &LegacyShape,
) -> Result<Vec<report::SignalTypeRow>, LegacyError> {
    let Some(col) = shape.signals.as_ref().and_then(|s| s.signal_type.as_ref()) else {
        return Ok(Vec::new());
    };
    Ok(source::distinct_values(src, shape, SIGNALS_TABLE, col)
        .await?
        .into_iter()
        .map(|(legacy, rows)| report::SignalTypeRow {
            kind: legacy
                .as_deref()
                .and_then(kind_of)
                .map(|k| k.as_str().to_owned()),
            legacy,
            rows,
        })
        .collect())
}

fn channel_rows(
    channels: &HashMap<String, ChannelResolution>,
    counts: &[(Option<String>, i64)],
) -> Vec<report::ChannelRow> {
    let mut rows: Vec<report::ChannelRow> = counts
        .iter()
        .filter_map(|(v, n)| {
            v.as_ref()
                .and_then(|v| channels.get(v))
                .map(|r| report::ChannelRow {
                    resolution: r.clone(),
                    rows: *n,
                })
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.rows));
    rows
}

/// Runs `import-legacy`: a dry run, a new import, or the resume of an unfinished one.
pub async fn import_legacy(opts: &ImportOptions) -> Result<ImportOutcome, LegacyError> {
    let started = Instant::now();
    let mut src = source::connect(&opts.source_url, APPLICATION, true).await?;
    let mut tgt = source::connect(&opts.target_url, APPLICATION, false).await?;
    let survey = survey(opts, &mut src, &mut tgt).await?;
    print!("{}", survey.preflight.render());
    if !survey.preflight.go() {
        return Err(LegacyError::NoGo(survey.preflight.blocking()));
    }
    if opts.dry_run {
        dry_run(opts, &mut src, &mut tgt, &survey).await?;
        return Ok(ImportOutcome::DryRun);
    }
    let result = import(opts, &mut src, &mut tgt, survey, started).await;
    if let Err(e) = &result
        && !matches!(e, LegacyError::ValidationFailed(_) | LegacyError::Busy(_))
    {
        tracing::error!("import stopped: {e}; run the same command again to resume");
    }
    result
}

async fn import(
    opts: &ImportOptions,
    src: &mut PgConnection,
    tgt: &mut PgConnection,
    survey: Survey,
    started: Instant,
) -> Result<ImportOutcome, LegacyError> {
    let Survey {
        shape,
        mut unfinished,
        legacy_rows,
        ..
    } = survey;
    let Some(sh) = shape.signals.clone() else {
        return Err(LegacyError::NoGo("no legacy signals table".into()));
    };
    target::lock(tgt).await?;
    let key = source_key(&opts.source_url, &opts.schema);
    // Under the lock, the unfinished run is the one to resume (another may have finished it).
    if let Some(r) = &unfinished {
        unfinished = target::run_by_id(tgt, r.import_id)
            .await?
            .filter(|r| matches!(r.state.as_str(), "running" | "validating" | "failed"));
    }
    source::begin_snapshot(src).await?;
    let source_redacted = crate::redact_url(&opts.source_url);
    let (run, manifest) = match unfinished {
        Some(run) => {
            let dir = PathBuf::from(run.backup_dir.clone().unwrap_or_default());
            let manifest = match backup::verify(&dir) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!("{e}: taking the backup again");
                    backup::write(src, &shape, &dir, run.import_id, &source_redacted).await?
                }
            };
            target::resume_run(tgt, run.import_id).await?;
            tracing::info!(import_id = %run.import_id, attempt = run.attempts + 1, "resuming");
            (run, manifest)
        }
        None => {
            let import_id = Uuid::new_v4();
            let dir = opts.backup_dir.join(import_id.to_string());
            tracing::info!(dir = %dir.display(), "writing the backup");
            let manifest = backup::write(src, &shape, &dir, import_id, &source_redacted).await?;
            let run = target::create_run(
                tgt,
                import_id,
                &source_redacted,
                &key,
                &opts.schema,
                opts.batch_size,
                opts.writers,
                &dir.display().to_string(),
                Utc::now(),
            )
            .await?;
            tracing::info!(import_id = %import_id, "import started");
            (run, manifest)
        }
    };
    let import_id = run.import_id;
    let mut extra = Vec::new();
    for _ in 1..opts.writers.max(1) {
        extra.push(source::connect(&opts.target_url, APPLICATION, false).await?);
    }
    let mut writers: Vec<&mut PgConnection> =
        std::iter::once(&mut *tgt).chain(extra.iter_mut()).collect();
    let result = async {
        copy::prepare_writers(&mut writers).await?;
        copy_and_validate(
            opts,
            src,
            &mut writers,
            &shape,
            &sh,
            &run,
            manifest,
            &legacy_rows,
            started,
        )
        .await
    }
    .await;
    drop(writers);
    for c in extra {
        let _ = c.close().await;
    }
    match result {
        Ok(outcome) => Ok(outcome),
        Err(e) => {
            let _ = sea_orm::sqlx::query(
                "UPDATE legacy_import.runs SET error = $2 WHERE import_id = $1",
            )
            .bind(import_id)
            .bind(e.to_string())
            .execute(&mut *tgt)
            .await;
            Err(e)
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn copy_and_validate(
    opts: &ImportOptions,
    src: &mut PgConnection,
    writers: &mut [&mut PgConnection],
    shape: &LegacyShape,
    sh: &shape::SignalsShape,
    run: &target::Run,
    manifest: backup::BackupManifest,
    legacy_rows: &[(&'static str, i64)],
    started: Instant,
) -> Result<ImportOutcome, LegacyError> {
    let import_id = run.import_id;
    let (channels, channel_counts) = resolve_channels(src, shape).await?;
    let used: Vec<&ChannelResolution> = channels.values().collect();
    let Some(first) = writers.first_mut() else {
        return Err(LegacyError::NoGo("no target connection".into()));
    };
    target::insert_channels(first, import_id, &used).await?;
    let bounds = TimeBounds::for_run(run.started_at);
    let ctx = copy::CopyContext {
        shape,
        channels: &channels,
        bounds,
        batch_size: opts.batch_size.max(1),
        import_id,
    };
    if !run.signals_done {
        let total =
            source::count_signals_after(src, shape, sh, run.signals_checkpoint.as_deref()).await?;
        let mut progress = progress::Progress::new("signals", total as u64);
        copy::signals(
            src,
            writers,
            &ctx,
            sh,
            run.signals_checkpoint.clone(),
            &mut progress,
        )
        .await?;
        progress.finish();
    }
    if let Some(mh) = &shape.messages
        && !run.messages_done
    {
        let total =
            source::count_messages_after(src, shape, mh, run.messages_checkpoint.as_deref())
                .await?;
        let mut progress = progress::Progress::new("messages", total as u64);
        copy::messages(
            src,
            writers,
            &ctx,
            mh,
            run.messages_checkpoint.clone(),
            &mut progress,
        )
        .await?;
        progress.finish();
    }

    let Some(tgt) = writers.first_mut() else {
        return Err(LegacyError::NoGo("no target connection".into()));
    };
    let tgt: &mut PgConnection = tgt;
    target::set_state(tgt, import_id, "validating", None, None).await?;
    tracing::info!("validating");
    let imports = target::live_imports(tgt).await?;
    let types = signal_types(src, shape).await?;
    let type_values: Vec<String> = types.iter().filter_map(|t| t.legacy.clone()).collect();
    let validation = validate::validate(
        src,
        tgt,
        &validate::Context {
            shape,
            channels: &channels,
            signal_types: &type_values,
            import_id,
            imports: &imports,
            bounds,
            sample: opts.sample_size,
        },
    )
    .await?;
    source::end_snapshot(src).await?;

    let run = target::run_by_id(tgt, import_id)
        .await?
        .ok_or(LegacyError::UnknownImport(import_id))?;
    let (skip_counts, skipped) = target::skipped_summary(tgt, import_id, 10).await?;
    let legacy_of = |t: &str| {
        legacy_rows
            .iter()
            .find(|(name, _)| *name == t)
            .map_or(0, |(_, n)| *n)
    };
    let mut tables = vec![report::TableCounts {
        table: SIGNALS_TABLE.into(),
        legacy_rows: legacy_of(SIGNALS_TABLE),
        read: run.signals_read,
        inserted: run.signals_inserted,
        already_present: run.signals_read - run.signals_inserted - run.signals_skipped,
        skipped: run.signals_skipped,
    }];
    if shape.messages.is_some() {
        tables.push(report::TableCounts {
            table: MESSAGES_TABLE.into(),
            legacy_rows: legacy_of(MESSAGES_TABLE),
            read: run.messages_read,
            inserted: run.messages_inserted,
            already_present: run.messages_read - run.messages_inserted - run.messages_skipped,
            skipped: run.messages_skipped,
        });
    }
    let state = if validation.ok { "complete" } else { "failed" };
    let rows_read = (run.signals_read + run.messages_read) as f64;
    let report = Report {
        import_id,
        state: state.into(),
        source: run.source.clone(),
        schema: run.legacy_schema.clone(),
        target: crate::redact_url(&opts.target_url),
        started_at: run.started_at,
        finished_at: Utc::now(),
        duration_seconds: started.elapsed().as_secs_f64(),
        attempts: run.attempts,
        copy_seconds: run.copy_seconds,
        rows_per_second: if run.copy_seconds > 0.0 {
            rows_read / run.copy_seconds
        } else {
            0.0
        },
        batch_size: run.batch_size,
        backup: manifest,
        tables,
        skipped_by_reason: skip_counts
            .into_iter()
            .map(|(table, reason, rows)| report::SkipCount {
                table,
                reason,
                rows,
            })
            .collect(),
        skipped_rows: skipped
            .into_iter()
            .map(|(table, key, reason, detail)| report::SkippedRow {
                table,
                key,
                reason,
                detail,
            })
            .collect(),
        columns: shape.columns.clone(),
        findings: shape.findings.clone(),
        channels: channel_rows(&channels, &channel_counts),
        signal_types: types,
        validation,
        rollback_command: rollback_command(import_id),
    };
    let written = report::write(&report, &opts.report_dir)?;
    let validation_json = serde_json::json!({
        "ok": report.validation.ok,
        "signals": {"legacy_rows": report.validation.signals.legacy_rows,
                    "target_rows": report.validation.signals.target_rows,
                    "mismatched_buckets": report.validation.signals.mismatched_buckets},
        "messages": report.validation.messages.as_ref().map(|m| serde_json::json!({
            "legacy_rows": m.legacy_rows, "target_rows": m.target_rows,
            "mismatched_buckets": m.mismatched_buckets})),
        "sample_mismatches": report.validation.signal_sample.mismatches.len()
            + report.validation.message_sample.as_ref().map_or(0, |s| s.mismatches.len()),
        "report": written.json.display().to_string(),
    });
    let error =
        (!report.validation.ok).then(|| "validation found differences; see the report".to_owned());
    target::set_state(
        tgt,
        import_id,
        state,
        error.as_deref(),
        Some(&validation_json),
    )
    .await?;
    print_summary(&report, &written);
    if !report.validation.ok {
        return Err(LegacyError::ValidationFailed(format!(
            "{} signal buckets and {} message buckets differ, {} sampled rows differ; report: {}",
            report.validation.signals.mismatched_buckets,
            report
                .validation
                .messages
                .as_ref()
                .map_or(0, |m| m.mismatched_buckets),
            report.validation.signal_sample.mismatches.len()
                + report
                    .validation
                    .message_sample
                    .as_ref()
                    .map_or(0, |s| s.mismatches.len()),
            written.markdown.display()
        )));
    }
    Ok(ImportOutcome::Imported {
        report: Box::new(report),
        json: written.json,
        markdown: written.markdown,
    })
}

fn print_summary(r: &Report, written: &report::Written) {
    println!("Import {} {}", r.import_id, r.state);
    for t in &r.tables {
        println!(
            "  {:<20} legacy {:>9}  read {:>9}  inserted {:>9}  already present {:>9}  skipped {:>7}",
            t.table, t.legacy_rows, t.read, t.inserted, t.already_present, t.skipped
        );
    }
    println!(
        "  copy {:.1} s, {:.0} rows/s over {} attempt(s); whole run {:.1} s",
        r.copy_seconds, r.rows_per_second, r.attempts, r.duration_seconds
    );
    let v = &r.validation;
    println!(
        "  validation: signals {}/{} rows, {} buckets differ; {}",
        v.signals.target_rows,
        v.signals.legacy_rows,
        v.signals.mismatched_buckets,
        v.messages.as_ref().map_or_else(
            || "no archive".to_owned(),
            |m| format!(
                "messages {}/{} rows, {} buckets differ",
                m.target_rows, m.legacy_rows, m.mismatched_buckets
            )
        )
    );
    println!("  backup   {}", r.backup.dir.display());
    println!("  report   {}", written.markdown.display());
    println!("  report   {}", written.json.display());
    println!("  rollback {}", r.rollback_command);
}

/// The dry run: counts, the mapping of every row (read-only), and a sample of what would be
/// written. Nothing is written anywhere.
async fn dry_run(
    opts: &ImportOptions,
    src: &mut PgConnection,
    tgt: &mut PgConnection,
    survey: &Survey,
) -> Result<(), LegacyError> {
    let shape = &survey.shape;
    let Some(sh) = &shape.signals else {
        return Ok(());
    };
    source::begin_snapshot(src).await?;
    let (channels, counts) = resolve_channels(src, shape).await?;
    let bounds = TimeBounds::for_run(Utc::now());
    let mut would = 0u64;
    let mut skips: HashMap<&'static str, u64> = HashMap::new();
    let mut samples = Vec::new();
    let mut skip_samples = Vec::new();
    {
        let mut rows = sea_orm::sqlx::query(AssertSqlSafe(source::signals_query(shape, sh, false)))
            .fetch(&mut *src);
        while let Some(row) = rows.try_next().await.ctx("reading legacy signals")? {
            let legacy = source::decode_signal(&row)?;
            match map_signal(&legacy, &channels, &bounds) {
                Ok(m) => {
                    would += 1;
                    if samples.len() < 3 {
                        samples.push((legacy, m));
                    }
                }
                Err(s) => {
                    *skips.entry(s.code).or_default() += 1;
                    if skip_samples.len() < 5 {
                        skip_samples.push((legacy.id.clone(), s));
                    }
                }
            }
        }
    }
    let mut msg_would = 0u64;
    let mut msg_duplicates = 0;
    let mut msg_skips: HashMap<&'static str, u64> = HashMap::new();
    if let Some(mh) = &shape.messages {
        msg_duplicates = source::count_message_duplicates(src, shape, mh).await?;
        let mut rows =
            sea_orm::sqlx::query(AssertSqlSafe(source::messages_query(shape, mh, false)))
                .fetch(&mut *src);
        while let Some(row) = rows.try_next().await.ctx("reading legacy messages")? {
            let legacy = source::decode_message(&row)?;
            match map_message(&legacy, &bounds) {
                Ok(_) => msg_would += 1,
                Err(s) => *msg_skips.entry(s.code).or_default() += 1,
            }
        }
    }
    source::end_snapshot(src).await?;
    let already = tgt_count(
        tgt,
        "SELECT count(*) FROM signals.signals WHERE legacy_id IS NOT NULL",
    )
    .await?;

    println!("\nDry run (nothing written: no backup, no run record, no rows)");
    for (t, n) in &survey.legacy_rows {
        println!("  legacy {t:<20} {n:>9} rows");
    }
    println!("  signals that map:      {would:>9}");
    let mut sk: Vec<_> = skips.into_iter().collect();
    sk.sort();
    for (code, n) in sk {
        println!("  signals skipped:       {n:>9}  {code}");
    }
    if shape.messages.is_some() {
        println!(
            "  messages that map:     {msg_would:>9} (of which {msg_duplicates} repeat an earlier delivery and are stored once)"
        );
        let mut mk: Vec<_> = msg_skips.into_iter().collect();
        mk.sort();
        for (code, n) in mk {
            println!("  messages skipped:      {n:>9}  {code}");
        }
    }
    println!("  already in the target: {already:>9} signals with a legacy id");
    println!("\nChannels");
    for c in channel_rows(&channels, &counts) {
        println!(
            "  {:<28} -> {:>20}  {:?}{}  ({} rows)",
            c.resolution.legacy,
            c.resolution.channel_id,
            c.resolution.how,
            c.resolution
                .label
                .as_deref()
                .map(|l| format!(" label '{l}'"))
                .unwrap_or_default(),
            c.rows
        );
    }
    println!("\nSample mapping");
    for (legacy, m) in &samples {
        println!(
            "  legacy {} ts {} channel {:?} type {:?} asset {:?} prices {:?}",
            legacy.id,
            legacy.ts.map(|t| t.to_rfc3339()).unwrap_or_default(),
            legacy.channel,
            legacy.signal_type,
            legacy.asset,
            legacy.prices
        );
        println!(
            "    -> signals.signals legacy_id {} channel_id {} message_id {} message_date {} asset {} kind {:?} entry {:?}..{:?} targets {:?} final {:?} stop {:?} direction long status open parser_version {}",
            m.legacy_id,
            m.channel_id,
            m.message_id,
            m.message_date.to_rfc3339(),
            m.asset,
            m.kind.map(|k| k.as_str()),
            m.entry_min.map(|p| p.to_string()),
            m.entry_max.map(|p| p.to_string()),
            m.targets.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            m.target_final.map(|p| p.to_string()),
            m.stop.map(|p| p.to_string()),
            mapping::PARSER_VERSION
        );
    }
    for (id, s) in &skip_samples {
        println!("  legacy {id} -> skipped: {} ({})", s.code, s.detail);
    }
    println!(
        "\nA real run writes the backup under {} and the report under {}.",
        opts.backup_dir.display(),
        opts.report_dir.display()
    );
    Ok(())
}

async fn tgt_count(conn: &mut PgConnection, sql: &'static str) -> Result<i64, LegacyError> {
    let row = sea_orm::sqlx::query(sql)
        .fetch_one(&mut *conn)
        .await
        .ctx("counting target rows")?;
    row.try_get(0).ctx("counting target rows")
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
