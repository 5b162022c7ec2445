//! Batch writes: the rows of a batch, its skipped rows and its checkpoint go in one
//! transaction; the channels the imported signals use.

use adapters_postgres::{
    ArchiveAnswer, MessageArrays, MessageInsert, OnLegacyConflict, SignalArrays, SignalInsert,
    first_deliveries, insert_messages_sql, insert_signals_sql,
};
use sea_orm::sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::error::{LegacyError, SqlContext};
use crate::mapping::{ChannelResolution, MappedMessage, MappedSignal, Skip};

/// Adds the channels of resolved legacy values that have signals of this import to
/// `signals.channels` when new there, and remembers which ones this import created.
pub async fn insert_channels(
    conn: &mut PgConnection,
    import_id: Uuid,
    channels: &[&ChannelResolution],
) -> Result<u64, LegacyError> {
    let mut ids = Vec::new();
    let mut labels = Vec::new();
    for c in channels {
        if let Some(label) = &c.label
            && !ids.contains(&c.channel_id)
        {
            ids.push(c.channel_id);
            labels.push(label.clone());
        }
    }
    let done = sea_orm::sqlx::query(
        "WITH ins AS ( \
           INSERT INTO signals.channels (channel_id, label) \
           SELECT * FROM unnest($1::bigint[], $2::text[]) AS u(channel_id, label) \
           WHERE EXISTS (SELECT 1 FROM signals.signals s \
                         WHERE s.channel_id = u.channel_id AND s.import_id = $3) \
           ON CONFLICT (channel_id) DO NOTHING RETURNING channel_id, label) \
         INSERT INTO legacy_import.created_channels (import_id, channel_id, label) \
         SELECT $3, channel_id, label FROM ins ON CONFLICT DO NOTHING",
    )
    .bind(ids)
    .bind(labels)
    .bind(import_id)
    .execute(&mut *conn)
    .await
    .ctx("recording channels")?;
    Ok(done.rows_affected())
}

/// One batch of legacy rows: the mapped ones and the skipped ones with their keys.
#[derive(Debug)]
pub struct Batch<T> {
    /// Position in the stream (batches commit in this order).
    pub seq: u64,
    /// Rows to insert.
    pub rows: Vec<T>,
    /// Rows skipped: key and reason.
    pub skipped: Vec<(String, Skip)>,
    /// The legacy key of the last row read (the checkpoint once committed).
    pub last_key: Option<Vec<String>>,
    /// Rows read.
    pub read: u64,
}

impl<T> Batch<T> {
    /// An empty batch.
    pub fn new(seq: u64, capacity: usize) -> Self {
        Self {
            seq,
            rows: Vec::with_capacity(capacity),
            skipped: Vec::new(),
            last_key: None,
            read: 0,
        }
    }
}

/// Which legacy table a batch comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// `tp_capital_signals`.
    Signals,
    /// `forwarded_messages`.
    Messages,
}

impl Table {
    /// The legacy table name.
    pub fn legacy_name(self) -> &'static str {
        match self {
            Table::Signals => crate::shape::SIGNALS_TABLE,
            Table::Messages => crate::shape::MESSAGES_TABLE,
        }
    }
}

/// What a committed batch did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Written {
    /// Rows read.
    pub read: u64,
    /// Rows new in the target.
    pub inserted: u64,
    /// Rows skipped.
    pub skipped: u64,
}

async fn insert_skipped(
    conn: &mut PgConnection,
    import_id: Uuid,
    table: &str,
    skipped: &[(String, Skip)],
) -> Result<(), LegacyError> {
    if skipped.is_empty() {
        return Ok(());
    }
    let keys: Vec<&str> = skipped.iter().map(|(k, _)| k.as_str()).collect();
    let codes: Vec<&str> = skipped.iter().map(|(_, s)| s.code).collect();
    let details: Vec<&str> = skipped.iter().map(|(_, s)| s.detail.as_str()).collect();
    // A row an earlier live import of the same legacy database already recorded is not
    // recorded again (a re-run counts it as skipped, without a second copy).
    sea_orm::sqlx::query(
        "INSERT INTO legacy_import.skipped_rows (import_id, legacy_table, legacy_key, reason_code, detail) \
         SELECT $1, $2, u.* FROM unnest($3::text[], $4::text[], $5::text[]) AS u(k, code, detail) \
         WHERE NOT EXISTS ( \
           SELECT 1 FROM legacy_import.skipped_rows s \
           JOIN legacy_import.runs r ON r.import_id = s.import_id \
           WHERE s.import_id <> $1 AND s.legacy_table = $2 AND s.legacy_key = u.k \
             AND r.state <> 'rolled_back' \
             AND r.source_key = (SELECT source_key FROM legacy_import.runs WHERE import_id = $1))",
    )
    .bind(import_id)
    .bind(table)
    .bind(keys)
    .bind(codes)
    .bind(details)
    .execute(&mut *conn)
    .await
    .ctx("recording skipped rows")?;
    Ok(())
}

/// A batch that could not be encoded as the JSON parameter of its insert.
fn encoding(what: &str, e: serde_json::Error) -> LegacyError {
    LegacyError::Database {
        context: format!("encoding {what}"),
        detail: e.to_string(),
    }
}

