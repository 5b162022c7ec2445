//! Live signals per status: the figure the services export as `tpcapital_signals_total`, read
//! from `signals.signals` itself so it always equals a direct count.

use domain::model::SignalStatus;
use domain::ports::StoreError;
use sea_orm::{DbBackend, Statement};

use crate::error::map_db_err;
use crate::store::PgStore;

pub(crate) async fn count_by_status(
    store: &PgStore,
) -> Result<Vec<(&'static str, u64)>, StoreError> {
    let what = "count_by_status";
    let stmt = Statement::from_string(
        DbBackend::Postgres,
        "SELECT status, pg_catalog.count(*)::bigint AS n FROM signals.signals \
         WHERE deleted_at IS NULL GROUP BY status",
    );
    let rows = store.rows(what, stmt).await?;
    let mut counts: Vec<(&'static str, u64)> = SignalStatus::NAMES.map(|n| (n, 0)).to_vec();
    for row in rows {
        let status: String = row.try_get("", "status").map_err(|e| map_db_err(what, e))?;
        let n: i64 = row.try_get("", "n").map_err(|e| map_db_err(what, e))?;
        if let Some(entry) = counts.iter_mut().find(|(name, _)| *name == status) {
            entry.1 = n.max(0) as u64;
        }
    }
    Ok(counts)
}
