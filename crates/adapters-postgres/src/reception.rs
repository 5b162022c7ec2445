//! [`SignalReceptions`]: a signal by its reception time, for the legacy `DELETE /signals`. No index
//! serves `created_at` (the deprecated route is rare): the scan skips the chunks of messages posted
//! after the reception, since a message is received after it is posted.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use domain::model::SignalId;
use domain::ports::{SignalReceptions, StoreError};
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

use crate::error::map_db_err;
use crate::store::PgStore;

/// Tolerated clock skew between Telegram's message date and our reception.
const SKEW: Duration = Duration::hours(1);

#[async_trait]
impl SignalReceptions for PgStore {
    async fn signal_received_at(&self, at: DateTime<Utc>) -> Result<SignalId, StoreError> {
        let what = "signal_received_at";
        let stmt = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT id FROM signals.signals
             WHERE created_at = $1 AND message_date <= $2 AND deleted_at IS NULL
             ORDER BY id LIMIT 1",
            [Value::from(at), Value::from(at + SKEW)],
        );
        let row = self
            .timed(what, async {
                self.db
                    .query_one_raw(stmt)
                    .await
                    .map_err(|e| map_db_err(what, e))
            })
            .await?
            .ok_or(StoreError::NotFound)?;
        let id = row
            .try_get::<i64>("", "id")
            .map_err(|e| map_db_err(what, e))?;
        Ok(SignalId(id))
    }
}
