//! Per-batch processing stats and the hourly signal aggregate (count, average range, upside and
//! downside per asset and channel). Under the Timescale license the aggregate is a continuous
//! aggregate and retention/compression are policies; otherwise it is a materialized view with a
//! unique index (so the service can `REFRESH ... CONCURRENTLY`) and the service applies retention.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

use crate::capabilities::{AggregateMode, Capabilities, RetentionMode, required_extension_schema};

/// Creates `metrics.processing_stats` and `metrics.signals_hourly`.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20251101_000004_metrics"
    }
}

const STATS: &str = r#"
CREATE TABLE IF NOT EXISTS metrics.processing_stats (
  recorded_at TIMESTAMPTZ NOT NULL,
  received    INTEGER NOT NULL,
  signals     INTEGER NOT NULL,
  updates     INTEGER NOT NULL,
  ignored     INTEGER NOT NULL,
  rejected    INTEGER NOT NULL,
  duplicates  INTEGER NOT NULL,
  edits       INTEGER NOT NULL,
  duration_us BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS processing_stats_recorded_idx ON metrics.processing_stats (recorded_at DESC);
"#;

/// The measures, direction-aware: upside is the distance to the final target and downside the
/// distance to the stop, in percent of the entry bound a trader would fill at.
const MEASURES: &str = r#"
       pg_catalog.count(*)::BIGINT AS signal_count,
       pg_catalog.avg(s.entry_max - s.entry_min) AS avg_range,
       pg_catalog.avg(CASE WHEN s.direction = 'long'
                           THEN (s.target_final - s.entry_max) / NULLIF(s.entry_max, 0)
                           ELSE (s.entry_min - s.target_final) / NULLIF(s.entry_min, 0)
                      END) * 100 AS avg_upside_pct,
       pg_catalog.avg(CASE WHEN s.direction = 'long'
                           THEN (s.entry_min - s.stop) / NULLIF(s.entry_min, 0)
                           ELSE (s.stop - s.entry_max) / NULLIF(s.entry_max, 0)
                      END) * 100 AS avg_downside_pct,
       pg_catalog.max(s.message_date) AS last_signal_at
FROM signals.signals s
WHERE s.deleted_at IS NULL
"#;

fn materialized_view() -> String {
    format!(
        r#"
CREATE MATERIALIZED VIEW IF NOT EXISTS metrics.signals_hourly AS
SELECT (pg_catalog.date_trunc('hour', s.message_date AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') AS bucket,
       s.channel_id,
       s.asset,
{MEASURES}
GROUP BY 1, 2, 3
WITH DATA;
CREATE UNIQUE INDEX IF NOT EXISTS signals_hourly_key ON metrics.signals_hourly (bucket, channel_id, asset);
"#
    )
}

fn continuous_aggregate(ts: &str) -> String {
    format!(
        r#"
CREATE MATERIALIZED VIEW IF NOT EXISTS metrics.signals_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT {ts}.time_bucket(INTERVAL '1 hour', s.message_date) AS bucket,
       s.channel_id,
       s.asset,
{MEASURES}
GROUP BY 1, 2, 3
WITH NO DATA;
CREATE INDEX IF NOT EXISTS signals_hourly_bucket_idx ON metrics.signals_hourly (bucket, channel_id, asset);
SELECT {ts}.add_continuous_aggregate_policy('metrics.signals_hourly'::pg_catalog.regclass,
  start_offset => NULL, end_offset => INTERVAL '1 hour',
  schedule_interval => INTERVAL '5 minutes', if_not_exists => TRUE);
"#
    )
}

/// Raw messages and processing stats are kept 30 days; signals are kept. Removed by
/// `m20251207_000013_exact_rollups` (the maintenance run applies the configured retention).
pub(crate) fn retention_policies(ts: &str) -> String {
    format!(
        r#"
SELECT {ts}.add_retention_policy('forwarded_messages.messages'::pg_catalog.regclass,
  INTERVAL '30 days', if_not_exists => TRUE);
SELECT {ts}.add_retention_policy('metrics.processing_stats'::pg_catalog.regclass,
  INTERVAL '30 days', if_not_exists => TRUE);
"#
    )
}

fn policies(ts: &str) -> String {
    format!(
        r#"{retention}
ALTER TABLE metrics.processing_stats SET (timescaledb.compress, timescaledb.compress_orderby = 'recorded_at DESC');
SELECT {ts}.add_compression_policy('metrics.processing_stats'::pg_catalog.regclass,
  INTERVAL '7 days', if_not_exists => TRUE);
"#,
        retention = retention_policies(ts)
    )
}

/// Creates `metrics.signals_hourly` as the recorded mode says (also the down of
/// `m20251207_000013_exact_rollups`).
pub(crate) async fn create_aggregate<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let caps = Capabilities::read(db).await?;
    match (caps.aggregate, caps.hypertables) {
        (AggregateMode::ContinuousAggregate, true) => {
            let ts = required_extension_schema(db, "timescaledb").await?;
            db.execute_unprepared(&continuous_aggregate(&ts)).await?;
        }
        _ => {
            db.execute_unprepared(&materialized_view()).await?;
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let caps = Capabilities::read(db).await?;
        db.execute_unprepared(STATS).await?;
        let ts = if caps.hypertables {
            let ts = required_extension_schema(db, "timescaledb").await?;
            db.execute_unprepared(&format!(
                "SELECT {ts}.create_hypertable('metrics.processing_stats'::pg_catalog.regclass, \
                 {ts}.by_range('recorded_at', INTERVAL '1 day'), \
                 create_default_indexes => FALSE, if_not_exists => TRUE)"
            ))
            .await?;
            Some(ts)
        } else {
            None
        };
        create_aggregate(db).await?;
        if let (RetentionMode::Policy, Some(ts)) = (caps.retention, &ts) {
            db.execute_unprepared(&policies(ts)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // Retention policies on the archive belong to this migration; the table does not.
        if let Ok(Capabilities {
            retention: RetentionMode::Policy,
            ..
        }) = Capabilities::read(db).await
        {
            let ts = required_extension_schema(db, "timescaledb").await?;
            db.execute_unprepared(&format!(
                "SELECT {ts}.remove_retention_policy('forwarded_messages.messages'::pg_catalog.regclass, \
                 if_exists => TRUE)"
            ))
            .await?;
        }
        db.execute_unprepared(
            "DROP MATERIALIZED VIEW IF EXISTS metrics.signals_hourly CASCADE;\n\
             DROP TABLE IF EXISTS metrics.processing_stats;",
        )
        .await?;
        Ok(())
    }
}
