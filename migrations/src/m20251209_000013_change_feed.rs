//! The change feed of live clients (`SignalChanges` in the domain): every insert, and every
//! update that moves `updated_at`, stamps the row with its writing transaction (`change_tx`).
//! Read in `(change_tx, id)` order up to the oldest running transaction, the feed is a prefix
//! that later commits never insert into, so `/signals/stream` replays exactly what a client or
//! the api missed (a Redis outage included), in order, once.

use sea_orm_migration::prelude::*;

/// Adds `signals.signals.change_tx`, its stamping trigger and `signals_change_idx`.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20251209_000013_change_feed"
    }
}

const UP: &str = r#"
ALTER TABLE signals.signals ADD COLUMN IF NOT EXISTS change_tx pg_catalog.xid8;
ALTER TABLE signals.signals ALTER COLUMN change_tx SET DEFAULT pg_catalog.pg_current_xact_id();
COMMENT ON COLUMN signals.signals.change_tx IS
  'The transaction that inserted the row or last moved updated_at: the change feed position, with id.';
CREATE OR REPLACE FUNCTION signals.stamp_change() RETURNS trigger
  LANGUAGE plpgsql SET search_path = pg_catalog AS $fn$
BEGIN
  NEW.change_tx := pg_catalog.pg_current_xact_id();
  RETURN NEW;
END
$fn$;
DROP TRIGGER IF EXISTS signals_stamp_change ON signals.signals;
CREATE TRIGGER signals_stamp_change BEFORE UPDATE ON signals.signals FOR EACH ROW
  WHEN (OLD.updated_at IS DISTINCT FROM NEW.updated_at)
  EXECUTE FUNCTION signals.stamp_change();
CREATE INDEX IF NOT EXISTS signals_change_idx ON signals.signals (change_tx, id)
  WHERE change_tx IS NOT NULL;
"#;

const DOWN: &str = r#"
DROP INDEX IF EXISTS signals.signals_change_idx;
DROP TRIGGER IF EXISTS signals_stamp_change ON signals.signals;
DROP FUNCTION IF EXISTS signals.stamp_change();
ALTER TABLE signals.signals DROP COLUMN IF EXISTS change_tx;
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
