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

/// `metrics.<name>()`: per event, the statements `delta` makes of its transition tables.
fn statement_function(name: &str, delta: impl Fn(&[(&str, &str)]) -> String) -> String {
    let (insert, update, delete) = (delta(&[NEW]), delta(&[OLD, NEW]), delta(&[OLD]));
    format!(
        r#"CREATE OR REPLACE FUNCTION metrics.{name}() RETURNS trigger LANGUAGE plpgsql AS $tp$
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

/// The three statement triggers `<prefix>_insert|update|delete` on `table` running
/// `metrics.<function>()`: transition tables allow one event per trigger.
fn statement_triggers(prefix: &str, table: &str, function: &str) -> String {
    [
        ("insert", "INSERT", "NEW TABLE AS new_rows"),
        (
            "update",
            "UPDATE",
            "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        ),
        ("delete", "DELETE", "OLD TABLE AS old_rows"),
    ]
    .map(|(suffix, event, tables)| {
        format!(
            "CREATE TRIGGER {prefix}_{suffix} AFTER {event} ON {table}
  REFERENCING {tables}
  FOR EACH STATEMENT EXECUTE FUNCTION metrics.{function}();"
        )
    })
    .join("\n")
}

/// `metrics.track_signal_rollup_rows()`: per event, the rollup delta, then `also` of the same
/// transition tables (`m20251216_000017_status_totals` adds the status counts).
pub(crate) fn signal_function_sql(also: fn(&[(&str, &str)]) -> String) -> String {
    statement_function("track_signal_rollup_rows", |parts| {
        format!("{}\n    {}", signal_delta(parts), also(parts))
    })
}

fn up_sql() -> String {
    format!(
        "{DROP_ROW_TRIGGERS}\n{}\n{}\n{}\n{}\n",
        signal_function_sql(|_| String::new()),
        statement_triggers(
            "signal_rollup",
            "signals.signals",
            "track_signal_rollup_rows"
        ),
        statement_function("track_message_totals_rows", message_delta),
        statement_triggers(
            "message_totals",
            "forwarded_messages.messages",
            "track_message_totals_rows"
        ),
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
