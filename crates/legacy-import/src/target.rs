//! The new database: the import lock, the run record with its checkpoints, batch writes (one
//! transaction per batch: rows, skipped rows and checkpoint together, so a kill loses at most
//! one uncommitted batch and a resume never double-counts), channels, and the rollback.

use chrono::{DateTime, Utc};
use sea_orm::sqlx::{Connection, Executor, PgConnection, Row};
use serde::Serialize;
use uuid::Uuid;

use super::error::{LegacyError, SqlContext};
use super::mapping::{
    ChannelResolution, MESSAGE_OUTCOME, MESSAGE_REASON, MESSAGE_SOURCE, MappedMessage,
    MappedSignal, PARSER_VERSION, Skip,
};

/// The advisory lock of imports and rollbacks (`tplegacy` in ASCII), distinct from the schema
/// migration lock.
const IMPORT_LOCK_KEY: i64 = 0x7470_6c65_6761_6379;

/// How long a run waits for another import or rollback (or a killed run's backend that has not
/// noticed its client is gone) to release the import lock.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Takes the import lock for this session, waiting up to [`LOCK_WAIT`], or says who holds it.
pub async fn lock(conn: &mut PgConnection) -> Result<(), LegacyError> {
    let started = std::time::Instant::now();
    loop {
        let row = sea_orm::sqlx::query("SELECT pg_catalog.pg_try_advisory_lock($1) AS locked")
            .bind(IMPORT_LOCK_KEY)
            .fetch_one(&mut *conn)
            .await
            .ctx("taking the import lock")?;
        if row
            .try_get::<bool, _>("locked")
            .ctx("taking the import lock")?
        {
            return Ok(());
        }
        let holder = lock_holder(conn).await?.unwrap_or(0);
        if started.elapsed() >= LOCK_WAIT {
            return Err(LegacyError::Busy(holder));
        }
        tracing::info!(holder, "waiting for the import lock");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// The backend holding the import lock, if any (read-only: what a dry run checks).
pub async fn lock_holder(conn: &mut PgConnection) -> Result<Option<i32>, LegacyError> {
    let key = IMPORT_LOCK_KEY as u64;
    let row = sea_orm::sqlx::query(
        "SELECT pid FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND granted \
         AND database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()) \
         AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1 LIMIT 1",
    )
    .bind((key >> 32) as i64)
    .bind((key & 0xffff_ffff) as i64)
    .fetch_optional(&mut *conn)
    .await
    .ctx("reading the import lock")?;
    row.map(|r| r.try_get::<i32, _>("pid"))
        .transpose()
        .ctx("reading the import lock")
}

/// Session settings of a writing connection. Losing the last commits in a server crash is
/// harmless: each checkpoint commits with its batch, so a resume redoes exactly what was lost.
/// A larger GIN pending list lets the trigram indexes absorb rows in bulk.
pub async fn tune_writer(conn: &mut PgConnection) -> Result<(), LegacyError> {
    conn.execute(
        "SET synchronous_commit = off; SET statement_timeout = 0; \
         SET gin_pending_list_limit = '32MB'",
    )
    .await
    .ctx("configuring the import session")?;
    Ok(())
}

/// A row of `legacy_import.runs`.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// The import id.
    pub import_id: Uuid,
    /// running, validating, complete, failed, rolled_back.
    pub state: String,
    /// Where its backup is.
    pub backup_dir: Option<String>,
    /// Legacy key (`ts`, `id`) of the last signal committed.
    pub signals_checkpoint: Option<Vec<String>>,
    /// Every signal was read.
    pub signals_done: bool,
    /// Last legacy message key committed.
    pub messages_checkpoint: Option<Vec<String>>,
    /// Every message was read.
    pub messages_done: bool,
    /// Counters.
    pub signals_read: i64,
    /// Counters.
    pub signals_inserted: i64,
    /// Counters.
    pub signals_skipped: i64,
    /// Counters.
    pub messages_read: i64,
    /// Counters.
    pub messages_inserted: i64,
    /// Counters.
    pub messages_skipped: i64,
    /// Time spent copying, over every attempt.
    pub copy_seconds: f64,
    /// 1 + resumes.
    pub attempts: i32,
    /// When the first attempt started.
    pub started_at: DateTime<Utc>,
    /// When it completed.
    pub finished_at: Option<DateTime<Utc>>,
    /// The legacy schema.
    pub legacy_schema: String,
    /// The legacy database, password hidden.
    pub source: String,
    /// Batch size.
    pub batch_size: i32,
    /// Parallel writing connections.
    pub writers: i32,
}

const RUN_COLUMNS: &str = "import_id, state, backup_dir, signals_checkpoint, signals_done, \
    messages_checkpoint, messages_done, signals_read, signals_inserted, signals_skipped, \
    messages_read, messages_inserted, messages_skipped, copy_seconds, attempts, started_at, \
    finished_at, legacy_schema, source, batch_size, writers";

fn decode_run(r: &sea_orm::sqlx::postgres::PgRow) -> Result<Run, sea_orm::sqlx::Error> {
    Ok(Run {
        import_id: r.try_get("import_id")?,
        state: r.try_get("state")?,
        backup_dir: r.try_get("backup_dir")?,
        signals_checkpoint: r.try_get("signals_checkpoint")?,
        signals_done: r.try_get("signals_done")?,
        messages_checkpoint: r.try_get("messages_checkpoint")?,
        messages_done: r.try_get("messages_done")?,
        signals_read: r.try_get("signals_read")?,
        signals_inserted: r.try_get("signals_inserted")?,
        signals_skipped: r.try_get("signals_skipped")?,
        messages_read: r.try_get("messages_read")?,
        messages_inserted: r.try_get("messages_inserted")?,
        messages_skipped: r.try_get("messages_skipped")?,
        copy_seconds: r.try_get("copy_seconds")?,
        attempts: r.try_get("attempts")?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
        legacy_schema: r.try_get("legacy_schema")?,
        source: r.try_get("source")?,
        batch_size: r.try_get("batch_size")?,
        writers: r.try_get("writers")?,
    })
}

/// The unfinished run of this source (running, validating or failed), if any.
pub async fn unfinished_run(
    conn: &mut PgConnection,
    source_key: &str,
) -> Result<Option<Run>, LegacyError> {
    let q = format!(
        "SELECT {RUN_COLUMNS} FROM legacy_import.runs \
         WHERE source_key = $1 AND state IN ('running', 'validating', 'failed')"
    );
    let row = sea_orm::sqlx::query(sea_orm::sqlx::AssertSqlSafe(q))
        .bind(source_key)
        .fetch_optional(&mut *conn)
        .await
        .ctx("reading unfinished imports")?;
    row.as_ref()
        .map(decode_run)
        .transpose()
        .ctx("reading unfinished imports")
}

/// One run by id.
pub async fn run_by_id(conn: &mut PgConnection, id: Uuid) -> Result<Option<Run>, LegacyError> {
    let q = format!("SELECT {RUN_COLUMNS} FROM legacy_import.runs WHERE import_id = $1");
    let row = sea_orm::sqlx::query(sea_orm::sqlx::AssertSqlSafe(q))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .ctx("reading the import")?;
    row.as_ref()
        .map(decode_run)
        .transpose()
        .ctx("reading the import")
}

/// Every import whose rows are in the target (not rolled back): the scope of validation.
pub async fn live_imports(conn: &mut PgConnection) -> Result<Vec<Uuid>, LegacyError> {
    let rows = conn
        .fetch_all("SELECT import_id FROM legacy_import.runs WHERE state <> 'rolled_back'")
        .await
        .ctx("reading imports")?;
    rows.iter()
        .map(|r| r.try_get("import_id"))
        .collect::<Result<_, _>>()
        .ctx("reading imports")
}

/// Records a new run.
#[allow(clippy::too_many_arguments)]
pub async fn create_run(
    conn: &mut PgConnection,
    import_id: Uuid,
    source: &str,
    source_key: &str,
    schema: &str,
    batch_size: usize,
    writers: usize,
    backup_dir: &str,
    started_at: DateTime<Utc>,
) -> Result<Run, LegacyError> {
    sea_orm::sqlx::query(
        "INSERT INTO legacy_import.runs \
           (import_id, source, source_key, legacy_schema, state, batch_size, writers, backup_dir, started_at) \
         VALUES ($1, $2, $3, $4, 'running', $5, $8, $6, $7)",
    )
    .bind(import_id)
    .bind(source)
    .bind(source_key)
    .bind(schema)
    .bind(i32::try_from(batch_size).unwrap_or(i32::MAX))
    .bind(backup_dir)
    .bind(started_at)
    .bind(i32::try_from(writers).unwrap_or(i32::MAX))
    .execute(&mut *conn)
    .await
    .ctx("recording the import run")?;
    run_by_id(conn, import_id)
        .await?
        .ok_or(LegacyError::UnknownImport(import_id))
}

/// Marks a resumed attempt.
pub async fn resume_run(conn: &mut PgConnection, import_id: Uuid) -> Result<(), LegacyError> {
    sea_orm::sqlx::query(
        "UPDATE legacy_import.runs SET state = 'running', attempts = attempts + 1, error = NULL, \
         updated_at = now() WHERE import_id = $1",
    )
    .bind(import_id)
    .execute(&mut *conn)
    .await
    .ctx("resuming the import run")?;
    Ok(())
}

/// Sets the state (and the error, for `failed`).
pub async fn set_state(
    conn: &mut PgConnection,
    import_id: Uuid,
    state: &str,
    error: Option<&str>,
    validation: Option<&serde_json::Value>,
) -> Result<(), LegacyError> {
    sea_orm::sqlx::query(
        "UPDATE legacy_import.runs SET state = $2, error = $3, \
           validation = COALESCE($4::jsonb, validation), updated_at = now(), \
           finished_at = CASE WHEN $2 = 'complete' THEN now() ELSE finished_at END \
         WHERE import_id = $1",
    )
    .bind(import_id)
    .bind(state)
    .bind(error)
    .bind(validation.map(|v| v.to_string()))
    .execute(&mut *conn)
    .await
    .ctx("updating the import run")?;
    Ok(())
}

/// Adds the channels of resolved legacy values to `signals.channels` when new there, and
/// remembers which ones this import created.
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
           SELECT * FROM unnest($1::bigint[], $2::text[]) \
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
            Table::Signals => super::shape::SIGNALS_TABLE,
            Table::Messages => super::shape::MESSAGES_TABLE,
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

const INSERT_SIGNALS: &str = "INSERT INTO signals.signals \
  (channel_id, message_id, message_date, asset, kind, direction, entry_min, entry_max, targets, \
   target_final, stop, status, raw_message, parser_version, warnings, source, created_at, \
   updated_at, import_id, legacy_id) \
SELECT x.channel_id, x.message_id, x.message_date, x.asset, x.kind, 'long', x.entry_min::numeric, \
       x.entry_max::numeric, x.targets::numeric[], x.target_final::numeric, x.stop::numeric, 'open', \
       x.raw_message, $17, x.warnings::jsonb, x.source, x.created_at, x.updated_at, $16, x.legacy_id \
FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], \
            $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], \
            $13::timestamptz[], $14::timestamptz[], $15::uuid[], $18::text[]) \
  AS x(channel_id, message_id, message_date, asset, kind, entry_min, entry_max, targets, \
       target_final, stop, raw_message, source, created_at, updated_at, legacy_id, warnings) \
ON CONFLICT (legacy_id, message_date) WHERE legacy_id IS NOT NULL DO NOTHING";

/// Claims each message's delivery identity `(channel_id, message_id, edit_date)` in
/// `forwarded_messages.delivery_keys` as the ingest does, and archives only the first row of
/// each claimed identity: a delivery the archive already has (from the live service or a
/// repeated legacy delivery) is not stored twice.
const INSERT_MESSAGES: &str = "WITH x AS ( \
  SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::text[], $5::text[], \
                       $6::text[], $7::timestamptz[]) WITH ORDINALITY \
    AS x(channel_id, message_id, message_date, text, media_type, metadata, received_at, n)), \
claimed AS ( \
  INSERT INTO forwarded_messages.delivery_keys (channel_id, message_id, edit_date) \
  SELECT DISTINCT channel_id, message_id, NULL::timestamptz FROM x \
  ON CONFLICT DO NOTHING RETURNING channel_id, message_id) \
INSERT INTO forwarded_messages.messages \
  (channel_id, message_id, message_date, edit_date, text, media_type, source, metadata, outcome, \
   reason, parser_version, received_at, import_id) \
SELECT DISTINCT ON (x.channel_id, x.message_id) x.channel_id, x.message_id, x.message_date, NULL, \
       x.text, x.media_type, $8, x.metadata::jsonb, $9, $10, $11, x.received_at, $12 \
FROM x JOIN claimed USING (channel_id, message_id) \
ORDER BY x.channel_id, x.message_id, x.n \
ON CONFLICT DO NOTHING";

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
    sea_orm::sqlx::query(
        "INSERT INTO legacy_import.skipped_rows (import_id, legacy_table, legacy_key, reason_code, detail) \
         SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::text[])",
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

fn price(p: Option<domain::model::Price>) -> Option<String> {
    p.map(|p| p.value().to_string())
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
        let targets: Vec<String> = rows
            .iter()
            .map(|r| {
                let list: Vec<String> = r.targets.iter().map(|t| t.value().to_string()).collect();
                format!("{{{}}}", list.join(","))
            })
            .collect();
        let warnings: Vec<String> = rows
            .iter()
            .map(|r| serde_json::to_string(&r.warnings).unwrap_or_else(|_| "[]".to_owned()))
            .collect();
        sea_orm::sqlx::query(INSERT_SIGNALS)
            .bind(rows.iter().map(|r| r.channel_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.message_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.message_date).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.asset.as_str()).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.kind.map(|k| k.as_str()))
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| price(r.entry_min)).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| price(r.entry_max)).collect::<Vec<_>>())
            .bind(targets)
            .bind(
                rows.iter()
                    .map(|r| price(r.target_final))
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| price(r.stop)).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.raw_message.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| r.source.as_deref()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.created_at).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.updated_at).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.legacy_id).collect::<Vec<_>>())
            .bind(import_id)
            .bind(PARSER_VERSION)
            .bind(warnings)
            .execute(&mut *conn)
            .await
            .ctx("inserting signals")?
            .rows_affected()
    };
    insert_skipped(
        conn,
        import_id,
        Table::Signals.legacy_name(),
        &batch.skipped,
    )
    .await?;
    Ok(Written {
        read: batch.read,
        inserted,
        skipped: batch.skipped.len() as u64,
    })
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
        sea_orm::sqlx::query(INSERT_MESSAGES)
            .bind(rows.iter().map(|r| r.channel_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.message_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.message_date).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.text.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.media_type).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.metadata.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.received_at).collect::<Vec<_>>())
            .bind(MESSAGE_SOURCE)
            .bind(MESSAGE_OUTCOME)
            .bind(MESSAGE_REASON)
            .bind(PARSER_VERSION)
            .bind(import_id)
            .execute(&mut *conn)
            .await
            .ctx("inserting archived messages")?
            .rows_affected()
    };
    insert_skipped(
        conn,
        import_id,
        Table::Messages.legacy_name(),
        &batch.skipped,
    )
    .await?;
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

