//! Delivery identity without the message date. The archive is a hypertable, so its unique key
//! must include `message_date`; a re-delivery whose date differs (a gateway that sends its
//! forwarding time as `timestamp`) would then be stored again, and concurrent ones would each
//! create a signal. This plain table holds `(channel_id, message_id, edit_date)` once: the
//! archive insert only goes ahead for keys it could claim here.

use sea_orm_migration::prelude::*;

/// Creates `forwarded_messages.delivery_keys` and fills it from the archive.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20251106_000009_delivery_keys"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE TABLE IF NOT EXISTS forwarded_messages.delivery_keys (
                   channel_id bigint NOT NULL,
                   message_id bigint NOT NULL,
                   edit_date timestamptz,
                   first_seen timestamptz NOT NULL DEFAULT now(),
                   CONSTRAINT delivery_keys_key UNIQUE NULLS NOT DISTINCT (channel_id, message_id, edit_date)
                 );
                 INSERT INTO forwarded_messages.delivery_keys (channel_id, message_id, edit_date)
                 SELECT channel_id, message_id, edit_date FROM forwarded_messages.messages
                 ON CONFLICT DO NOTHING;",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS forwarded_messages.delivery_keys;")
            .await?;
        Ok(())
    }
}
