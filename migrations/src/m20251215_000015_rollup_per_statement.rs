//! The rollup deltas written once per statement instead of once per row. The row triggers of
//! `m20251207_000013_exact_rollups` ran a PL/pgSQL insert for every signal and every archived
//! message: about 15 % of an ingest batch's database time. Statement triggers read the
//! statement's transition tables and append one delta per (hour, channel, asset) or
//! (channel, outcome) the statement touched; an update whose rows change no measure appends
//! nothing. The rollups' answers stay exact: the same deltas, summed earlier.
//!
//! Transition tables allow one event per trigger and no column list, so each table has three
//! triggers and the update trigger sees every update (the sums drop what did not move).
//! TimescaleDB supports transition tables on hypertables since 2.16; an older server fails this
//! migration with its own message and keeps the row triggers.

use sea_orm_migration::prelude::*;

use crate::m20251207_000013_exact_rollups::{MEASURE_COLUMNS, row_triggers_sql, signal_measures};

/// Replaces the rollup row triggers with statement triggers over transition tables.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20251215_000015_rollup_per_statement"
    }
}

const DROP_ROW_TRIGGERS: &str = r#"
DROP TRIGGER IF EXISTS signal_rollup_insert_delete ON signals.signals;
DROP TRIGGER IF EXISTS signal_rollup_update ON signals.signals;
DROP TRIGGER IF EXISTS message_totals_insert_delete ON forwarded_messages.messages;
DROP TRIGGER IF EXISTS message_totals_update ON forwarded_messages.messages;
DROP FUNCTION IF EXISTS metrics.track_signal_rollup();
DROP FUNCTION IF EXISTS metrics.track_message_totals();
"#;

const DROP_STATEMENT_TRIGGERS: &str = r#"
DROP TRIGGER IF EXISTS signal_rollup_insert ON signals.signals;
DROP TRIGGER IF EXISTS signal_rollup_update ON signals.signals;
DROP TRIGGER IF EXISTS signal_rollup_delete ON signals.signals;
DROP TRIGGER IF EXISTS message_totals_insert ON forwarded_messages.messages;
DROP TRIGGER IF EXISTS message_totals_update ON forwarded_messages.messages;
DROP TRIGGER IF EXISTS message_totals_delete ON forwarded_messages.messages;
DROP FUNCTION IF EXISTS metrics.track_signal_rollup_rows();
DROP FUNCTION IF EXISTS metrics.track_message_totals_rows();
"#;

/// One delta row per group of the live rows of `parts` (transition table, sign), groups whose
/// every sum is zero left out.
fn signal_delta(parts: &[(&str, &str)]) -> String {
    let rows = parts
        .iter()
        .map(|(table, sign)| {
            let (measures, ratios) = signal_measures("r", sign);
            format!("SELECT {measures} FROM {table} r, LATERAL {ratios} WHERE r.deleted_at IS NULL")
        })
        .collect::<Vec<_>>()
        .join("\n      UNION ALL ");
    format!(
        "INSERT INTO metrics.signal_rollup_delta ({MEASURE_COLUMNS})
    SELECT bucket, channel_id, asset, pg_catalog.sum(signal_count), pg_catalog.sum(range_sum),
           pg_catalog.sum(range_n), pg_catalog.sum(upside_sum), pg_catalog.sum(upside_n),
           pg_catalog.sum(downside_sum), pg_catalog.sum(downside_n)
    FROM ({rows}) AS d({MEASURE_COLUMNS})
    GROUP BY 1, 2, 3
    HAVING pg_catalog.sum(signal_count) <> 0 OR pg_catalog.sum(range_sum) <> 0
        OR pg_catalog.sum(range_n) <> 0 OR pg_catalog.sum(upside_sum) <> 0
        OR pg_catalog.sum(upside_n) <> 0 OR pg_catalog.sum(downside_sum) <> 0
        OR pg_catalog.sum(downside_n) <> 0;"
    )
}

/// The message counterpart of [`signal_delta`].
fn message_delta(parts: &[(&str, &str)]) -> String {
    let rows = parts
        .iter()
        .map(|(table, sign)| format!("SELECT channel_id, outcome, {sign} FROM {table}"))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    format!(
        "INSERT INTO metrics.channel_message_delta (channel_id, outcome, n)
    SELECT channel_id, outcome, pg_catalog.sum(n) FROM ({rows}) AS d(channel_id, outcome, n)
    GROUP BY 1, 2 HAVING pg_catalog.sum(n) <> 0;"
    )
}

/// The old rows of an update or delete, subtracted.
const OLD: (&str, &str) = ("old_rows", "-1");
/// The new rows of an insert or update, added.
const NEW: (&str, &str) = ("new_rows", "1");

/// `metrics.track_signal_rollup_rows()`: per event, the rollup delta, then `also` of the same
/// transition tables (`m20251216_000017_status_totals` adds the status counts).
pub(crate) fn signal_function_sql(also: fn(&[(&str, &str)]) -> String) -> String {
    let event = |parts: &[(&str, &str)]| format!("{}\n    {}", signal_delta(parts), also(parts));
    let (insert, update, delete) = (event(&[NEW]), event(&[OLD, NEW]), event(&[OLD]));
    format!(
        r#"CREATE OR REPLACE FUNCTION metrics.track_signal_rollup_rows() RETURNS trigger LANGUAGE plpgsql AS $tp$
BEGIN
  IF TG_OP = 'INSERT' THEN
    {insert}
  ELSIF TG_OP = 'UPDATE' THEN
    {update}
  ELSE
    {delete}
  END IF;
  RETURN NULL;
END
$tp$;"#
    )
}

fn up_sql() -> String {
    let signal_function = signal_function_sql(|_| String::new());
    let (message_insert, message_update, message_delete) = (
        message_delta(&[NEW]),
        message_delta(&[OLD, NEW]),
        message_delta(&[OLD]),
    );
    format!(
        r#"{DROP_ROW_TRIGGERS}
{signal_function}
CREATE TRIGGER signal_rollup_insert AFTER INSERT ON signals.signals
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION metrics.track_signal_rollup_rows();
CREATE TRIGGER signal_rollup_update AFTER UPDATE ON signals.signals
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION metrics.track_signal_rollup_rows();
CREATE TRIGGER signal_rollup_delete AFTER DELETE ON signals.signals
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION metrics.track_signal_rollup_rows();

CREATE FUNCTION metrics.track_message_totals_rows() RETURNS trigger LANGUAGE plpgsql AS $tp$
BEGIN
  IF TG_OP = 'INSERT' THEN
    {message_insert}
  ELSIF TG_OP = 'UPDATE' THEN
    {message_update}
  ELSE
    {message_delete}
  END IF;
  RETURN NULL;
END
$tp$;
CREATE TRIGGER message_totals_insert AFTER INSERT ON forwarded_messages.messages
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION metrics.track_message_totals_rows();
CREATE TRIGGER message_totals_update AFTER UPDATE ON forwarded_messages.messages
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION metrics.track_message_totals_rows();
CREATE TRIGGER message_totals_delete AFTER DELETE ON forwarded_messages.messages
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION metrics.track_message_totals_rows();
"#
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(&up_sql())
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sql = format!("{DROP_STATEMENT_TRIGGERS}{}", row_triggers_sql());
        manager.get_connection().execute_unprepared(&sql).await?;
        Ok(())
    }
}
