//! The mode follows the server: a database first migrated without TimescaleDB (plain
//! PostgreSQL) and later run where the extension is installed (moved to the stack's server, or
//! the extension installed afterwards) gets its time-partitioned tables turned into hypertables
//! by `up`, every row kept (`migrate_data`), its rollups rebuilt from the rows and its mode
//! recorded anew. Nothing changes in an answer: statistics are exact rollups in both modes; the
//! hypertables bring chunk-wise retention and per-week search indexes.
//!
//! `migrate_data` copies every row under an exclusive lock (minutes per million signals): run
//! `up` in the deploy window. The reverse (TimescaleDB to plain PostgreSQL) is a dump and restore.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait};

use crate::capabilities::{Capabilities, extension_schema};
use crate::m20251207_000013_exact_rollups::rebuild_sql;
use crate::m20251216_000017_status_totals as status_totals;

/// The time-partitioned tables with their partition column and chunk interval (as the
/// migrations create them on TimescaleDB).
const TABLES: [(&str, &str, &str); 3] = [
    ("signals.signals", "message_date", "7 days"),
    ("forwarded_messages.messages", "message_date", "1 day"),
    ("metrics.processing_stats", "recorded_at", "1 day"),
];

/// Converts a plain-mode schema to hypertables when TimescaleDB is installed in the database;
/// returns whether it did. One transaction: a failure leaves the plain mode as it was.
pub(crate) async fn adopt_timescaledb(db: &DatabaseConnection) -> Result<bool, DbErr> {
    let caps = Capabilities::read(db).await?;
    if caps.hypertables {
        return Ok(false);
    }
    let Some(ts) = extension_schema(db, "timescaledb").await? else {
        return Ok(false);
    };
    let tx = db.begin().await?;
    for (table, column, interval) in TABLES {
        tx.execute_unprepared(&format!(
            "SELECT {ts}.create_hypertable('{table}'::pg_catalog.regclass, \
             {ts}.by_range('{column}', INTERVAL '{interval}'), \
             create_default_indexes => FALSE, migrate_data => TRUE)"
        ))
        .await?;
    }
    // Whatever the triggers saw while rows moved into chunks, the rollups are rebuilt from them.
    tx.execute_unprepared(
        "TRUNCATE metrics.signal_rollup, metrics.signal_rollup_delta, metrics.channel_signal_totals, \
         metrics.channel_message_totals, metrics.channel_message_delta, \
         metrics.signal_status_totals, metrics.signal_status_delta",
    )
    .await?;
    tx.execute_unprepared(&rebuild_sql()).await?;
    tx.execute_unprepared(status_totals::REBUILD).await?;
    tx.execute_raw(Statement::from_string(
        DbBackend::Postgres,
        "UPDATE metrics.capabilities SET
           timescaledb_version = (SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'timescaledb'),
           timescaledb_license = NULLIF(pg_catalog.current_setting('timescaledb.license', TRUE), ''),
           hypertables = TRUE, retention_mode = 'drop_chunks', detected_at = pg_catalog.now()",
    ))
    .await?;
    tx.commit().await?;
    tracing::info!("TimescaleDB is installed: the tables are hypertables now, every row kept");
    Ok(true)
}
