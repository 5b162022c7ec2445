//! Periodic upkeep, the same on every edition: expiring signals whose validity passed, applying
//! the configured retention (`drop_chunks` on hypertables, `DELETE` on plain PostgreSQL; no
//! Timescale policy, see migration `m20251207_000013`), folding the exact rollups' deltas, and keeping the search indexes of `signals.signals` (see
//! `search_indexes`: whole ones for closed weeks, partial ones below the hour for the open week,
//! so the ingest does not pay for them). Safe to call from every replica: one runs it, the others skip.

use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::model::b3_today;
use domain::ports::{SignalEvent, StoreError};
use sea_orm::{ConnectionTrait, DatabaseTransaction, Statement, TransactionTrait};

use crate::error::map_db_err;
use crate::rollups;
use crate::search_indexes::{SEARCH_INDEX_DELAY, extension_schema};
use crate::store::{PgStore, stmt, timed};

/// The transaction-scoped advisory lock key of maintenance (`tpcmaint`).
const LOCK_KEY: i64 = 0x7470_636d_6169_6e74;

/// Upper bound of one maintenance run.
const MAINTENANCE_TIMEOUT: Duration = Duration::from_secs(600);

/// How statistics are aggregated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateMode {
    /// A continuous aggregate (before migration `m20251207_000013`).
    ContinuousAggregate,
    /// A materialized view (before migration `m20251207_000013`).
    MaterializedView,
    /// Exact rollups kept by triggers, folded by [`PgStore::maintenance`]: every edition.
    Rollup,
}

impl AggregateMode {
    /// The name stored in `metrics.capabilities`.
    pub fn as_str(self) -> &'static str {
        match self {
            AggregateMode::ContinuousAggregate => "continuous_aggregate",
            AggregateMode::MaterializedView => "materialized_view",
            AggregateMode::Rollup => "rollup",
        }
    }
}

/// How retention is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetentionMode {
    /// TimescaleDB retention policies (before migration `m20251207_000013`); treated as
    /// [`RetentionMode::DropChunks`].
    Policy,
    /// `drop_chunks` on the hypertables.
    DropChunks,
    /// `DELETE` of old rows.
    Delete,
}

/// The mode the schema was created in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreCapabilities {
    /// The TimescaleDB version, when installed.
    pub timescaledb_version: Option<String>,
    /// Whether the time-partitioned tables are hypertables.
    pub hypertables: bool,
    /// How the hourly aggregate is maintained.
    pub aggregate: AggregateMode,
    /// How retention is applied.
    pub retention: RetentionMode,
}

/// How long data is kept; `None` keeps it forever.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// Raw archived messages (SPEC: 30 days).
    pub messages: Option<Duration>,
    /// Per-batch processing stats (SPEC: 30 days).
    pub processing_stats: Option<Duration>,
    /// Signals with their history (SPEC: kept by default; the legacy 90 days is an option).
    pub signals: Option<Duration>,
}

impl RetentionMode {
    /// The name stored in `metrics.capabilities`.
    pub fn as_str(self) -> &'static str {
        match self {
            RetentionMode::Policy => "policy",
            RetentionMode::DropChunks => "drop_chunks",
            RetentionMode::Delete => "delete",
        }
    }
}

impl Retention {
    /// Whole days of `keep`, 0 for keep-forever (as `TP_CAPITAL_*_RETENTION_DAYS` say).
    pub fn days(keep: Option<Duration>) -> i32 {
        keep.map_or(0, |d| {
            i32::try_from(d.as_secs() / (24 * 3600)).unwrap_or(i32::MAX)
        })
    }
}

impl Default for Retention {
    fn default() -> Self {
        const DAY: u64 = 24 * 3600;
        Self {
            messages: Some(Duration::from_secs(30 * DAY)),
            processing_stats: Some(Duration::from_secs(30 * DAY)),
            signals: None,
        }
    }
}

/// What retention removed from one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    /// Nothing is kept-limited, or a policy does it.
    Nothing,
    /// Whole chunks dropped.
    Chunks(u64),
    /// Rows deleted.
    Rows(u64),
}