/// Inserts one batch of signals and records its skipped rows (inside the caller's transaction).
pub async fn stage_signals(
    conn: &mut PgConnection,
    import_id: Uuid,
    batch: &Batch<MappedSignal>,
) -> Result<Written, LegacyError> {
    let rows = &batch.rows;
    let inserted = if rows.is_empty() {
        0
    } else {
        let rows: Vec<SignalInsert<'_>> = rows.iter().map(|r| r.insert(import_id)).collect();
        SignalArrays::of(&rows)
            .bind(sea_orm::sqlx::query(insert_signals_sql(
                OnLegacyConflict::Skip,
            )))
            .execute(&mut *conn)
            .await
            .ctx("inserting signals")?
            .rows_affected()
    };
    staged(conn, import_id, Table::Signals, batch, inserted).await
}

/// Inserts one batch of archived messages and records its skipped rows (inside the caller's
/// transaction).
pub async fn stage_messages(
    conn: &mut PgConnection,
    import_id: Uuid,
    batch: &Batch<MappedMessage>,
) -> Result<Written, LegacyError> {
    let rows = &batch.rows;
    let inserted = if rows.is_empty() {
        0
    } else {
        let rows = rows
            .iter()
            .map(|r| r.insert(import_id))
            .collect::<Result<Vec<MessageInsert<'_>>, _>>()
            .map_err(|e| encoding("archived messages", e))?;
        // Each delivery identity claimed once: the first row of it in the batch is archived.
        let firsts: Vec<&MessageInsert<'_>> = first_deliveries(&rows)
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        MessageArrays::of(&firsts)
            .bind(sea_orm::sqlx::query(insert_messages_sql(
                ArchiveAnswer::Count,
            )))
            .execute(&mut *conn)
            .await
            .ctx("inserting archived messages")?
            .rows_affected()
    };
    staged(conn, import_id, Table::Messages, batch, inserted).await
}

/// Records the skipped rows of a batch whose rows are inserted; what the batch did.
async fn staged<T>(
    conn: &mut PgConnection,
    import_id: Uuid,
    table: Table,
    batch: &Batch<T>,
    inserted: u64,
) -> Result<Written, LegacyError> {
    insert_skipped(conn, import_id, table.legacy_name(), &batch.skipped).await?;
    Ok(Written {
        read: batch.read,
        inserted,
        skipped: batch.skipped.len() as u64,
    })
}

/// Advances the checkpoint and the counters of `table` (inside the batch's transaction).
pub async fn checkpoint(
    conn: &mut PgConnection,
    import_id: Uuid,
    table: Table,
    last_key: Option<&[String]>,
    written: Written,
    seconds: f64,
) -> Result<(), LegacyError> {
    let sql = match table {
        Table::Signals => {
            "UPDATE legacy_import.runs SET signals_checkpoint = COALESCE($2, signals_checkpoint), \
               signals_read = signals_read + $3, signals_inserted = signals_inserted + $4, \
               signals_skipped = signals_skipped + $5, copy_seconds = copy_seconds + $6, \
               updated_at = now() WHERE import_id = $1"
        }
        Table::Messages => {
            "UPDATE legacy_import.runs SET messages_checkpoint = COALESCE($2, messages_checkpoint), \
               messages_read = messages_read + $3, messages_inserted = messages_inserted + $4, \
               messages_skipped = messages_skipped + $5, copy_seconds = copy_seconds + $6, \
               updated_at = now() WHERE import_id = $1"
        }
    };
    sea_orm::sqlx::query(sql)
        .bind(import_id)
        .bind(last_key.map(<[String]>::to_vec))
        .bind(written.read as i64)
        .bind(written.inserted as i64)
        .bind(written.skipped as i64)
        .bind(seconds)
        .execute(&mut *conn)
        .await
        .ctx("saving the checkpoint")?;
    Ok(())
}

/// Records the rows the ordered read cannot reach (a key column is NULL) as skipped and marks
/// the table copied, together.
pub async fn table_done(
    conn: &mut PgConnection,
    import_id: Uuid,
    table: Table,
    keyless: &[(String, Skip)],
) -> Result<(), LegacyError> {
    let mut tx = conn.begin().await.ctx("starting a batch")?;
    insert_skipped(&mut tx, import_id, table.legacy_name(), keyless).await?;
    let sql = match table {
        Table::Signals => {
            "UPDATE legacy_import.runs SET signals_done = TRUE, \
               signals_read = signals_read + $2, signals_skipped = signals_skipped + $2, \
               updated_at = now() WHERE import_id = $1"
        }
        Table::Messages => {
            "UPDATE legacy_import.runs SET messages_done = TRUE, \
               messages_read = messages_read + $2, messages_skipped = messages_skipped + $2, \
               updated_at = now() WHERE import_id = $1"
        }
    };
    sea_orm::sqlx::query(sql)
        .bind(import_id)
        .bind(keyless.len() as i64)
        .execute(&mut *tx)
        .await
        .ctx("marking a table copied")?;
    tx.commit().await.ctx("committing")?;
    Ok(())
}
