//! The import report, written as JSON (for tools) and Markdown (for the change record): counts,
//! checksums, duration and rate, skipped rows with their reasons, and the rollback command.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::backup::BackupManifest;
use super::error::LegacyError;
use super::mapping::ChannelResolution;
use super::shape::{ColumnMapping, Severity};
use super::validate::{TableCheck, Validation};

/// Rows of one legacy table through the import.
#[derive(Debug, Clone, Serialize)]
pub struct TableCounts {
    /// Legacy table.
    pub table: String,
    /// Rows in the legacy table.
    pub legacy_rows: i64,
    /// Rows read by this import (every attempt).
    pub read: i64,
    /// Rows new in the target.
    pub inserted: i64,
    /// Rows already in the target (an earlier import, or a duplicate delivery).
    pub already_present: i64,
    /// Rows not imported, with a recorded reason.
    pub skipped: i64,
}

/// Skipped rows of one reason.
#[derive(Debug, Clone, Serialize)]
pub struct SkipCount {
    /// Legacy table.
    pub table: String,
    /// Reason code.
    pub reason: String,
    /// Rows.
    pub rows: i64,
}

/// One skipped row.
#[derive(Debug, Clone, Serialize)]
pub struct SkippedRow {
    /// Legacy table.
    pub table: String,
    /// Its legacy key.
    pub key: String,
    /// Reason code.
    pub reason: String,
    /// The reason with values.
    pub detail: String,
}

/// A resolved legacy channel and how many rows name it.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelRow {
    /// The resolution.
    #[serde(flatten)]
    pub resolution: ChannelResolution,
    /// Legacy rows.
    pub rows: i64,
}

/// A legacy signal type and the kind it became.
#[derive(Debug, Clone, Serialize)]
pub struct SignalTypeRow {
    /// The legacy value (`None` = NULL).
    pub legacy: Option<String>,
    /// The kind, `None` when not recognised (the channel default applies).
    pub kind: Option<String>,
    /// Legacy rows.
    pub rows: i64,
}

/// Everything about one import.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The import id.
    pub import_id: Uuid,
    /// `complete` or `failed`.
    pub state: String,
    /// The legacy database, password hidden.
    pub source: String,
    /// The legacy schema.
    pub schema: String,
    /// The legacy shape pre-flight found (layout, relations, id and time types).
    pub shape: String,
    /// The target database, password hidden.
    pub target: String,
    /// When the first attempt started.
    pub started_at: DateTime<Utc>,
    /// When this report was written.
    pub finished_at: DateTime<Utc>,
    /// Wall time of this attempt (pre-flight, backup, copy, validation).
    pub duration_seconds: f64,
    /// Attempts (1 + resumes after a crash or kill).
    pub attempts: i32,
    /// Time spent copying over every attempt.
    pub copy_seconds: f64,
    /// Rows read per second of copying.
    pub rows_per_second: f64,
    /// Batch size.
    pub batch_size: i32,
    /// The backup.
    pub backup: BackupManifest,
    /// Per legacy table.
    pub tables: Vec<TableCounts>,
    /// Skipped rows per reason.
    pub skipped_by_reason: Vec<SkipCount>,
    /// Up to 10 skipped rows per reason (all of them are in `legacy_import.skipped_rows`).
    pub skipped_rows: Vec<SkippedRow>,
    /// What each legacy column became.
    pub columns: Vec<ColumnMapping>,
    /// Findings about the legacy schema.
    pub findings: Vec<(Severity, String)>,
    /// Legacy channels and their ids.
    pub channels: Vec<ChannelRow>,
    /// Legacy signal types and their kinds.
    pub signal_types: Vec<SignalTypeRow>,
    /// Counts, checksums and the sample.
    pub validation: Validation,
    /// Undoes exactly this import.
    pub rollback_command: String,
}

/// The paths written.
#[derive(Debug, Clone)]
pub struct Written {
    /// The JSON report.
    pub json: PathBuf,
    /// The Markdown report.
    pub markdown: PathBuf,
}

/// Writes `import-<id>.json` and `import-<id>.md` into `dir` (created).
pub fn write(report: &Report, dir: &Path) -> Result<Written, LegacyError> {
    let fail = |e: std::io::Error| LegacyError::Report(format!("{}: {e}", dir.display()));
    fs::create_dir_all(dir).map_err(fail)?;
    let json = dir.join(format!("import-{}.json", report.import_id));
    let markdown = dir.join(format!("import-{}.md", report.import_id));
    let body = serde_json::to_vec_pretty(report)
        .map_err(|e| LegacyError::Report(format!("serialising: {e}")))?;
    fs::write(&json, body).map_err(fail)?;
    fs::write(&markdown, render(report)).map_err(fail)?;
    Ok(Written { json, markdown })
}

fn table_check(md: &mut String, check: &TableCheck) {
    let _ = writeln!(
        md,
        "\n### `{}`: {} legacy rows = {} in the target + {} skipped ({}), {} of {} buckets differ\n",
        check.table,
        check.source_rows,
        check.target_rows,
        check.skipped_rows,
        if check.source_rows == check.target_rows + check.skipped_rows {
            "reconciled"
        } else {
            "**NOT RECONCILED**"
        },
        check.mismatched_buckets,
        check.buckets.len()
    );
    for dim in ["channel", "day"] {
        let _ = writeln!(
            md,
            "| {dim} | legacy rows | skipped | target rows | legacy checksum | target checksum | |\n|---|---:|---:|---:|---|---|---|"
        );
        for b in check.buckets.iter().filter(|b| b.dimension == dim) {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | `{}` | `{}` | {} |",
                b.bucket,
                b.source_rows,
                b.skipped_rows,
                b.target_rows,
                b.legacy_checksum,
                b.target_checksum,
                if b.matches() { "ok" } else { "**DIFFERS**" }
            );
        }
        md.push('\n');
    }
}

