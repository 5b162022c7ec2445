//! What the database server offers, detected once by the first migration and recorded in
//! `metrics.capabilities`, so that every later migration and the service agree on one mode.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

/// How the hourly signal aggregate is maintained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateMode {
    /// A TimescaleDB continuous aggregate with a refresh policy (Timescale license).
    ContinuousAggregate,
    /// A plain materialized view the service refreshes (`REFRESH ... CONCURRENTLY`).
    MaterializedView,
    /// Exact rollups kept by triggers (`m20251207_000013_exact_rollups`), the same on every
    /// edition.
    Rollup,
}

/// How old raw messages and processing stats are removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetentionMode {
    /// TimescaleDB retention policies (Timescale license).
    Policy,
    /// The service calls `drop_chunks` (TimescaleDB, Apache build).
    DropChunks,
    /// The service runs `DELETE` (plain PostgreSQL).
    Delete,
}

impl AggregateMode {
    /// The name stored in `metrics.capabilities.aggregate_mode`.
    pub fn as_str(self) -> &'static str {
        match self {
            AggregateMode::ContinuousAggregate => "continuous_aggregate",
            AggregateMode::MaterializedView => "materialized_view",
            AggregateMode::Rollup => "rollup",
        }
    }
}

impl RetentionMode {
    /// The name stored in `metrics.capabilities.retention_mode`.
    pub fn as_str(self) -> &'static str {
        match self {
            RetentionMode::Policy => "policy",
            RetentionMode::DropChunks => "drop_chunks",
            RetentionMode::Delete => "delete",
        }
    }
}

/// The mode recorded when the schema was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// The installed TimescaleDB version, when the extension is installed.
    pub timescaledb_version: Option<String>,
    /// `SHOW timescaledb.license` at detection time (`apache`, `timescale`), when installed.
    pub timescaledb_license: Option<String>,
    /// Whether the time-partitioned tables are hypertables.
    pub hypertables: bool,
    /// How the hourly aggregate is maintained.
    pub aggregate: AggregateMode,
    /// How retention is applied.
    pub retention: RetentionMode,
}

impl Capabilities {
    /// Reads the row the first migration recorded.
    pub async fn read<C: ConnectionTrait>(db: &C) -> Result<Self, DbErr> {
        let row = db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT timescaledb_version, timescaledb_license, hypertables, aggregate_mode, \
                 retention_mode FROM metrics.capabilities WHERE singleton",
            ))
            .await?
            .ok_or_else(|| DbErr::Migration("metrics.capabilities has no row".into()))?;
        let aggregate = match row.try_get::<String>("", "aggregate_mode")?.as_str() {
            "continuous_aggregate" => AggregateMode::ContinuousAggregate,
            "materialized_view" => AggregateMode::MaterializedView,
            "rollup" => AggregateMode::Rollup,
            other => {
                return Err(DbErr::Migration(format!(
                    "unknown aggregate_mode '{other}'"
                )));
            }
        };
        let retention = match row.try_get::<String>("", "retention_mode")?.as_str() {
            "policy" => RetentionMode::Policy,
            "drop_chunks" => RetentionMode::DropChunks,
            "delete" => RetentionMode::Delete,
            other => {
                return Err(DbErr::Migration(format!(
                    "unknown retention_mode '{other}'"
                )));
            }
        };
        Ok(Self {
            timescaledb_version: row.try_get("", "timescaledb_version")?,
            timescaledb_license: row.try_get("", "timescaledb_license")?,
            hypertables: row.try_get("", "hypertables")?,
            aggregate,
            retention,
        })
    }
}

/// The quoted schema an extension is installed in (`public`, `"my schema"`), if installed.
pub(crate) async fn extension_schema<C: ConnectionTrait>(
    db: &C,
    extension: &str,
) -> Result<Option<String>, DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT quote_ident(n.nspname) AS schema FROM pg_catalog.pg_extension e \
             JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = $1",
            [extension.into()],
        ))
        .await?;
    row.map(|r| r.try_get::<String>("", "schema")).transpose()
}

/// The quoted schema of an extension the schema cannot work without.
pub(crate) async fn required_extension_schema<C: ConnectionTrait>(
    db: &C,
    extension: &str,
) -> Result<String, DbErr> {
    extension_schema(db, extension)
        .await?
        .ok_or_else(|| DbErr::Migration(format!("extension {extension} is not installed")))
}
