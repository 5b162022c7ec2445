//! Schemas, extensions and the capability record every later migration reads.

use sea_orm_migration::prelude::*;

/// Creates the three schemas, `pg_trgm`, TimescaleDB when the server has it, and
/// `metrics.capabilities`.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20251101_000001_foundation"
    }
}

/// TimescaleDB is used when it is already installed in the database (the stack installs it as
/// superuser) or can be installed here; its absence is not an error.
const UP: &str = r#"
CREATE SCHEMA IF NOT EXISTS signals;
CREATE SCHEMA IF NOT EXISTS forwarded_messages;
CREATE SCHEMA IF NOT EXISTS metrics;

DO $tp$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'timescaledb')
     AND EXISTS (SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = 'timescaledb') THEN
    BEGIN
      CREATE EXTENSION IF NOT EXISTS timescaledb;
    EXCEPTION WHEN OTHERS THEN
      RAISE NOTICE 'timescaledb is available but cannot be installed here (%): plain PostgreSQL mode', SQLERRM;
    END;
  END IF;
END
$tp$;

CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;

CREATE TABLE IF NOT EXISTS metrics.capabilities (
  singleton           BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
  timescaledb_version TEXT,
  timescaledb_license TEXT,
  hypertables         BOOLEAN NOT NULL,
  aggregate_mode      TEXT NOT NULL CHECK (aggregate_mode IN ('continuous_aggregate', 'materialized_view')),
  retention_mode      TEXT NOT NULL CHECK (retention_mode IN ('policy', 'drop_chunks', 'delete')),
  detected_at         TIMESTAMPTZ NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE metrics.capabilities IS
  'The mode chosen when the schema was created (hypertables, aggregate, retention); read by the service.';

INSERT INTO metrics.capabilities
  (singleton, timescaledb_version, timescaledb_license, hypertables, aggregate_mode, retention_mode)
SELECT TRUE,
       e.extversion,
       CASE WHEN e.extversion IS NOT NULL THEN pg_catalog.current_setting('timescaledb.license', TRUE) END,
       e.extversion IS NOT NULL,
       CASE WHEN e.extversion IS NOT NULL
                 AND pg_catalog.current_setting('timescaledb.license', TRUE) = 'timescale'
            THEN 'continuous_aggregate' ELSE 'materialized_view' END,
       CASE WHEN e.extversion IS NULL THEN 'delete'
            WHEN pg_catalog.current_setting('timescaledb.license', TRUE) = 'timescale' THEN 'policy'
            ELSE 'drop_chunks' END
FROM (SELECT 1) AS one
LEFT JOIN pg_catalog.pg_extension e ON e.extname = 'timescaledb'
ON CONFLICT (singleton) DO NOTHING;
"#;

/// Extensions stay: they may predate the schema (the stack installs TimescaleDB) and dropping
/// them needs more rights than the owner has.
const DOWN: &str = r#"
DROP TABLE IF EXISTS metrics.capabilities;
DROP SCHEMA IF EXISTS metrics;
DROP SCHEMA IF EXISTS forwarded_messages;
DROP SCHEMA IF EXISTS signals;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(UP).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(DOWN).await?;
        Ok(())
    }
}
