//! Search indexes per closed week instead of on the whole hypertable. The two `pg_trgm` GIN
//! indexes cost a quarter of the database's time on the ingest path (measured: 16.6 k msg/s with
//! them, 23.8 k without, `/ingest/batch`); a week that still receives messages does not need
//! them, because its rows are few enough to filter directly. So, with TimescaleDB, `signals.signals`
//! gets weekly chunks, the hypertable carries no trigram index, and each chunk gets its own once
//! its week has closed, or earlier once the week holds more rows than a search should scan
//! (`PgStore::maintenance`, `CREATE INDEX CONCURRENTLY`). Plain PostgreSQL keeps
//! the whole-table indexes of `m20251101_000002_signals`: there is no chunk to defer to.
//!
//! Indexing a chunk needs `CREATE` on the chunks' schema `_timescaledb_internal`, which belongs to
//! the superuser: the database bootstrap grants it (`deploy/local/stack.sh`). Without the grant
//! (TimescaleDB installed by the migrations as a trusted extension) this migration changes
//! nothing and the whole-table indexes stay; grant it, then `down 1` and `up` to switch.
//!
//! On a database that already holds signals, `up` builds every existing chunk's indexes in the
//! migration's transaction (about 30 s per million signals, writes to `signals.signals` wait),
//! and the chunk open at that moment keeps its indexes until it ends: the deploy window pays once.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::capabilities::{Capabilities, required_extension_schema};

/// Moves the trigram search indexes of `signals.signals` from the hypertable to its chunks.
pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20251205_000011_search_index_per_week"
    }
}

/// The chunk interval of `signals.signals` from now on (new chunks only).
const WEEK: &str = "7 days";
/// The interval of `m20251101_000002_signals`, restored by `down`.
const PREVIOUS_INTERVAL: &str = "90 days";

/// A `DO` block running `body` (PL/pgSQL, with `c.chunk_schema` and `c.chunk_name`) for every
/// existing chunk of `signals.signals`.
fn for_each_chunk(body: &str) -> String {
    format!(
        "DO $$
DECLARE c record;
BEGIN
  FOR c IN SELECT ch.chunk_schema, ch.chunk_name FROM timescaledb_information.chunks ch
           WHERE ch.hypertable_schema = 'signals' AND ch.hypertable_name = 'signals'
  LOOP
    {body}
  END LOOP;
END $$;"
    )
}

/// Indexes every existing chunk (so nothing already stored loses its index), then drops the
/// hypertable's own, which takes the chunks' copies with it. Index names: the chunk's name plus
/// `_raw_message_trgm` / `_asset_trgm`, as `PgStore::maintenance` names them.
fn up_sql(ts: &str, trgm: &str) -> String {
    let index_chunk = |suffix: &str, column: &str| {
        format!(
            "EXECUTE pg_catalog.format('CREATE INDEX IF NOT EXISTS %I ON %I.%I USING gin ({column} {trgm}.gin_trgm_ops)',
                              c.chunk_name || '{suffix}', c.chunk_schema, c.chunk_name);"
        )
    };
    format!(
        "SELECT {ts}.set_chunk_time_interval('signals.signals'::pg_catalog.regclass, INTERVAL '{WEEK}');
{}
DROP INDEX IF EXISTS signals.signals_raw_message_trgm_idx;
DROP INDEX IF EXISTS signals.signals_asset_trgm_idx;",
        for_each_chunk(&format!(
            "{}\n    {}",
            index_chunk("_raw_message_trgm", "raw_message"),
            index_chunk("_asset_trgm", "asset")
        ))
    )
}

fn down_sql(ts: &str, trgm: &str) -> String {
    format!(
        "CREATE INDEX IF NOT EXISTS signals_raw_message_trgm_idx
  ON signals.signals USING gin (raw_message {trgm}.gin_trgm_ops);
CREATE INDEX IF NOT EXISTS signals_asset_trgm_idx
  ON signals.signals USING gin (asset {trgm}.gin_trgm_ops);
{}
SELECT {ts}.set_chunk_time_interval('signals.signals'::pg_catalog.regclass, INTERVAL '{PREVIOUS_INTERVAL}');",
        for_each_chunk(
            "EXECUTE pg_catalog.format('DROP INDEX IF EXISTS %I.%I, %I.%I',
                              c.chunk_schema, c.chunk_name || '_raw_message_trgm',
                              c.chunk_schema, c.chunk_name || '_asset_trgm');"
        )
    )
}

/// The quoted schemas of TimescaleDB and pg_trgm.
async fn extension_schemas<C: ConnectionTrait>(db: &C) -> Result<(String, String), DbErr> {
    Ok((
        required_extension_schema(db, "timescaledb").await?,
        required_extension_schema(db, "pg_trgm").await?,
    ))
}

/// Whether this role may create indexes in the schema of `signals.signals`' chunks.
async fn may_index_chunks<C: ConnectionTrait>(db: &C) -> Result<bool, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT pg_catalog.has_schema_privilege(h.associated_schema_name, 'CREATE')
             FROM _timescaledb_catalog.hypertable h
             WHERE h.schema_name = 'signals' AND h.table_name = 'signals'",
        ))
        .await?;
    Ok(match row {
        Some(r) => r.try_get_by_index::<bool>(0)?,
        None => false,
    })
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if !Capabilities::read(db).await?.hypertables || !may_index_chunks(db).await? {
            return Ok(());
        }
        let (ts, trgm) = extension_schemas(db).await?;
        db.execute_unprepared(&up_sql(&ts, &trgm)).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if !Capabilities::read(db).await?.hypertables {
            return Ok(());
        }
        let (ts, trgm) = extension_schemas(db).await?;
        db.execute_unprepared(&down_sql(&ts, &trgm)).await?;
        Ok(())
    }
}
