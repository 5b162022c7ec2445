//! The change feed (`SignalChanges::changed_since`, the catch-up of `/signals/stream`) reads
//! signals in `(updated_at, id)` order from a point in time: without an index every catch-up
//! scans every chunk.

use sea_orm_migration::prelude::*;

/// Adds `signals_updated_idx`.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20251104_000007_signal_changes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX IF NOT EXISTS signals_updated_idx ON signals.signals (updated_at, id);",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS signals.signals_updated_idx;")
            .await?;
        Ok(())
    }
}
