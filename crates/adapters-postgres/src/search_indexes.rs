//! The search indexes of `signals.signals` (migration `m20251205_000011`: trigram GIN indexes per
//! weekly chunk, not on the hypertable). A closed week gets whole ones. The week still receiving
//! messages gets *partial* ones, `WHERE message_date < B` with `B` the hour it was built in,
//! rebuilt each hour: the ingest's new rows lie above `B` and never pay the GIN maintenance, and a
//! search reads the open week below [`indexed_before`] through them, scanning only the last hour
//! or two (see `list`).

use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use domain::ports::StoreError;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};

use crate::error::map_db_err;
use crate::store::{PgStore, stmt};

/// The indexed columns, by the suffix of their index names.
const COLUMNS: [(&str, &str); 2] = [
    ("_raw_message_trgm", "raw_message"),
    ("_asset_trgm", "asset"),
];

/// The bound of the open week's partial search indexes built at `now`: the hour's start.
pub(crate) fn partial_bound(now: DateTime<Utc>) -> DateTime<Utc> {
    now.duration_trunc(TimeDelta::hours(1)).unwrap_or(now)
}

/// Below this time a search may read the open week through its partial indexes: the bound the
/// maintenance built them with an hour ago (so a maintenance up to an hour late still serves it).
pub(crate) fn indexed_before(now: DateTime<Utc>) -> DateTime<Utc> {
    partial_bound(now) - TimeDelta::hours(1)
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

impl PgStore {
    /// Builds the missing (or half-built) search indexes of every chunk of `signals.signals`
    /// whose range ended before `closed_before`, one `CREATE INDEX CONCURRENTLY` at a time so
    /// inserts and status changes in that week never wait, and drops the partial ones of chunks
    /// whose whole ones are valid; returns the names built. [`PgStore::maintenance`] calls it; a
    /// no-op on plain PostgreSQL and where the hypertable keeps its own indexes.
    pub async fn index_search_weeks(
        &self,
        closed_before: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        const WHAT: &str = "maintenance: search indexes";
        let trgm = extension_schema(&self.db, "pg_trgm")
            .await?
            .ok_or_else(|| StoreError::Internal(format!("{WHAT}: pg_trgm is not installed")))?;
        let missing = self
            .db
            .query_all_raw(stmt(MISSING_SEARCH_INDEXES_SQL, [closed_before.into()]))
            .await
            .map_err(|e| map_db_err(WHAT, e))?;
        let superseded = || async {
            self.db
                .query_all_raw(stmt(SUPERSEDED_PARTIALS_SQL, [closed_before.into()]))
                .await
                .map_err(|e| map_db_err(WHAT, e))
        };
        if missing.is_empty() && superseded().await?.is_empty() {
            return Ok(Vec::new());
        }
        let own = self.ddl_connection().await?;
        let ddl = own.as_ref().unwrap_or(&self.db);
        let started = std::time::Instant::now();
        let mut built = Vec::with_capacity(missing.len());
        for row in missing {
            if started.elapsed() > SEARCH_INDEX_BUDGET {
                break; // the next run goes on; the run's own timeout never cuts a build short
            }
            let get = |c: &str| {
                row.try_get::<String>("", c)
                    .map_err(|e| map_db_err(WHAT, e))
            };
            let (schema, table, index, column) = (
                get("chunk_schema")?,
                get("chunk_table")?,
                get("index_name")?,
                get("column_name")?,
            );
            let half_built: bool = row
                .try_get("", "invalid")
                .map_err(|e| map_db_err(WHAT, e))?;
            if half_built {
                ddl.execute_unprepared(&format!(
                    "DROP INDEX CONCURRENTLY IF EXISTS {schema}.{index}"
                ))
                .await
                .map_err(|e| map_db_err(WHAT, e))?;
            }
            ddl.execute_unprepared(&format!(
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS {index} ON {schema}.{table} \
                     USING gin ({column} {trgm}.gin_trgm_ops)"
            ))
            .await
            .map_err(|e| map_db_err(WHAT, e))?;
            built.push(format!("{schema}.{index}"));
        }
        for row in superseded().await? {
            let index: String = row.try_get("", "index").map_err(|e| map_db_err(WHAT, e))?;
            ddl.execute_unprepared(&format!("DROP INDEX CONCURRENTLY IF EXISTS {index}"))
                .await
                .map_err(|e| map_db_err(WHAT, e))?;
        }
        if let Some(own) = own {
            let _ = own.close().await;
        }
        Ok(built)
    }

    /// Gives every chunk of `signals.signals` still open at `now` (not yet due for its whole
    /// search indexes) partial ones below [`partial_bound`]`(now)`, unless it has them, then drops
    /// its older partial ones; returns the names built. One build per chunk and hour, over the
    /// rows the week holds so far; the rows inserted after the bound are never indexed by them.
    pub async fn index_open_weeks(&self, now: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
        const WHAT: &str = "maintenance: open week search indexes";
        let bound = partial_bound(now);
        let open = self
            .db
            .query_all_raw(stmt(OPEN_CHUNKS_SQL, [(now - SEARCH_INDEX_DELAY).into()]))
            .await
            .map_err(|e| map_db_err(WHAT, e))?;
        let mut todo = Vec::new();
        for row in &open {
            let get = |c: &str| {
                row.try_get::<String>("", c)
                    .map_err(|e| map_db_err(WHAT, e))
            };
            let (schema, chunk) = (get("chunk_schema")?, get("chunk_name")?);
            let indexes: Vec<(String, bool)> = self
                .db
                .query_all_raw(stmt(
                    CHUNK_INDEXES_SQL,
                    [schema.clone().into(), chunk.clone().into()],
                ))
                .await
                .map_err(|e| map_db_err(WHAT, e))?
                .iter()
                .map(|r| Ok((r.try_get_by_index(0)?, r.try_get_by_index(1)?)))
                .collect::<Result<_, sea_orm::DbErr>>()
                .map_err(|e| map_db_err(WHAT, e))?;
            for (suffix, column) in COLUMNS {
                let family = format!("{chunk}{suffix}_before_");
                let name = format!("{family}{}", bound.format("%Y%m%d%H"));
                let current = indexes
                    .iter()
                    .find(|(i, _)| *i == name)
                    .map(|(_, valid)| *valid);
                let older: Vec<String> = indexes
                    .iter()
                    .filter(|(i, _)| i.starts_with(&family) && *i != name)
                    .map(|(i, _)| i.clone())
                    .collect();
                if current != Some(true) || !older.is_empty() {
                    todo.push((schema.clone(), chunk.clone(), column, name, current, older));
                }
            }
        }
        if todo.is_empty() {
            return Ok(Vec::new());
        }
        let trgm = extension_schema(&self.db, "pg_trgm")
            .await?
            .ok_or_else(|| StoreError::Internal(format!("{WHAT}: pg_trgm is not installed")))?;
        let own = self.ddl_connection().await?;
        let ddl = own.as_ref().unwrap_or(&self.db);
        let mut built = Vec::new();
        for (schema, chunk, column, name, current, older) in todo {
            let shown = format!("{schema}.{name}");
            let (schema, table, index) = (quote(&schema), quote(&chunk), quote(&name));
            let run = |sql: String| async move {
                ddl.execute_unprepared(&sql)
                    .await
                    .map(|_| ())
                    .map_err(|e| map_db_err(WHAT, e))
            };
            if current == Some(false) {
                run(format!(
                    "DROP INDEX CONCURRENTLY IF EXISTS {schema}.{index}"
                ))
                .await?;
            }
            if current != Some(true) {
                run(format!(
                    "CREATE INDEX CONCURRENTLY IF NOT EXISTS {index} ON {schema}.{table} \
                     USING gin ({column} {trgm}.gin_trgm_ops) \
                     WHERE message_date < '{}'::timestamptz",
                    bound.to_rfc3339()
                ))
                .await?;
                built.push(shown);
            }
            for old in older {
                run(format!(
                    "DROP INDEX CONCURRENTLY IF EXISTS {schema}.{}",
                    quote(&old)
                ))
                .await?;
            }
        }
        if let Some(own) = own {
            let _ = own.close().await;
        }
        Ok(built)
    }

    /// The connection of [`PgStore::with_maintenance_url`], its statement timeout off; `None`
    /// without one.
    async fn ddl_connection(&self) -> Result<Option<DatabaseConnection>, StoreError> {
        const WHAT: &str = "maintenance: index connection";
        let Some(url) = &self.maintenance_url else {
            return Ok(None);
        };
        let mut co = ConnectOptions::new(url.as_str());
        co.max_connections(1)
            .min_connections(0)
            .connect_timeout(self.opts.connect_timeout)
            .acquire_timeout(self.opts.acquire_timeout)
            .set_application_name(format!("{} (maintenance)", self.opts.application_name))
            .sqlx_logging(false);
        let db = Database::connect(co)
            .await
            .map_err(|e| map_db_err(WHAT, e))?;
        db.execute_unprepared("SET statement_timeout = 0")
            .await
            .map_err(|e| map_db_err(WHAT, e))?;
        Ok(Some(db))
    }
}

/// How long one run keeps starting index builds (a backlog, e.g. after a legacy import, is
/// spread over several runs), well inside the maintenance's own timeout (600 s).
const SEARCH_INDEX_BUDGET: Duration = Duration::from_secs(240);

/// A closed week gets its search indexes this long after its end: messages dated just before
/// the boundary still arrive for a while.
pub(crate) const SEARCH_INDEX_DELAY: TimeDelta = TimeDelta::hours(1);

/// The search indexes (migration `m20251205_000011`) that closed chunks of
/// `signals.signals` lack or hold half-built (an interrupted `CREATE INDEX CONCURRENTLY`), newest
/// week first, leaving alone a chunk with a build in progress (another replica's, or one an
/// earlier run's timeout left running); every name comes back quoted. Nothing while the
/// hypertable still has its own (the migration found no right to index chunks).
const MISSING_SEARCH_INDEXES_SQL: &str = "
SELECT pg_catalog.quote_ident(ch.chunk_schema::text) AS chunk_schema,
       pg_catalog.quote_ident(ch.chunk_name::text) AS chunk_table,
       pg_catalog.quote_ident(ch.chunk_name || i.suffix) AS index_name,
       i.col AS column_name,
       ic.oid IS NOT NULL AS invalid
FROM timescaledb_information.chunks ch
CROSS JOIN (VALUES ('_raw_message_trgm', 'raw_message'), ('_asset_trgm', 'asset')) AS i(suffix, col)
LEFT JOIN pg_catalog.pg_class ic
  ON ic.relname = ch.chunk_name || i.suffix AND ic.relnamespace = pg_catalog.quote_ident(ch.chunk_schema::text)::regnamespace
LEFT JOIN pg_catalog.pg_index x ON x.indexrelid = ic.oid
JOIN pg_catalog.pg_class t
  ON t.oid = pg_catalog.format('%I.%I', ch.chunk_schema, ch.chunk_name)::regclass
WHERE ch.hypertable_schema = 'signals' AND ch.hypertable_name = 'signals'
  AND ch.range_end <= $1
  AND (ic.oid IS NULL OR x.indisvalid IS FALSE)
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_progress_create_index p WHERE p.relid = t.oid)
  AND pg_catalog.to_regclass('signals.signals_raw_message_trgm_idx') IS NULL
