//! What the server runs now (as opposed to the mode recorded at the first migration) and the
//! retention the services last applied, for `tp-capital-migrate status`. Since migration
//! `m20251207_000013_exact_rollups` no answer depends on the edition; this says which one runs.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

use crate::runner::{MigrateError, connect_one};

/// The PostgreSQL server and its TimescaleDB, as running now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerEdition {
    /// `server_version`.
    pub postgres_version: String,
    /// The TimescaleDB version installed in this database.
    pub timescaledb_version: Option<String>,
    /// `timescaledb.license` (`apache`, `timescale`) when the library is loaded.
    pub timescaledb_license: Option<String>,
}

impl ServerEdition {
    /// Reads it from the server.
    pub async fn detect<C: ConnectionTrait>(db: &C) -> Result<Self, DbErr> {
        let row = db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT pg_catalog.current_setting('server_version') AS pg,
                        (SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'timescaledb') AS ts,
                        NULLIF(pg_catalog.current_setting('timescaledb.license', TRUE), '') AS license",
            ))
            .await?
            .ok_or_else(|| DbErr::Custom("server edition: no row".into()))?;
        Ok(Self {
            postgres_version: row.try_get("", "pg")?,
            timescaledb_version: row.try_get("", "ts")?,
            timescaledb_license: row.try_get("", "license")?,
        })
    }

    /// `PostgreSQL 17.6, TimescaleDB 2.19.3 (apache)` or `PostgreSQL 15.14 (no TimescaleDB)`.
    pub fn describe(&self) -> String {
        match &self.timescaledb_version {
            Some(v) => format!(
                "PostgreSQL {}, TimescaleDB {v} ({})",
                self.postgres_version,
                self.timescaledb_license
                    .as_deref()
                    .unwrap_or("license unknown")
            ),
            None => format!("PostgreSQL {} (no TimescaleDB)", self.postgres_version),
        }
    }
}

/// The retention the last maintenance run applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionApplied {
    /// Days raw messages and processing stats are kept, 0 = keep.
    pub message_days: i32,
    /// Days signals are kept, 0 = keep.
    pub signal_days: i32,
    /// `drop_chunks` or `delete`.
    pub method: String,
    /// When (as PostgreSQL writes a `timestamptz`).
    pub applied_at: String,
}

/// The running server's edition and the retention last applied (`None` before the first
/// maintenance run, or before migration `m20251207_000013`). Read-only.
pub async fn server_report(
    url: &str,
) -> Result<(ServerEdition, Option<RetentionApplied>), MigrateError> {
    let db = connect_one(url).await?;
    let result = async {
        let edition = ServerEdition::detect(&db).await?;
        let row = db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT pg_catalog.to_regclass('metrics.retention_applied') IS NOT NULL AS present",
            ))
            .await?;
        let present = row
            .map(|r| r.try_get::<bool>("", "present"))
            .transpose()?
            .unwrap_or(false);
        let applied = if present {
            db.query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT message_retention_days, signal_retention_days, method,
                        applied_at::text AS applied_at
                 FROM metrics.retention_applied WHERE singleton",
            ))
            .await?
            .map(|r| {
                Ok::<_, DbErr>(RetentionApplied {
                    message_days: r.try_get("", "message_retention_days")?,
                    signal_days: r.try_get("", "signal_retention_days")?,
                    method: r.try_get("", "method")?,
                    applied_at: r.try_get("", "applied_at")?,
                })
            })
            .transpose()?
        } else {
            None
        };
        Ok::<_, MigrateError>((edition, applied))
    }
    .await;
    let _ = db.close().await;
    result
}
