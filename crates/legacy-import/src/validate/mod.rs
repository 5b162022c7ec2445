//! Proof that the target holds what the legacy database holds, and that every legacy row is
//! accounted for: per day and per channel, the legacy rows = the rows imported + the rows
//! skipped (with their recorded reasons), and the imported rows' checksum equals the checksum
//! the legacy side computes in SQL from its own columns (the legacy side re-derives the mapping
//! declaratively, so a wrong conversion in the copy shows up as a mismatch). Every recorded
//! skip is re-derived from its legacy row (a row skipped for a wrong reason, or that maps, is a
//! mismatch), and random rows are compared field by field.
//!
//! A bucket's checksum is the sum of the first 64 bits of `md5(normalised row text)` over its
//! rows: independent of row order, constant memory (no giant `string_agg`), and a single changed
//! field changes it with probability 1 - 2^-64.

mod sample;
mod skips;
mod sums;

use std::collections::HashMap;

use sea_orm::sqlx::{AssertSqlSafe, PgConnection};
use serde::Serialize;
use uuid::Uuid;

use super::error::LegacyError;
use super::mapping::{ChannelResolution, TimeBounds, kind_of};
use super::shape::{LegacyShape, MESSAGES_TABLE, SIGNALS_TABLE};

pub use skips::SkipCheck;

/// One bucket on both sides.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Bucket {
    /// `day` or `channel`.
    pub dimension: &'static str,
    /// The day (`YYYY-MM-DD`, or `no day`) or the channel id (or `no channel`).
    pub bucket: String,
    /// Every legacy row of the bucket.
    pub source_rows: i64,
    /// Of which recorded as skipped.
    pub skipped_rows: i64,
    /// Legacy rows expected in the target (`source_rows - skipped_rows`).
    pub legacy_rows: i64,
    /// Target rows.
    pub target_rows: i64,
    /// Legacy checksum (of the rows expected in the target).
    pub legacy_checksum: String,
    /// Target checksum.
    pub target_checksum: String,
}

impl Bucket {
    /// Source = imported + skipped, and the checksums agree.
    pub fn matches(&self) -> bool {
        self.source_rows == self.target_rows + self.skipped_rows
            && self.legacy_rows == self.target_rows
            && self.legacy_checksum == self.target_checksum
    }
}

/// The comparison of one table.
#[derive(Debug, Clone, Serialize)]
pub struct TableCheck {
    /// Legacy table.
    pub table: &'static str,
    /// Every legacy row.
    pub source_rows: i64,
    /// Of which recorded as skipped.
    pub skipped_rows: i64,
    /// Legacy rows expected in the target.
    pub legacy_rows: i64,
    /// Target rows from legacy imports.
    pub target_rows: i64,
    /// Every bucket, days then channels.
    pub buckets: Vec<Bucket>,
    /// How many buckets disagree.
    pub mismatched_buckets: usize,
}

impl TableCheck {
    /// Counts and every bucket agree.
    pub fn ok(&self) -> bool {
        self.legacy_rows == self.target_rows
            && self.source_rows == self.target_rows + self.skipped_rows
            && self.mismatched_buckets == 0
    }
}

/// Random rows compared field by field.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SampleCheck {
    /// Legacy rows compared.
    pub compared: usize,
    /// Of which were skipped rows (checked absent and recorded).
    pub skipped_rows: usize,
    /// Every difference found.
    pub mismatches: Vec<String>,
}

/// The whole validation.
#[derive(Debug, Clone, Serialize)]
pub struct Validation {
    /// Everything agrees.
    pub ok: bool,
    /// Signals.
    pub signals: TableCheck,
    /// Every recorded skip of a signal, re-derived from its legacy row.
    pub signal_skips: SkipCheck,
    /// Archived messages, when the legacy archive exists.
    pub messages: Option<TableCheck>,
    /// The signal sample.
    pub signal_sample: SampleCheck,
    /// The message sample.
    pub message_sample: Option<SampleCheck>,
}

