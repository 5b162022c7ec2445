//! The newest signal of a channel, found from the rollups: `/channels` takes the newest hour
//! with live signals of each channel from `metrics.signal_rollup` (this index, one probe each)
//! and reads the exact time inside that hour only, so the probe into `signals.signals` plans
//! one chunk instead of every chunk (`crates/adapters-postgres/src/newest.rs`).

use sea_orm_migration::prelude::*;

/// Indexes the non-empty hourly rollup rows by channel, newest first.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20251214_000014_rollup_newest_index"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX IF NOT EXISTS signal_rollup_channel_newest_idx
                   ON metrics.signal_rollup (channel_id, bucket DESC) WHERE signal_count > 0;",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS metrics.signal_rollup_channel_newest_idx;")
            .await?;
        Ok(())
    }
}
