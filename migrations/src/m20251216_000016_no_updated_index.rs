//! `signals_updated_idx` served the first change feed, read in `(updated_at, id)` order; the
//! feed reads `(change_tx, id)` since `m20251209_000013_change_feed` and no statement orders or
//! filters on `updated_at` any more. The index cost a B-tree insert per signal written.

use sea_orm_migration::prelude::*;

/// Drops `signals_updated_idx`.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20251216_000016_no_updated_index"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS signals.signals_updated_idx;")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX IF NOT EXISTS signals_updated_idx ON signals.signals (updated_at, id);",
            )
            .await?;
        Ok(())
    }
}