ORDER BY ch.range_end DESC, i.suffix";

/// The quoted schema of an installed extension.
pub(crate) async fn extension_schema<C: ConnectionTrait>(
    db: &C,
    extension: &str,
) -> Result<Option<String>, StoreError> {
    let what = format!("maintenance: {extension} schema");
    let row = db
        .query_one_raw(stmt(
            "SELECT quote_ident(n.nspname) FROM pg_catalog.pg_extension e
             JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
             WHERE e.extname = $1",
            [extension.into()],
        ))
        .await
        .map_err(|e| map_db_err(&what, e))?;
    row.map(|r| r.try_get_by_index::<String>(0))
        .transpose()
        .map_err(|e| map_db_err(&what, e))
}

/// The chunks of `signals.signals` not yet due for their whole search indexes (range ending after
/// `$1`), with their unquoted schema and name, leaving alone a chunk with a build in progress (one
/// an earlier run's timeout left running). (One that starts after the bound gets empty partial
/// indexes: cheap, and no week is a special case.)
const OPEN_CHUNKS_SQL: &str = "
SELECT ch.chunk_schema::text AS chunk_schema, ch.chunk_name::text AS chunk_name
FROM timescaledb_information.chunks ch
WHERE ch.hypertable_schema = 'signals' AND ch.hypertable_name = 'signals'
  AND ch.range_end > $1
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_progress_create_index p
                  WHERE p.relid = pg_catalog.format('%I.%I', ch.chunk_schema, ch.chunk_name)::regclass)
  AND pg_catalog.to_regclass('signals.signals_raw_message_trgm_idx') IS NULL
