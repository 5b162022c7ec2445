//! The new database: the import lock, the run record with its checkpoints, batch writes (one
//! transaction per batch: rows, skipped rows and checkpoint together, so a kill loses at most
//! one uncommitted batch and a resume never double-counts), channels, and the rollback.

mod rollback;
mod write;

use chrono::{DateTime, Utc};
use sea_orm::sqlx::{Executor, PgConnection, Row};
use serde::Serialize;
use uuid::Uuid;

use super::error::{LegacyError, SqlContext};

pub use rollback::{RollbackSummary, rollback};
pub use write::{
    Batch, Table, Written, checkpoint, insert_channels, stage_messages, stage_signals, table_done,
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

/// Every import of this legacy database whose rows are in the target (not rolled back): the
/// scope of validation and of the recorded skips.
pub async fn live_imports(
    conn: &mut PgConnection,
    source_key: &str,
) -> Result<Vec<Uuid>, LegacyError> {
    let rows = sea_orm::sqlx::query(
        "SELECT import_id FROM legacy_import.runs WHERE state <> 'rolled_back' AND source_key = $1",
    )
    .bind(source_key)
    .fetch_all(&mut *conn)
    .await
    .ctx("reading imports")?;
    rows.iter()
        .map(|r| r.try_get("import_id"))
        .collect::<Result<_, _>>()
        .ctx("reading imports")
}

/// The last complete import of this legacy database (whose backup a re-run may keep).
pub async fn last_complete_run(
    conn: &mut PgConnection,
    source_key: &str,
) -> Result<Option<Run>, LegacyError> {
    let q = format!(
        "SELECT {RUN_COLUMNS} FROM legacy_import.runs \
         WHERE source_key = $1 AND state = 'complete' ORDER BY finished_at DESC LIMIT 1"
    );
    let row = sea_orm::sqlx::query(sea_orm::sqlx::AssertSqlSafe(q))
        .bind(source_key)
        .fetch_optional(&mut *conn)
        .await
        .ctx("reading complete imports")?;
    row.as_ref()
        .map(decode_run)
        .transpose()
        .ctx("reading complete imports")
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

/// Skipped rows of the live imports of a legacy database: counts per table and reason, and
/// the first `limit` rows of each.
pub async fn skipped_summary(
    conn: &mut PgConnection,
    imports: &[Uuid],
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
         WHERE import_id = ANY($1) GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2",
    )
    .bind(imports.to_vec())
    .fetch_all(&mut *conn)
    .await
    .ctx("reading skipped rows")?;
    let rows = sea_orm::sqlx::query(
        "SELECT legacy_table, legacy_key, reason_code, detail FROM ( \
           SELECT *, row_number() OVER (PARTITION BY legacy_table, reason_code ORDER BY legacy_key) AS n \
           FROM legacy_import.skipped_rows WHERE import_id = ANY($1)) s \
         WHERE n <= $2 ORDER BY legacy_table DESC, reason_code, legacy_key",
    )
    .bind(imports.to_vec())
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

/// Legacy keys of `table` skipped by the live imports, with the recorded reason.
pub async fn skipped_keys(
    conn: &mut PgConnection,
    imports: &[Uuid],
    table: &str,
) -> Result<Vec<(String, String)>, LegacyError> {
    let rows = sea_orm::sqlx::query(
        "SELECT DISTINCT ON (legacy_key) legacy_key, reason_code FROM legacy_import.skipped_rows \
         WHERE import_id = ANY($1) AND legacy_table = $2 ORDER BY legacy_key",
    )
    .bind(imports.to_vec())
    .bind(table)
    .fetch_all(&mut *conn)
    .await
    .ctx("reading skipped keys")?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, sea_orm::sqlx::Error>>()
        .ctx("reading skipped keys")
}
