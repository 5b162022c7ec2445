//! Exact signal counts by status without counting every signal. The services' gauge
//! `tpcapital_signals_total{status}` counted the whole table every 30 s in each process: 1–4 s
//! of database time per sample at 2 M signals, growing with the table. The rollup statement
//! trigger now also appends per-status deltas, which the maintenance run folds into
//! `metrics.signal_status_totals` like the other rollups; the count reads totals plus deltas.

use sea_orm_migration::prelude::*;

use crate::m20251215_000015_rollup_per_statement::signal_function_sql;

/// Adds the status totals, their deltas and their trigger part.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20251216_000017_status_totals"
    }
}

/// The status delta of the live rows of `parts` (transition table, sign).
fn status_delta(parts: &[(&str, &str)]) -> String {
    let rows = parts
        .iter()
        .map(|(table, sign)| format!("SELECT status, {sign} FROM {table} WHERE deleted_at IS NULL"))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    format!(
        "INSERT INTO metrics.signal_status_delta (status, n)
    SELECT status, pg_catalog.sum(n) FROM ({rows}) AS d(status, n)
    GROUP BY 1 HAVING pg_catalog.sum(n) <> 0;"
    )
}

/// Fills the (empty) status totals from the signals: the backfill, and the rebuild after the
/// tables became hypertables (`crate::adopt`).
pub(crate) const REBUILD: &str = "
INSERT INTO metrics.signal_status_totals (status, n)
SELECT status, pg_catalog.count(*) FROM signals.signals WHERE deleted_at IS NULL GROUP BY 1;";

fn up_sql() -> String {
    let function = signal_function_sql(status_delta);
    format!(
        r#"
LOCK TABLE signals.signals IN SHARE MODE;
CREATE TABLE metrics.signal_status_totals (
  status TEXT PRIMARY KEY,
  n      BIGINT NOT NULL
);
COMMENT ON TABLE metrics.signal_status_totals IS
  'Live signals by status; add metrics.signal_status_delta.';
CREATE TABLE metrics.signal_status_delta (LIKE metrics.signal_status_totals);
{REBUILD}
{function}
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
        let sql = format!(
            "{}\nDROP TABLE IF EXISTS metrics.signal_status_totals, metrics.signal_status_delta;",
            signal_function_sql(|_| String::new())
        );
        manager.get_connection().execute_unprepared(&sql).await?;
        Ok(())
    }
}
