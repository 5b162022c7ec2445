//! The change feed on `signals.signals.change_tx` (migration `m20251209_000013_change_feed`):
//! rows in `(change_tx, id)` order, read only below the oldest running transaction, so what a
//! read returns is final — a transaction still running (whatever its id) can only commit rows
//! after it. A long write transaction delays the feed (never reorders it); the app roles'
//! statement timeout bounds it.

use async_trait::async_trait;
use domain::model::SignalId;
use domain::ports::{ChangePosition, SignalChange, SignalChanges, StoreError};
use sea_orm::{DbBackend, Statement};

use crate::error::corrupt;
use crate::rows::{ROW_EXTRA_COLUMNS, SIGNAL_COLUMNS, SignalLayout};
use crate::store::PgStore;

/// Largest batch of one read.
const MAX_BATCH: u32 = 5000;

/// The oldest transaction still running (every older one has committed or aborted).
const HORIZON: &str = "(SELECT pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot()))";

fn tx_of(raw: &str) -> Result<u64, StoreError> {
    raw.parse()
        .map_err(|_| corrupt(format!("change_tx {raw:?} is not a transaction id")))
}

#[async_trait]
impl SignalChanges for PgStore {
    async fn head(&self) -> Result<ChangePosition, StoreError> {
        let stmt = Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT {HORIZON}::text AS horizon"),
        );
        let rows = self.query_all("change_head", stmt).await?;
        let raw: String = rows
            .first()
            .ok_or_else(|| corrupt("no change horizon"))?
            .try_get("", "horizon")
            .map_err(|e| corrupt(format!("change horizon: {e}")))?;
        Ok(ChangePosition {
            tx: tx_of(&raw)?.saturating_sub(1),
            id: SignalId(i64::MAX),
        })
    }

    async fn changes_after(
        &self,
        after: ChangePosition,
        limit: u32,
    ) -> Result<Vec<SignalChange>, StoreError> {
        let sql = format!(
            "SELECT {SIGNAL_COLUMNS}, {ROW_EXTRA_COLUMNS}, s.change_tx::text AS change_tx
             FROM signals.signals s
             LEFT JOIN signals.channels c ON c.channel_id = s.channel_id
             WHERE s.change_tx IS NOT NULL
               AND (s.change_tx, s.id) > ($1::text::pg_catalog.xid8, $2)
               AND s.change_tx < {HORIZON}
             ORDER BY s.change_tx, s.id
             LIMIT $3"
        );
        let stmt = Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [
                after.tx.to_string().into(),
                after.id.0.into(),
                i64::from(limit.clamp(1, MAX_BATCH)).into(),
            ],
        );
        let rows = self.query_all("changes_after", stmt).await?;
        let Some(layout) = SignalLayout::of(&rows, true)? else {
            return Ok(Vec::new());
        };
        rows.iter()
            .map(|result| {
                let raw: String = result
                    .try_get("", "change_tx")
                    .map_err(|e| corrupt(format!("change_tx: {e}")))?;
                let row = layout.row(result)?;
                Ok(SignalChange {
                    position: ChangePosition {
                        tx: tx_of(&raw)?,
                        id: row.signal.id,
                    },
                    row,
                })
            })
            .collect()
    }
}
