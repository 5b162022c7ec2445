//! When the current revision of a signal was stored, so its history can say when each earlier
//! revision was current (`updated_at` moves with every status change and cannot tell).

use sea_orm_migration::prelude::*;

/// Adds `signals.signals.revised_at`.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20251102_000005_revision_time"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE signals.signals ADD COLUMN IF NOT EXISTS revised_at TIMESTAMPTZ;\n\
                 COMMENT ON COLUMN signals.signals.revised_at IS \
                 'When the current revision was stored; NULL for revision 1 (then created_at).';",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE signals.signals DROP COLUMN IF EXISTS revised_at;")
            .await?;
        Ok(())
    }
}