/// What validation needs to know about the run.
#[derive(Debug)]
pub struct Context<'a> {
    /// The legacy schema.
    pub shape: &'a LegacyShape,
    /// Resolved channels.
    pub channels: &'a HashMap<String, ChannelResolution>,
    /// Distinct legacy signal types.
    pub signal_types: &'a [String],
    /// Every live import of this legacy database (the target scope, and whose skipped rows
    /// count).
    pub imports: &'a [Uuid],
    /// This run's time bounds.
    pub bounds: TimeBounds,
    /// Rows to compare field by field, per table.
    pub sample: usize,
}

/// Compares both sides; `ok` only when every count, checksum, recorded skip and sampled field
/// agrees.
pub async fn validate(
    src: &mut PgConnection,
    tgt: &mut PgConnection,
    ctx: &Context<'_>,
) -> Result<Validation, LegacyError> {
    let Some(sh) = &ctx.shape.signals else {
        return Err(LegacyError::NoGo("no legacy signals table".into()));
    };
    let (mut legacy_channels, mut ids) = (Vec::new(), Vec::new());
    for c in ctx.channels.values() {
        legacy_channels.push(c.legacy.clone());
        ids.push(c.channel_id);
    }
    let (mut types, mut kinds) = (Vec::new(), Vec::new());
    for t in ctx.signal_types {
        if let Some(k) = kind_of(t) {
            types.push(t.clone());
            kinds.push(k.as_str().to_owned());
        }
    }
    let skipped = super::target::skipped_keys(tgt, ctx.imports, SIGNALS_TABLE).await?;
    let keys: Vec<String> = skipped.iter().map(|(k, _)| k.clone()).collect();
    let legacy = sums::sums(
        src,
        sea_orm::sqlx::query(AssertSqlSafe(sums::legacy_signals_sql(ctx.shape, sh)))
            .bind(legacy_channels)
            .bind(ids)
            .bind(types)
            .bind(kinds)
            .bind(keys),
        "legacy signal checksums",
    )
    .await?;
    let target = sums::sums(
        tgt,
        sea_orm::sqlx::query(AssertSqlSafe(format!(
            "{}{}",
            sums::TARGET_SIGNALS,
            sums::GROUPED
        )))
        .bind(ctx.imports.to_vec()),
        "target signal checksums",
    )
    .await?;
    let signals = sums::compare(SIGNALS_TABLE, legacy, target);
    let signal_skips = skips::recheck(src, ctx, sh, &skipped).await?;
    let signal_sample = sample::signals(src, tgt, ctx, sh).await?;

    let (messages, message_sample) = match &ctx.shape.messages {
        Some(mh) => {
            let legacy = sums::sums(
                src,
                sea_orm::sqlx::query(AssertSqlSafe(sums::legacy_messages_sql(ctx.shape, mh)))
                    .bind(ctx.bounds.from)
                    .bind(ctx.bounds.until),
                "legacy message checksums",
            )
            .await?;
            let target = sums::sums(
                tgt,
                sea_orm::sqlx::query(AssertSqlSafe(format!(
                    "{}{}",
                    sums::TARGET_MESSAGES,
                    sums::GROUPED
                )))
                .bind(ctx.imports.to_vec()),
                "target message checksums",
            )
            .await?;
            (
                Some(sums::compare(MESSAGES_TABLE, legacy, target)),
                Some(sample::messages(src, tgt, ctx, mh).await?),
            )
        }
        None => (None, None),
    };
    let ok = signals.ok()
        && signal_skips.mismatches.is_empty()
        && signal_sample.mismatches.is_empty()
        && messages.as_ref().is_none_or(TableCheck::ok)
        && message_sample
            .as_ref()
            .is_none_or(|s| s.mismatches.is_empty());
    Ok(Validation {
        ok,
        signals,
        signal_skips,
        messages,
        signal_sample,
        message_sample,
    })
}
