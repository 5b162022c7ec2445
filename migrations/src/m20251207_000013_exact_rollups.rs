//! Exact statistics on every edition. `/signals/stats` and `/channels` read rollups kept by
//! triggers in the same transaction as every signal and message write (ingest, edits, deletes,
//! re-parses, retention, imports, hand-written SQL): a trigger appends a signed delta row (no
//! lock, no conflict between concurrent batches) and the maintenance run folds the deltas into
//! the rollups in one statement. Readers add the pending deltas, so every answer equals a direct
//! count at once, whatever the edition.
//!
//! This replaces `metrics.signals_hourly` (a continuous aggregate under the Timescale license,
//! stale above its watermark; a materialized view elsewhere) and the Timescale retention
//! policies, which dropped chunks behind the rollups' back and ignored the configured retention:
//! retention is now the maintenance run's on every edition (`drop_chunks` on hypertables,
//! `DELETE` otherwise). The compression policy of `metrics.processing_stats` stays: it changes no
//! answer. It also indexes the open signals by validity, for the expiry in the maintenance run.
//! Our CI has no Timescale-licensed build, so the policy branches of `up` and `down` run
//! only there.

use sea_orm_migration::prelude::*;

use crate::capabilities::{Capabilities, extension_schema};
use crate::m20251101_000004_metrics as metrics;

/// Creates the signal and message rollups with their delta tables and triggers.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20251207_000013_exact_rollups"
    }
}

/// Fills the (empty) rollups from the raw tables: the migration's backfill, and the rebuild
/// after the tables became hypertables (`crate::adopt`).
pub(crate) fn rebuild_sql() -> String {
    let (all, all_ratios) = signal_measures("s0", "1");
    format!(
        r#"
INSERT INTO metrics.signal_rollup ({MEASURE_COLUMNS})
SELECT bucket, channel_id, asset, pg_catalog.sum(signal_count), pg_catalog.sum(range_sum),
       pg_catalog.sum(range_n), pg_catalog.sum(upside_sum), pg_catalog.sum(upside_n),
       pg_catalog.sum(downside_sum), pg_catalog.sum(downside_n)
FROM (SELECT {all} FROM signals.signals s0, LATERAL {all_ratios} WHERE s0.deleted_at IS NULL) AS x({MEASURE_COLUMNS})
GROUP BY 1, 2, 3;
INSERT INTO metrics.channel_signal_totals (channel_id, signal_count)
SELECT channel_id, pg_catalog.sum(signal_count) FROM metrics.signal_rollup GROUP BY 1;
INSERT INTO metrics.channel_message_totals (channel_id, outcome, n)
SELECT channel_id, outcome, pg_catalog.count(*) FROM forwarded_messages.messages GROUP BY 1, 2;
"#
    )
}

/// The per-signal measures, from a row named `s`; `sign` is `1` or `-1`: the select list, then
/// the `u` sub-query (upside and downside ratios) it reads.
pub(crate) fn signal_measures(s: &str, sign: &str) -> (String, String) {
    let columns = format!(
        "pg_catalog.date_trunc('hour', {s}.message_date AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
         {s}.channel_id, {s}.asset, {sign},
         {sign} * COALESCE({s}.entry_max - {s}.entry_min, 0),
         {sign} * ({s}.entry_max - {s}.entry_min IS NOT NULL)::int,
         {sign} * COALESCE(u.up, 0), {sign} * (u.up IS NOT NULL)::int,
         {sign} * COALESCE(u.down, 0), {sign} * (u.down IS NOT NULL)::int"
    );
    let ratios = format!(
        "(SELECT
         CASE WHEN {s}.direction = 'long'
              THEN ({s}.target_final - {s}.entry_max) / NULLIF({s}.entry_max, 0)
              ELSE ({s}.entry_min - {s}.target_final) / NULLIF({s}.entry_min, 0) END AS up,
         CASE WHEN {s}.direction = 'long'
              THEN ({s}.entry_min - {s}.stop) / NULLIF({s}.entry_min, 0)
              ELSE ({s}.stop - {s}.entry_max) / NULLIF({s}.entry_max, 0) END AS down) u"
    );
    (columns, ratios)
}