/// The Markdown form.
pub fn render(r: &Report) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Legacy import {}\n", r.import_id);
    let _ = writeln!(
        md,
        "- **State**: {}\n- **Source**: `{}` schema `{}`\n- **Legacy shape**: {}\n- **Target**: `{}`\n- **Started**: {}\n- **Finished**: {}\n- **Attempts**: {} (a value above 1 means the run was resumed from its checkpoint)\n- **Duration of this attempt**: {:.1} s\n- **Copy**: {:.1} s, **{:.0} rows/s** (batch size {})\n- **Validation**: {}\n",
        r.state,
        r.source,
        r.schema,
        r.shape,
        r.target,
        r.started_at.to_rfc3339(),
        r.finished_at.to_rfc3339(),
        r.attempts,
        r.duration_seconds,
        r.copy_seconds,
        r.rows_per_second,
        r.batch_size,
        if r.validation.ok {
            "every count, checksum and sampled row agrees"
        } else {
            "**MISMATCH** (see below); the import is not complete"
        }
    );
    let _ = writeln!(
        md,
        "## Rollback\n\n```sh\n{}\n```\n\nRemoves exactly the rows tagged with this import id (signals, their revisions and status events, archived messages, and channels only this import created).\n",
        r.rollback_command
    );
    let _ = writeln!(
        md,
        "## Rows\n\n| legacy table | legacy rows | read | inserted | already present | skipped |\n|---|---:|---:|---:|---:|---:|"
    );
    for t in &r.tables {
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {} | {} | {} |",
            t.table, t.legacy_rows, t.read, t.inserted, t.already_present, t.skipped
        );
    }
    let _ = writeln!(md, "\n## Skipped rows\n");
    if r.skipped_by_reason.is_empty() {
        let _ = writeln!(md, "None.");
    } else {
        let _ = writeln!(md, "| table | reason | rows |\n|---|---|---:|");
        for s in &r.skipped_by_reason {
            let _ = writeln!(md, "| `{}` | `{}` | {} |", s.table, s.reason, s.rows);
        }
        let _ = writeln!(
            md,
            "\nUp to 10 of each reason (all {} are in `legacy_import.skipped_rows`):\n\n| table | key | reason | detail |\n|---|---|---|---|",
            r.skipped_by_reason.iter().map(|s| s.rows).sum::<i64>()
        );
        for s in &r.skipped_rows {
            let _ = writeln!(
                md,
                "| `{}` | `{}` | `{}` | {} |",
                s.table,
                s.key,
                s.reason,
                s.detail.replace('|', "\\|")
            );
        }
    }
    let _ = writeln!(md, "\n## Validation");
    table_check(&mut md, &r.validation.signals);
    let s = &r.validation.signal_skips;
    let _ = writeln!(
        md,
        "Recorded skips of signals re-derived from their legacy rows: {} recorded, {} re-read, {} wrong.",
        s.recorded, s.rechecked, s.wrong
    );
    for m in &s.mismatches {
        let _ = writeln!(md, "- {m}");
    }
    if let Some(m) = &r.validation.messages {
        table_check(&mut md, m);
    }
    for (name, sample) in [
        ("signals", Some(&r.validation.signal_sample)),
        ("messages", r.validation.message_sample.as_ref()),
    ] {
        if let Some(s) = sample {
            let _ = writeln!(
                md,
                "Random {name} compared field by field: {} ({} of them skipped rows, checked absent and recorded), {} differences.",
                s.compared,
                s.skipped_rows,
                s.mismatches.len()
            );
            for m in &s.mismatches {
                let _ = writeln!(md, "- {m}");
            }
            md.push('\n');
        }
    }
    let _ = writeln!(
        md,
        "## Backup\n\n`{}`\n\n| file | rows | bytes | sha256 |\n|---|---:|---:|---|",
        r.backup.dir.display()
    );
    for f in &r.backup.files {
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | `{}` |",
            f.file, f.rows, f.bytes, f.sha256
        );
    }
    let _ = writeln!(md, "\nRestore: `{}`\n", r.backup.restore_command);
    let _ = writeln!(
        md,
        "## Channels\n\n| legacy value | channel id | how | label | rows |\n|---|---:|---|---|---:|"
    );
    for c in &r.channels {
        let _ = writeln!(
            md,
            "| {} | {} | {:?} | {} | {} |",
            c.resolution.legacy,
            c.resolution.channel_id,
            c.resolution.how,
            c.resolution.label.as_deref().unwrap_or("-"),
            c.rows
        );
    }
    let _ = writeln!(
        md,
        "\n## Signal types\n\n| legacy value | kind | rows |\n|---|---|---:|"
    );
    for t in &r.signal_types {
        let _ = writeln!(
            md,
            "| {} | {} | {} |",
            t.legacy.as_deref().unwrap_or("NULL"),
            t.kind
                .as_deref()
                .unwrap_or("(none: channel default applies)"),
            t.rows
        );
    }
    let _ = writeln!(
        md,
        "\n## Column mapping\n\n| table | column | type | becomes |\n|---|---|---|---|"
    );
    for c in &r.columns {
        let _ = writeln!(
            md,
            "| `{}` | `{}` | {} | {} |",
            c.table, c.column, c.sql_type, c.target
        );
    }
    if !r.findings.is_empty() {
        let _ = writeln!(md, "\n## Findings\n");
        for (s, f) in &r.findings {
            let _ = writeln!(md, "- {s:?}: {f}");
        }
    }
    md
}
