//! Pre-flight: both ends, the legacy shape, the target's state, the backup's room; read only.

use std::collections::HashMap;
use std::path::PathBuf;

use sea_orm::sqlx::PgConnection;

use crate::error::LegacyError;
use crate::mapping::{self, ChannelResolution};
use crate::preflight::{Preflight, Status};
use crate::shape::{self, LegacyShape, MESSAGES_TABLE, SIGNALS_TABLE, Severity};
use crate::{ImportOptions, backup, report, source, target};
use crate::{MIN_SOURCE_VERSION, source_key};

/// Legacy ids pre-flight maps for real (not only by declared type).
const ID_SAMPLE: i64 = 1000;

/// What pre-flight found.
pub(crate) struct Survey {
    pub(crate) preflight: Preflight,
    pub(crate) shape: LegacyShape,
    pub(crate) unfinished: Option<target::Run>,
    pub(crate) legacy_rows: Vec<(&'static str, i64)>,
}

/// Pre-flight: everything is read, nothing is written.
pub(crate) async fn survey(
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
    let shape = shape::detect(src, opts.schema.as_deref()).await?;
    let present: Vec<String> = shape
        .relations
        .iter()
        .map(|r| format!("{}.{} ({})", r.schema, r.name, r.kind))
        .collect();
    p.add(
        "legacy tables present",
        if shape.signals.is_some() {
            Status::Go
        } else {
            Status::NoGo
        },
        present.join(", "),
    );
    p.add(
        "legacy shape",
        if shape.signals.is_some() {
            Status::Go
        } else {
            Status::NoGo
        },
        shape.name(),
    );
    if let Some(sh) = &shape.signals {
        let ids = crate::ids::sample_ids(src, &shape, sh, ID_SAMPLE).await?;
        p.add("legacy ids map", ids.status(), ids.to_string());
    }
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
    let pending = &opts.target_schema.pending;
    let migrated = pending.is_empty();
    p.add(
        "target migrated",
        if migrated { Status::Go } else { Status::NoGo },
        if migrated {
            format!("{} migrations applied", opts.target_schema.applied)
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
        let run = target::unfinished_run(tgt, &source_key(&opts.source_url, &shape.schema)).await?;
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
                    "{}: {} MiB free on {}, legacy tables take {:.1} MiB uncompressed, chunks and partitions included (the backup is gzip-compressed)",
                    backup_dir.display(),
                    free >> 20,
                    existing.display(),
                    need as f64 / 1_048_576.0
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

pub(crate) async fn resolve_channels(
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

pub(crate) async fn signal_types(
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
            kind: legacy.as_deref().map(mapping::kind_label),
            legacy,
            rows,
        })
        .collect())
}

pub(crate) fn channel_rows(
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