ORDER BY ch.range_end DESC";

/// Every index of the chunk `$1`.`$2`, and whether it is valid.
const CHUNK_INDEXES_SQL: &str = "
SELECT ic.relname::text, x.indisvalid
FROM pg_catalog.pg_index x JOIN pg_catalog.pg_class ic ON ic.oid = x.indexrelid
WHERE x.indrelid = pg_catalog.format('%I.%I', $1::text, $2::text)::regclass";

/// The partial search indexes (quoted `schema.name`) of chunks whose range ended before `$1`
/// and whose two whole search indexes are valid.
const SUPERSEDED_PARTIALS_SQL: &str = "
SELECT pg_catalog.quote_ident(ch.chunk_schema::text) || '.' || pg_catalog.quote_ident(ic.relname::text) AS index
FROM timescaledb_information.chunks ch
JOIN pg_catalog.pg_class t ON t.oid = pg_catalog.format('%I.%I', ch.chunk_schema, ch.chunk_name)::regclass
JOIN pg_catalog.pg_index x ON x.indrelid = t.oid
JOIN pg_catalog.pg_class ic ON ic.oid = x.indexrelid
WHERE ch.hypertable_schema = 'signals' AND ch.hypertable_name = 'signals'
  AND ch.range_end <= $1
  AND (ic.relname LIKE ch.chunk_name || '\\_raw\\_message\\_trgm\\_before\\_%'
       OR ic.relname LIKE ch.chunk_name || '\\_asset\\_trgm\\_before\\_%')
  AND (SELECT pg_catalog.count(*) FROM pg_catalog.pg_index w JOIN pg_catalog.pg_class wc ON wc.oid = w.indexrelid
       WHERE w.indrelid = t.oid AND w.indisvalid
         AND wc.relname IN (ch.chunk_name || '_raw_message_trgm', ch.chunk_name || '_asset_trgm')) = 2";
