//! Channel labels learned from the gateway: the ingest names a channel after its Telegram title
//! (the bot payload's `metadata.telegramDetails.chatTitle`) unless an operator named it, so the
//! dashboard's channel filter shows names instead of ids.

use sea_orm_migration::prelude::*;

/// Adds `signals.channels.label_learned`.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20251206_000012_channel_label_learned"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE signals.channels ADD COLUMN IF NOT EXISTS label_learned BOOLEAN NOT NULL DEFAULT false;\n\
                 COMMENT ON COLUMN signals.channels.label_learned IS \
                 'The label is the Telegram title the gateway sent (the ingest may update it); false when an operator or an import set it.';",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE signals.channels DROP COLUMN IF EXISTS label_learned;")
            .await?;
        Ok(())
    }
}