/// The row triggers that kept the rollups until `m20251215_000015_rollup_per_statement`
/// replaced them (its `down` puts them back).
pub(crate) fn row_triggers_sql() -> String {
    let (old, old_ratios) = signal_measures("OLD", "-1");
    let (new, new_ratios) = signal_measures("NEW", "1");
    format!(
        r#"
CREATE FUNCTION metrics.track_signal_rollup() RETURNS trigger LANGUAGE plpgsql AS $tp$
BEGIN
  IF TG_OP <> 'INSERT' AND OLD.deleted_at IS NULL THEN
    INSERT INTO metrics.signal_rollup_delta ({MEASURE_COLUMNS}) SELECT {old} FROM {old_ratios};
  END IF;
  IF TG_OP <> 'DELETE' AND NEW.deleted_at IS NULL THEN
    INSERT INTO metrics.signal_rollup_delta ({MEASURE_COLUMNS}) SELECT {new} FROM {new_ratios};
  END IF;
  RETURN NULL;
END
$tp$;
CREATE TRIGGER signal_rollup_insert_delete AFTER INSERT OR DELETE ON signals.signals
  FOR EACH ROW EXECUTE FUNCTION metrics.track_signal_rollup();
CREATE TRIGGER signal_rollup_update
  AFTER UPDATE OF deleted_at, message_date, channel_id, asset, direction, entry_min, entry_max,
                  target_final, stop ON signals.signals
  FOR EACH ROW WHEN (
    (OLD.deleted_at IS NULL) IS DISTINCT FROM (NEW.deleted_at IS NULL)
    OR (OLD.message_date, OLD.channel_id, OLD.asset, OLD.direction, OLD.entry_min, OLD.entry_max,
        OLD.target_final, OLD.stop)
       IS DISTINCT FROM
       (NEW.message_date, NEW.channel_id, NEW.asset, NEW.direction, NEW.entry_min, NEW.entry_max,
        NEW.target_final, NEW.stop))
  EXECUTE FUNCTION metrics.track_signal_rollup();

CREATE FUNCTION metrics.track_message_totals() RETURNS trigger LANGUAGE plpgsql AS $tp$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    INSERT INTO metrics.channel_message_delta (channel_id, outcome, n) VALUES (OLD.channel_id, OLD.outcome, -1);
  END IF;
  IF TG_OP <> 'DELETE' THEN
    INSERT INTO metrics.channel_message_delta (channel_id, outcome, n) VALUES (NEW.channel_id, NEW.outcome, 1);
  END IF;
  RETURN NULL;
END
$tp$;
CREATE TRIGGER message_totals_insert_delete AFTER INSERT OR DELETE ON forwarded_messages.messages
  FOR EACH ROW EXECUTE FUNCTION metrics.track_message_totals();
CREATE TRIGGER message_totals_update AFTER UPDATE OF channel_id, outcome ON forwarded_messages.messages
  FOR EACH ROW WHEN ((OLD.channel_id, OLD.outcome) IS DISTINCT FROM (NEW.channel_id, NEW.outcome))
  EXECUTE FUNCTION metrics.track_message_totals();
"#
    )
}

pub(crate) const MEASURE_COLUMNS: &str = "bucket, channel_id, asset, signal_count, range_sum, range_n, \
                               upside_sum, upside_n, downside_sum, downside_n";

