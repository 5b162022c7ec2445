//! The rollback: exactly the rows of one import, in one transaction.

use sea_orm::sqlx::{Connection, PgConnection, Row};
use serde::Serialize;
use uuid::Uuid;

use crate::error::{LegacyError, SqlContext};

/// What a rollback removed.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct RollbackSummary {
    /// `signals.signals` rows.
    pub signals: u64,
    /// `signals.signal_revisions` rows of those signals.
    pub revisions: u64,
    /// `signals.status_events` rows of those signals.
    pub status_events: u64,
    /// `forwarded_messages.messages` rows.
    pub messages: u64,
    /// `forwarded_messages.delivery_keys` claimed for those messages.
    pub delivery_keys: u64,
    /// `signals.channels` rows the import created (absent before it) and nobody changed since.
    pub channels: u64,
}

/// Removes exactly the rows of `import_id`, in one transaction; `None` when it was already
/// rolled back (nothing to do).
pub async fn rollback(
    conn: &mut PgConnection,
    import_id: Uuid,
) -> Result<Option<RollbackSummary>, LegacyError> {
    let mut tx = conn.begin().await.ctx("starting the rollback")?;
    let state: Option<String> = sea_orm::sqlx::query(
        "SELECT state FROM legacy_import.runs WHERE import_id = $1 FOR UPDATE",
    )
    .bind(import_id)
    .fetch_optional(&mut *tx)
    .await
    .ctx("reading the import")?
    .map(|r| r.try_get("state"))
    .transpose()
    .ctx("reading the import")?;
    match state.as_deref() {
        None => return Err(LegacyError::UnknownImport(import_id)),
        Some("rolled_back") => return Ok(None),
        Some(_) => {}
    }
    let mut s = RollbackSummary::default();
    let exec = |sql: &'static str| sea_orm::sqlx::query(sql).bind(import_id);
    s.status_events = exec(
        "DELETE FROM signals.status_events WHERE signal_id IN \
         (SELECT id FROM signals.signals WHERE import_id = $1)",
    )
    .execute(&mut *tx)
    .await
    .ctx("removing status events")?
    .rows_affected();
    s.revisions = exec(
        "DELETE FROM signals.signal_revisions WHERE signal_id IN \
         (SELECT id FROM signals.signals WHERE import_id = $1)",
    )
    .execute(&mut *tx)
    .await
    .ctx("removing revisions")?
    .rows_affected();
    s.signals = exec("DELETE FROM signals.signals WHERE import_id = $1")
        .execute(&mut *tx)
        .await
        .ctx("removing signals")?
        .rows_affected();
    s.delivery_keys = exec(
        "DELETE FROM forwarded_messages.delivery_keys d USING forwarded_messages.messages m \
         WHERE m.import_id = $1 AND d.channel_id = m.channel_id AND d.message_id = m.message_id \
           AND d.edit_date IS NULL AND m.edit_date IS NULL",
    )
    .execute(&mut *tx)
    .await
    .ctx("removing delivery keys")?
    .rows_affected();
    s.messages = exec("DELETE FROM forwarded_messages.messages WHERE import_id = $1")
        .execute(&mut *tx)
        .await
        .ctx("removing archived messages")?
        .rows_affected();
    s.channels = exec(
        "DELETE FROM signals.channels c USING legacy_import.created_channels cc \
         WHERE cc.import_id = $1 AND c.channel_id = cc.channel_id \
           AND c.label IS NOT DISTINCT FROM cc.label AND c.default_kind IS NULL",
    )
    .execute(&mut *tx)
    .await
    .ctx("removing channels")?
    .rows_affected();
    sea_orm::sqlx::query(
        "UPDATE legacy_import.runs SET state = 'rolled_back', rolled_back_at = now(), \
           rollback_summary = $2::jsonb, updated_at = now() WHERE import_id = $1",
    )
    .bind(import_id)
    .bind(serde_json::to_string(&s).unwrap_or_default())
    .execute(&mut *tx)
    .await
    .ctx("marking the import rolled back")?;
    tx.commit().await.ctx("committing the rollback")?;
    Ok(Some(s))
}
