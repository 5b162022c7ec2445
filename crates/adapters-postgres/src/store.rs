//! The connection pool and [`PgStore`], the handle the binaries build once and share.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use domain::ports::StoreError;
use sea_orm::{
    AccessMode, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction,
    IsolationLevel, QueryResult, Statement, TransactionTrait,
};

use crate::error::map_db_err;
use crate::read_pool::ReadPool;

/// A statement of `sql` with its parameters.
pub(crate) fn stmt(sql: &str, values: impl IntoIterator<Item = sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(sea_orm::DbBackend::Postgres, sql, values)
}

/// Prepared statements each pooled connection keeps (PgBouncer's `max_prepared_statements` per
/// server connection matches it): five years of four-week list windows in every filter shape.
pub(crate) const STATEMENT_CACHE: usize = 1000;

/// Pool settings. The defaults suit a service behind PgBouncer in transaction mode.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Most connections open at once (to PgBouncer, which multiplexes them).
    pub max_connections: u32,
    /// Connections kept open when idle.
    pub min_connections: u32,
    /// How long opening one connection may take.
    pub connect_timeout: Duration,
    /// How long waiting for a free (or new) connection may take.
    pub acquire_timeout: Duration,
    /// How long one store operation may take before it answers `Unavailable`.
    pub operation_timeout: Duration,
    /// Idle connections are closed after this long.
    pub idle_timeout: Option<Duration>,
    /// Shown in `pg_stat_activity` (PgBouncer passes it on).
    pub application_name: String,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_connections: 20,
            min_connections: 0,
            connect_timeout: Duration::from_secs(2),
            acquire_timeout: Duration::from_secs(2),
            operation_timeout: Duration::from_secs(30),
            idle_timeout: Some(Duration::from_secs(300)),
            application_name: "tp-capital".to_owned(),
        }
    }
}

/// A snapshot of the pools (the transactions' and the single-statement reads'), for the pool
/// gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open (busy and idle).
    pub size: u32,
    /// Connections open and idle.
    pub idle: u32,
    /// The configured maximum.
    pub max: u32,
}

/// PostgreSQL/TimescaleDB persistence: implements [`domain::ports::SignalStore`] and
/// [`domain::ports::SignalQueries`]. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct PgStore {
    pub(crate) db: DatabaseConnection,
    /// The single-statement reads' connections (no ping on release, see [`ReadPool`]).
    reads: Arc<ReadPool>,
    pub(crate) opts: PoolOptions,
    /// Where the maintenance builds search indexes (a session connection without a statement
    /// timeout); `None`: through the pool.
    pub(crate) maintenance_url: Option<String>,
}

impl PgStore {
    /// Builds the pool for `url` (PgBouncer in production). Connections open on first use, so a
    /// service starts while the database is down; every operation then answers `Unavailable`
    /// within the connect/acquire timeouts until it is back. Fails only on an invalid URL.
    pub async fn connect(url: &str, opts: PoolOptions) -> Result<PgStore, StoreError> {
        let mut co = ConnectOptions::new(url);
        co.max_connections(opts.max_connections.max(1))
            .min_connections(opts.min_connections)
            .connect_timeout(opts.connect_timeout)
            .acquire_timeout(opts.acquire_timeout)
            .idle_timeout(opts.idle_timeout)
            .set_application_name(opts.application_name.clone())
            // A connection idle for a second or more is checked before use, so the pool drops
            // the connections a PgBouncer or PostgreSQL restart killed instead of failing one
            // request on each; busy ones are not pinged on every acquire (that would double the
            // round trips under load).
            .test_before_acquire(false)
            .test_before_acquire_if_idle_for(Duration::from_secs(1))
            .connect_lazy(true)
            .sqlx_logging(false)
            // The list's statements carry their time windows as literals (one text per block of
            // four weeks and filter shape, see `list`): sqlx's default of 100 per connection
            // re-prepared them on nearly every uncached page. PgBouncer keeps as many per server
            // connection.
            .map_sqlx_postgres_opts(|o| o.statement_cache_capacity(STATEMENT_CACHE));
        // Lazy: nothing is dialled here, so any failure is a configuration error.
        let db = Database::connect(co)
            .await
            .map_err(|e| StoreError::Internal(format!("invalid database URL: {e}")))?;
        let reads = Arc::new(ReadPool::new(url, &opts)?);
        Ok(PgStore {
            db,
            reads,
            opts,
            maintenance_url: None,
        })
    }

    /// Builds the maintenance's search indexes on a connection of their own to `url` (direct or
    /// a session-mode pool), with `statement_timeout` off: `CREATE INDEX CONCURRENTLY` runs
    /// outside any transaction, so through a transaction-mode PgBouncer whose `connect_query`
    /// sets a timeout, a large week's build is cancelled on every run.
    pub fn with_maintenance_url(mut self, url: Option<String>) -> Self {
        self.maintenance_url = url;
        self
    }

    /// The pool's current size, idle connections and maximum.
    pub fn pool_stats(&self) -> PoolStats {
        let pool = self.db.get_postgres_connection_pool();
        let reads = self.reads.stats();
        PoolStats {
            size: pool.size() + reads.size,
            idle: u32::try_from(pool.num_idle())
                .unwrap_or(u32::MAX)
                .saturating_add(reads.idle),
            max: self.opts.max_connections.max(1) + reads.max,
        }
    }

    /// Closes every connection (graceful shutdown).
    pub async fn close(&self) {
        self.reads.close().await;
        self.db.get_postgres_connection_pool().close().await;
    }

    /// Every row of `stmt`, within the operation timeout.
    pub(crate) async fn query_all(
        &self,
        what: &str,
        stmt: Statement,
    ) -> Result<Vec<QueryResult>, StoreError> {
        self.timed(what, self.reads.query_all(what, &stmt)).await
    }

    /// Every row of `stmt`, read in a read-only transaction on one snapshot, which stays open
    /// so that the reads after it see the same rows.
    pub(crate) async fn snapshot_query(
        &self,
        what: &str,
        stmt: Statement,
    ) -> Result<(DatabaseTransaction, Vec<QueryResult>), StoreError> {
        let tx = self
            .db
            .begin_with_config(
                Some(IsolationLevel::RepeatableRead),
                Some(AccessMode::ReadOnly),
            )
            .await
            .map_err(|e| map_db_err(what, e))?;
        let rows = tx
            .query_all_raw(stmt)
            .await
            .map_err(|e| map_db_err(what, e))?;
        Ok((tx, rows))
    }

    /// Runs `op`, answering `Unavailable` when it outlives the operation timeout.
    pub(crate) async fn timed<T>(
        &self,
        what: &str,
        op: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        timed(self.opts.operation_timeout, what, op).await
    }
}

/// `op` bounded by `limit`; a timeout is `Unavailable` (the database is too slow to answer).
/// Each operation is a `db` span (child of the caller's: an ingest's trace shows its writes).
pub(crate) async fn timed<T>(
    limit: Duration,
    what: &str,
    op: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    use tracing::Instrument;
    let span = tracing::info_span!("db", db.system = "postgresql", db.operation = what);
    match tokio::time::timeout(limit, op).instrument(span).await {
        Ok(result) => result,
        Err(_) => Err(StoreError::Unavailable(format!(
            "{what}: no answer within {limit:?}"
        ))),
    }
}
