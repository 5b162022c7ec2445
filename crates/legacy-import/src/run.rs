//! A real run: lock, backup (or resume), channels, the batched copy, validation and the report.

use std::path::PathBuf;
use std::time::Instant;

use chrono::Utc;
use sea_orm::sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::error::LegacyError;
use crate::mapping::{ChannelResolution, TimeBounds};
use crate::shape::{self, LegacyShape, MESSAGES_TABLE, SIGNALS_TABLE};
use crate::survey::{Survey, channel_rows, resolve_channels, signal_types};
use crate::{APPLICATION, rollback_command, source_key};
use crate::{
    ImportOptions, ImportRun, Report, backup, copy, progress, report, source, target, validate,
};

pub(crate) async fn import(
    opts: &ImportOptions,
    src: &mut PgConnection,
    tgt: &mut PgConnection,
    survey: Survey,
    started: Instant,
) -> Result<ImportRun, LegacyError> {
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
    let key = source_key(&opts.source_url, &shape.schema);
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
            let (dir, manifest) = match reusable_backup(tgt, &key, &legacy_rows).await? {
                Some(m) => (m.dir.clone(), m),
                None => {
                    let dir = opts.backup_dir.join(import_id.to_string());
                    tracing::info!(dir = %dir.display(), "writing the backup");
                    let m = backup::write(src, &shape, &dir, import_id, &source_redacted).await?;
                    (dir, m)
                }
            };
            let run = target::create_run(
                tgt,
                import_id,
                &source_redacted,
                &key,
                &shape.schema,
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

/// The backup of the last complete import of this legacy database, when it is intact and the
/// legacy tables still hold as many rows as it saved: a re-run keeps it instead of writing
/// another full copy (the tool never writes to the legacy database).
async fn reusable_backup(
    tgt: &mut PgConnection,
    key: &str,
    legacy_rows: &[(&'static str, i64)],
) -> Result<Option<backup::BackupManifest>, LegacyError> {
    let Some(dir) = target::last_complete_run(tgt, key)
        .await?
        .and_then(|r| r.backup_dir)
    else {
        return Ok(None);
    };
    let Ok(manifest) = backup::verify(std::path::Path::new(&dir)) else {
        tracing::warn!(
            dir,
            "the last import's backup does not verify: writing a new one"
        );
        return Ok(None);
    };
    let unchanged = legacy_rows.iter().all(|(table, n)| {
        manifest
            .files
            .iter()
            .any(|f| f.table == *table && f.rows == *n as u64)
    });
    if unchanged {
        tracing::info!(
            dir,
            import_id = %manifest.import_id,
            "the legacy tables hold the rows this backup saved: kept, no new backup"
        );
        Ok(Some(manifest))
    } else {
        Ok(None)
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
) -> Result<ImportRun, LegacyError> {
    let import_id = run.import_id;
    let (channels, channel_counts) = resolve_channels(src, shape).await?;
    let used: Vec<&ChannelResolution> = channels.values().collect();
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
    // After the copy: a channel only gets a row when one of its signals was imported (a
    // channel whose rows were all skipped, such as the legacy `system` bookkeeping, gets none).
    target::insert_channels(tgt, import_id, &used).await?;
    target::set_state(tgt, import_id, "validating", None, None).await?;
    tracing::info!("validating");
    let imports = target::live_imports(tgt, &source_key(&opts.source_url, &shape.schema)).await?;
    let types = signal_types(src, shape).await?;
    let type_values: Vec<String> = types.iter().filter_map(|t| t.legacy.clone()).collect();
    let validation = validate::validate(
        src,
        tgt,
        &validate::Context {
            shape,
            channels: &channels,
            signal_types: &type_values,
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
    let (skip_counts, skipped) = target::skipped_summary(tgt, &imports, 10).await?;
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
        shape: shape.name(),
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
        "wrong_skips": report.validation.signal_skips.wrong,
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
            "{} signal buckets and {} message buckets differ, {} recorded skips are wrong, {} sampled rows differ; report: {}",
            report.validation.signals.mismatched_buckets,
            report
                .validation
                .messages
                .as_ref()
                .map_or(0, |m| m.mismatched_buckets),
            report.validation.signal_skips.wrong,
            report.validation.signal_sample.mismatches.len()
                + report
                    .validation
                    .message_sample
                    .as_ref()
                    .map_or(0, |s| s.mismatches.len()),
            written.markdown.display()
        )));
    }
    Ok(ImportRun::Imported {
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
    println!("  shape    {}", r.shape);
    println!(
        "  reconciled: {} legacy signals = {} imported + {} skipped; {} recorded skips re-derived, {} wrong",
        v.signals.source_rows,
        v.signals.target_rows,
        v.signals.skipped_rows,
        v.signal_skips.rechecked,
        v.signal_skips.wrong
    );
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