fn up_sql() -> String {
    let row_triggers = row_triggers_sql();
    let backfill = rebuild_sql();
    format!(
        r#"
CREATE TABLE metrics.signal_rollup (
  bucket       TIMESTAMPTZ NOT NULL,
  channel_id   BIGINT NOT NULL,
  asset        TEXT NOT NULL,
  signal_count BIGINT NOT NULL,
  range_sum    NUMERIC NOT NULL,
  range_n      BIGINT NOT NULL,
  upside_sum   NUMERIC NOT NULL,
  upside_n     BIGINT NOT NULL,
  downside_sum NUMERIC NOT NULL,
  downside_n   BIGINT NOT NULL,
  CONSTRAINT signal_rollup_pkey PRIMARY KEY (bucket, channel_id, asset)
);
COMMENT ON TABLE metrics.signal_rollup IS
  'Live signals per hour, channel and asset, with the sums behind the averages; add metrics.signal_rollup_delta.';
CREATE INDEX signal_rollup_empty_idx ON metrics.signal_rollup (bucket) WHERE signal_count = 0;
CREATE TABLE metrics.signal_rollup_delta (LIKE metrics.signal_rollup);
CREATE INDEX signal_rollup_delta_bucket_idx ON metrics.signal_rollup_delta (bucket);
CREATE TABLE metrics.channel_signal_totals (
  channel_id   BIGINT PRIMARY KEY,
  signal_count BIGINT NOT NULL
);
CREATE TABLE metrics.channel_message_totals (
  channel_id BIGINT NOT NULL,
  outcome    TEXT NOT NULL,
  n          BIGINT NOT NULL,
  CONSTRAINT channel_message_totals_pkey PRIMARY KEY (channel_id, outcome)
);
CREATE TABLE metrics.channel_message_delta (LIKE metrics.channel_message_totals);
CREATE TABLE metrics.retention_applied (
  singleton              BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
  message_retention_days INTEGER NOT NULL,
  signal_retention_days  INTEGER NOT NULL,
  method                 TEXT NOT NULL,
  applied_at             TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE metrics.retention_applied IS
  'The retention the last maintenance run applied (0 = keep), shown by tp-capital-migrate status.';

{row_triggers}
{backfill}
CREATE INDEX signals_expiry_idx ON signals.signals (valid_until)
  WHERE status = 'open' AND valid_until IS NOT NULL AND deleted_at IS NULL;

DROP MATERIALIZED VIEW IF EXISTS metrics.signals_hourly CASCADE;
ALTER TABLE metrics.capabilities DROP CONSTRAINT IF EXISTS capabilities_aggregate_mode_check;
ALTER TABLE metrics.capabilities ADD CONSTRAINT capabilities_aggregate_mode_check
  CHECK (aggregate_mode IN ('continuous_aggregate', 'materialized_view', 'rollup'));
UPDATE metrics.capabilities SET aggregate_mode = 'rollup',
  retention_mode = CASE WHEN hypertables THEN 'drop_chunks' ELSE 'delete' END;
"#
    )
}

const DOWN: &str = r#"
DROP INDEX IF EXISTS signals.signals_expiry_idx;
DROP TRIGGER IF EXISTS signal_rollup_insert_delete ON signals.signals;
DROP TRIGGER IF EXISTS signal_rollup_update ON signals.signals;
DROP TRIGGER IF EXISTS message_totals_insert_delete ON forwarded_messages.messages;
DROP TRIGGER IF EXISTS message_totals_update ON forwarded_messages.messages;
DROP FUNCTION IF EXISTS metrics.track_signal_rollup();
DROP FUNCTION IF EXISTS metrics.track_message_totals();
DROP TABLE IF EXISTS metrics.signal_rollup, metrics.signal_rollup_delta,
  metrics.channel_signal_totals, metrics.channel_message_totals, metrics.channel_message_delta,
  metrics.retention_applied;
UPDATE metrics.capabilities SET
  aggregate_mode = CASE WHEN hypertables AND timescaledb_license = 'timescale'
                        THEN 'continuous_aggregate' ELSE 'materialized_view' END,
  retention_mode = CASE WHEN NOT hypertables THEN 'delete'
                        WHEN timescaledb_license = 'timescale' THEN 'policy' ELSE 'drop_chunks' END;
ALTER TABLE metrics.capabilities DROP CONSTRAINT IF EXISTS capabilities_aggregate_mode_check;
ALTER TABLE metrics.capabilities ADD CONSTRAINT capabilities_aggregate_mode_check
  CHECK (aggregate_mode IN ('continuous_aggregate', 'materialized_view'));
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // Timescale license only (CI cannot run this): the policies drop chunks behind the
        // rollups and ignore the configured retention; the maintenance run applies it instead.
        if let Some(ts) = policy_schema(db).await? {
            for table in ["forwarded_messages.messages", "metrics.processing_stats"] {
                db.execute_unprepared(&format!(
                    "SELECT {ts}.remove_retention_policy('{table}'::pg_catalog.regclass, if_exists => TRUE)"
                ))
                .await?;
            }
        }
        db.execute_unprepared(&up_sql()).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(DOWN).await?;
        metrics::create_aggregate(db).await?;
        if let Some(ts) = policy_schema(db).await? {
            db.execute_unprepared(&metrics::retention_policies(&ts))
                .await?;
        }
        Ok(())
    }
}

/// The TimescaleDB schema when the database was created under the Timescale license (its
/// policies are in use), else `None`.
async fn policy_schema<C: ConnectionTrait>(db: &C) -> Result<Option<String>, DbErr> {
    let caps = Capabilities::read(db).await?;
    if !caps.hypertables || caps.timescaledb_license.as_deref() != Some("timescale") {
        return Ok(None);
    }
    extension_schema(db, "timescaledb").await
}
