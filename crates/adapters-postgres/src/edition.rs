//! The database edition as it runs now and the mode the schema is in, for `/health`: the mode
//! is the one recorded by the migrations; since the exact rollups no answer depends on either.

use domain::ports::StoreError;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::error::map_db_err;
use crate::store::PgStore;

/// What `/health` shows about the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseEdition {
    /// `PostgreSQL 17.6, TimescaleDB 2.19.3 (apache)` or `PostgreSQL 15.14 (no TimescaleDB)`.
    pub server: String,
    /// `hypertables=true aggregate=rollup retention=drop_chunks`.
    pub mode: String,
}

impl PgStore {
    /// The edition running and the recorded mode.
    pub async fn edition(&self) -> Result<DatabaseEdition, StoreError> {
        const WHAT: &str = "database edition";
        let caps = self.capabilities().await?;
        let row = self
            .timed(WHAT, async {
                self.db
                    .query_one_raw(Statement::from_string(
                        DbBackend::Postgres,
                        "SELECT 'PostgreSQL ' || pg_catalog.current_setting('server_version') ||
                           COALESCE(', TimescaleDB ' || e.extversion || ' (' ||
                                    COALESCE(NULLIF(pg_catalog.current_setting('timescaledb.license', TRUE), ''),
                                             'license unknown') || ')',
                                    ' (no TimescaleDB)') AS server
                         FROM (SELECT 1) AS one
                         LEFT JOIN pg_catalog.pg_extension e ON e.extname = 'timescaledb'",
                    ))
                    .await
                    .map_err(|e| map_db_err(WHAT, e))
            })
            .await?
            .ok_or_else(|| StoreError::Internal(format!("{WHAT}: no row")))?;
        Ok(DatabaseEdition {
            server: row.try_get("", "server").map_err(|e| map_db_err(WHAT, e))?,
            mode: format!(
                "hypertables={} aggregate={} retention={}",
                caps.hypertables,
                caps.aggregate.as_str(),
                caps.retention.as_str()
            ),
        })
    }
}