/// Skipped rows of an import: counts per table and reason, and the first `limit` rows of each.
pub async fn skipped_summary(
    conn: &mut PgConnection,
    import_id: Uuid,
    limit: i64,
) -> Result<
    (
        Vec<(String, String, i64)>,
        Vec<(String, String, String, String)>,
    ),
    LegacyError,
> {
    let counts = sea_orm::sqlx::query(
        "SELECT legacy_table, reason_code, count(*) AS n FROM legacy_import.skipped_rows \
         WHERE import_id = $1 GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2",
    )
    .bind(import_id)
    .fetch_all(&mut *conn)
    .await
    .ctx("reading skipped rows")?;
    let rows = sea_orm::sqlx::query(
        "SELECT legacy_table, legacy_key, reason_code, detail FROM ( \
           SELECT *, row_number() OVER (PARTITION BY legacy_table, reason_code ORDER BY legacy_key) AS n \
           FROM legacy_import.skipped_rows WHERE import_id = $1) s \
         WHERE n <= $2 ORDER BY legacy_table DESC, reason_code, legacy_key",
    )
    .bind(import_id)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await
    .ctx("reading skipped rows")?;
    let counts = counts
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect::<Result<_, sea_orm::sqlx::Error>>()
        .ctx("reading skipped rows")?;
    let rows = rows
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
        .collect::<Result<_, sea_orm::sqlx::Error>>()
        .ctx("reading skipped rows")?;
    Ok((counts, rows))
}

/// Legacy signal keys skipped by any live import (excluded from the legacy-side checksums).
pub async fn skipped_keys(
    conn: &mut PgConnection,
    imports: &[Uuid],
    table: &str,
) -> Result<Vec<String>, LegacyError> {
    let rows = sea_orm::sqlx::query(
        "SELECT DISTINCT legacy_key FROM legacy_import.skipped_rows \
         WHERE import_id = ANY($1) AND legacy_table = $2",
    )
    .bind(imports.to_vec())
    .bind(table)
    .fetch_all(&mut *conn)
    .await
    .ctx("reading skipped keys")?;
    rows.iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()
        .ctx("reading skipped keys")
}

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
