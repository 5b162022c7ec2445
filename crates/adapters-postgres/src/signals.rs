//! [`SignalQueries`]: one signal with its history, soft delete and the health ping. The list
//! lives in `crate::list`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::model::SignalId;
use domain::ports::{SignalDetail, SignalPage, SignalQueries, SignalQuery, StoreError};
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement, Value};

use crate::error::map_db_err;
use crate::rows::{
    ROW_EXTRA_COLUMNS, RevisionRecord, SIGNAL_COLUMNS, StatusEventRecord, signal_row,
};
use crate::store::{PgStore, timed};

#[async_trait]
impl SignalQueries for PgStore {
    async fn list_signals(&self, query: &SignalQuery) -> Result<SignalPage, StoreError> {
        self.signal_page(query).await
    }

    async fn signal_detail(&self, id: SignalId) -> Result<SignalDetail, StoreError> {
        let row_sql = format!(
            "SELECT {SIGNAL_COLUMNS}, {ROW_EXTRA_COLUMNS}
             FROM signals.signals s
             LEFT JOIN signals.channels c ON c.channel_id = s.channel_id
             WHERE s.id = $1 AND s.deleted_at IS NULL"
        );
        let stmt = |sql: &str| {
            Statement::from_sql_and_values(DbBackend::Postgres, sql, [Value::from(id.0)])
        };
        let rows = self.query_all("signal_detail", stmt(&row_sql)).await?;
        let row = signal_row(rows.first().ok_or(StoreError::NotFound)?)?;
        let revisions = self
            .query_all(
                "signal_detail: revisions",
                stmt(
                    "SELECT signal_id, revision, asset, kind, direction, entry_min, entry_max,
                            targets, target_final, stop, valid_until, warnings, raw_message,
                            recorded_at
                     FROM signals.signal_revisions WHERE signal_id = $1 ORDER BY revision",
                ),
            )
            .await?
            .iter()
            .map(|r| {
                RevisionRecord::from_query_result(r, "")
                    .map_err(|e| map_db_err("signal_detail: revisions", e))?
                    .into_revision()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let status_history = self
            .query_all(
                "signal_detail: status history",
                stmt(
                    "SELECT signal_id, status, target_index, at, channel_id, message_id, reason
                     FROM signals.status_events WHERE signal_id = $1 ORDER BY at, id",
                ),
            )
            .await?
            .iter()
            .map(|r| {
                StatusEventRecord::from_query_result(r, "")
                    .map_err(|e| map_db_err("signal_detail: status history", e))?
                    .into_change()
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SignalDetail {
            row,
            revisions,
            status_history,
        })
    }

    async fn soft_delete(&self, id: SignalId, at: DateTime<Utc>) -> Result<(), StoreError> {
        let stmt = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE signals.signals SET deleted_at = $2, updated_at = $2
             WHERE id = $1 AND deleted_at IS NULL",
            [id.0.into(), at.into()],
        );
        let affected = self
            .timed("soft_delete", async {
                self.db
                    .execute_raw(stmt)
                    .await
                    .map(|r| r.rows_affected())
                    .map_err(|e| map_db_err("soft_delete", e))
            })
            .await?;
        if affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let limit = self.opts.acquire_timeout + self.opts.connect_timeout;
        timed(limit, "ping", async {
            self.db
                .query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT 1"))
                .await
                .map(|_| ())
                .map_err(|e| map_db_err("ping", e))
        })
        .await
    }
}
