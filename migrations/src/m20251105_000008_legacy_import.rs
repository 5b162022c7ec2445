//! Bookkeeping of the legacy import (SPEC §6, `tp-capital-migrate import-legacy`): one row per
//! run with its checkpoints (so a killed run resumes where its last committed batch ended), the
//! legacy rows it skipped and why, and the channels it created (so a rollback removes exactly
//! what the import added). The imported rows themselves carry `import_id` in their own tables.

use sea_orm_migration::prelude::*;

/// Creates the schema `legacy_import` with `runs`, `skipped_rows` and `created_channels`.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20251105_000008_legacy_import"
    }
}

const UP: &str = r#"
CREATE SCHEMA IF NOT EXISTS legacy_import;

CREATE TABLE IF NOT EXISTS legacy_import.runs (
  import_id            UUID PRIMARY KEY,
  source               TEXT NOT NULL,
  source_key           TEXT NOT NULL,
  legacy_schema        TEXT NOT NULL,
  state                TEXT NOT NULL
                       CHECK (state IN ('running', 'validating', 'complete', 'failed', 'rolled_back')),
  batch_size           INTEGER NOT NULL CHECK (batch_size > 0),
  writers              INTEGER NOT NULL DEFAULT 1 CHECK (writers > 0),
  backup_dir           TEXT,
  signals_checkpoint   TEXT[],
  signals_done         BOOLEAN NOT NULL DEFAULT FALSE,
  messages_checkpoint  TEXT[],
  messages_done        BOOLEAN NOT NULL DEFAULT FALSE,
  signals_read         BIGINT NOT NULL DEFAULT 0,
  signals_inserted     BIGINT NOT NULL DEFAULT 0,
  signals_skipped      BIGINT NOT NULL DEFAULT 0,
  messages_read        BIGINT NOT NULL DEFAULT 0,
  messages_inserted    BIGINT NOT NULL DEFAULT 0,
  messages_skipped     BIGINT NOT NULL DEFAULT 0,
  copy_seconds         DOUBLE PRECISION NOT NULL DEFAULT 0,
  attempts             INTEGER NOT NULL DEFAULT 1,
  started_at           TIMESTAMPTZ NOT NULL DEFAULT pg_catalog.now(),
  updated_at           TIMESTAMPTZ NOT NULL DEFAULT pg_catalog.now(),
  finished_at          TIMESTAMPTZ,
  rolled_back_at       TIMESTAMPTZ,
  validation           JSONB,
  rollback_summary     JSONB,
  error                TEXT
);
COMMENT ON TABLE legacy_import.runs IS
  'One legacy import run; a checkpoint (the legacy key of the last row of the last batch) is written in the same transaction as its batch, batches commit in order.';
CREATE UNIQUE INDEX IF NOT EXISTS runs_one_unfinished_idx
  ON legacy_import.runs (source_key) WHERE state IN ('running', 'validating', 'failed');

CREATE TABLE IF NOT EXISTS legacy_import.skipped_rows (
  import_id    UUID NOT NULL REFERENCES legacy_import.runs (import_id) ON DELETE CASCADE,
  legacy_table TEXT NOT NULL,
  legacy_key   TEXT NOT NULL,
  reason_code  TEXT NOT NULL,
  detail       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS skipped_rows_import_idx
  ON legacy_import.skipped_rows (import_id, legacy_table, reason_code);

CREATE TABLE IF NOT EXISTS legacy_import.created_channels (
  import_id  UUID NOT NULL REFERENCES legacy_import.runs (import_id) ON DELETE CASCADE,
  channel_id BIGINT NOT NULL,
  label      TEXT,
  CONSTRAINT created_channels_pkey PRIMARY KEY (import_id, channel_id)
);
COMMENT ON TABLE legacy_import.created_channels IS
  'Channel rows an import added to signals.channels (absent before it), with the label it gave them.';
"#;

const DOWN: &str = r#"
DROP TABLE IF EXISTS legacy_import.created_channels;
DROP TABLE IF EXISTS legacy_import.skipped_rows;
DROP TABLE IF EXISTS legacy_import.runs;
DROP SCHEMA IF EXISTS legacy_import;
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