/// The result of one [`PgStore::maintenance`] run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceReport {
    /// Another replica held the maintenance lock: this run did nothing.
    pub skipped: bool,
    /// Rollup deltas folded into the rollups.
    pub deltas_folded: u64,
    /// Signals this run marked `expired` (their validity passed), as events to publish.
    pub expired: Vec<SignalEvent>,
    /// Raw messages removed.
    pub messages: Removed,
    /// Processing stats removed.
    pub processing_stats: Removed,
    /// Signals removed (with their revisions and status history).
    pub signals: Removed,
    /// Search indexes built on closed weeks of `signals.signals` (TimescaleDB only).
    pub search_indexes_built: Vec<String>,
}

fn cutoff(now: DateTime<Utc>, keep: Duration) -> Result<DateTime<Utc>, StoreError> {
    chrono::Duration::from_std(keep)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .ok_or_else(|| StoreError::Internal(format!("retention {keep:?} is out of range")))
}

async fn scalar_i64(tx: &DatabaseTransaction, what: &str, s: Statement) -> Result<i64, StoreError> {
    let row = tx
        .query_one_raw(s)
        .await
        .map_err(|e| map_db_err(what, e))?
        .ok_or_else(|| StoreError::Internal(format!("{what}: no row")))?;
    row.try_get_by_index::<i64>(0)
        .map_err(|e| map_db_err(what, e))
}

impl PgStore {
    /// The mode recorded by the migrations.
    pub async fn capabilities(&self) -> Result<StoreCapabilities, StoreError> {
        self.timed("capabilities", async {
            let row = self
                .db
                .query_one_raw(stmt(
                    "SELECT timescaledb_version, hypertables, aggregate_mode, retention_mode
                     FROM metrics.capabilities WHERE singleton",
                    [],
                ))
                .await
                .map_err(|e| map_db_err("capabilities", e))?
                .ok_or_else(|| {
                    StoreError::Internal("metrics.capabilities is empty: run the migrations".into())
                })?;
            let get = |c: &str| {
                row.try_get::<String>("", c)
                    .map_err(|e| map_db_err("capabilities", e))
            };
            let aggregate = match get("aggregate_mode")?.as_str() {
                "continuous_aggregate" => AggregateMode::ContinuousAggregate,
                "materialized_view" => AggregateMode::MaterializedView,
                "rollup" => AggregateMode::Rollup,
                other => {
                    return Err(StoreError::Internal(format!(
                        "unknown aggregate mode '{other}'"
                    )));
                }
            };
            let retention = match get("retention_mode")?.as_str() {
                "policy" => RetentionMode::Policy,
                "drop_chunks" => RetentionMode::DropChunks,
                "delete" => RetentionMode::Delete,
                other => {
                    return Err(StoreError::Internal(format!(
                        "unknown retention mode '{other}'"
                    )));
                }
            };
            Ok(StoreCapabilities {
                timescaledb_version: row
                    .try_get("", "timescaledb_version")
                    .map_err(|e| map_db_err("capabilities", e))?,
                hypertables: row
                    .try_get("", "hypertables")
                    .map_err(|e| map_db_err("capabilities", e))?,
                aggregate,
                retention,
            })
        })
        .await
    }

    /// Refreshes the hourly aggregate and applies `retention` as of `now`, in one transaction
    /// (so a failure leaves everything as it was). Call it on a schedule (every minute or so).
    pub async fn maintenance(
        &self,
        retention: &Retention,
        now: DateTime<Utc>,
    ) -> Result<MaintenanceReport, StoreError> {
        let caps = self.capabilities().await?;
        timed(MAINTENANCE_TIMEOUT, "maintenance", async {
            let tx = self
                .db
                .begin()
                .await
                .map_err(|e| map_db_err("maintenance: begin", e))?;
            let locked = tx
                .query_one_raw(stmt(
                    "SELECT pg_catalog.pg_try_advisory_xact_lock($1)",
                    [LOCK_KEY.into()],
                ))
                .await
                .map_err(|e| map_db_err("maintenance: lock", e))?
                .map(|r| r.try_get_by_index::<bool>(0))
                .transpose()
                .map_err(|e| map_db_err("maintenance: lock", e))?;
            if locked != Some(true) {
                return Ok(MaintenanceReport {
                    skipped: true,
                    deltas_folded: 0,
                    expired: Vec::new(),
                    messages: Removed::Nothing,
                    processing_stats: Removed::Nothing,
                    signals: Removed::Nothing,
                    search_indexes_built: Vec::new(),
                });
            }
            let ts = extension_schema(&tx, "timescaledb").await?;
            let expired = rollups::expire_signals(&tx, b3_today(now), now).await?;
            let messages = expire(
                &tx,
                &caps,
                ts.as_deref(),
                "forwarded_messages.messages",
                "message_date",
                retention.messages,
                now,
            )
            .await?;
            let processing_stats = expire(
                &tx,
                &caps,
                ts.as_deref(),
                "metrics.processing_stats",
                "recorded_at",
                retention.processing_stats,
                now,
            )
            .await?;
            let signals = match retention.signals {
                Some(keep) => Removed::Rows(expire_signals(&tx, cutoff(now, keep)?).await?),
                None => Removed::Nothing,
            };
            let deltas_folded = rollups::fold_deltas(&tx).await?;
            let method = match (caps.retention, &ts) {
                (RetentionMode::Delete, _) | (_, None) => "delete",
                _ => "drop_chunks",
            };
            rollups::record_retention(
                &tx,
                Retention::days(retention.messages),
                Retention::days(retention.signals),
                method,
                now,
            )
            .await?;
            tx.commit()
                .await
                .map_err(|e| map_db_err("maintenance: commit", e))?;
            let search_indexes_built = if caps.hypertables {
                let mut built = self.index_search_weeks(now - SEARCH_INDEX_DELAY).await?;
                built.extend(self.index_open_weeks(now).await?);
                built
            } else {
                Vec::new()
            };
            Ok(MaintenanceReport {
                skipped: false,
                deltas_folded,
                expired,
                messages,
                processing_stats,
                signals,
                search_indexes_built,
            })
        })
        .await
    }
}

/// Removes rows of `table` older than `keep`, the way the mode says. `table` and `column` are
/// constants of this module, never input.
async fn expire(
    tx: &DatabaseTransaction,
    caps: &StoreCapabilities,
    ts: Option<&str>,
    table: &str,
    column: &str,
    keep: Option<Duration>,
    now: DateTime<Utc>,
) -> Result<Removed, StoreError> {
    let Some(keep) = keep else {
        return Ok(Removed::Nothing);
    };
    let before = cutoff(now, keep)?;
    let what = format!("maintenance: retention of {table}");
    match (caps.retention, ts) {
        (RetentionMode::DropChunks | RetentionMode::Policy, Some(ts)) if caps.hypertables => {
            if table == "forwarded_messages.messages" {
                rollups::count_dropped_messages(tx, before).await?;
            }
            let sql = format!(
                "SELECT count(*) FROM {ts}.drop_chunks('{table}'::pg_catalog.regclass, older_than => $1::timestamptz)"
            );
            let n = scalar_i64(tx, &what, stmt(&sql, [before.into()])).await?;
            Ok(Removed::Chunks(u64::try_from(n).unwrap_or(0)))
        }
        _ => {
            let sql = format!("DELETE FROM {table} WHERE {column} < $1");
            let n = tx
                .execute_raw(stmt(&sql, [before.into()]))
                .await
                .map_err(|e| map_db_err(&what, e))?
                .rows_affected();
            Ok(Removed::Rows(n))
        }
    }
}

/// Opt-in signal retention: rows, revisions and status history go together.
async fn expire_signals(
    tx: &DatabaseTransaction,
    before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let n = scalar_i64(
        tx,
        "maintenance: retention of signals",
        stmt(
            "WITH gone AS (
               DELETE FROM signals.signals WHERE message_date < $1 RETURNING id
             ), revisions AS (
               DELETE FROM signals.signal_revisions WHERE signal_id IN (SELECT id FROM gone)
             ), events AS (
               DELETE FROM signals.status_events WHERE signal_id IN (SELECT id FROM gone)
             )
             SELECT count(*) FROM gone",
            [before.into()],
        ),
    )
    .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}
