//! The connections of single-statement reads. sqlx's pool pings every connection it takes back
//! (a `Sync` round trip, through PgBouncer to PostgreSQL, that no option turns off), so each read
//! cost two round trips: two PgBouncer transactions per statement. Here a connection whose
//! statement completed goes back as it is; one whose statement failed or was abandoned (a
//! timeout drops the future) is closed, never reused in an unknown state. A connection taken
//! from the idle ones that fails on the connection (PgBouncer or PostgreSQL restarted meanwhile)
//! is replaced by a new one and the statement run once more: a read has no effect to repeat.

use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection, PgRow};
use sea_orm::sqlx::{self, ConnectOptions, Connection};
use sea_orm::{QueryResult, Statement};
use sea_query_sqlx::SqlxValues;
use tokio::sync::Semaphore;

use crate::error::{lost_connection, map_sqlx};
use crate::store::{PoolOptions, PoolStats, STATEMENT_CACHE};
use domain::ports::StoreError;

/// At most `max` connections, opened on first use and kept while they work.
pub(crate) struct ReadPool {
    options: PgConnectOptions,
    idle: Mutex<Vec<PgConnection>>,
    slots: Semaphore,
    open: AtomicU32,
    max: u32,
    acquire_timeout: Duration,
    connect_timeout: Duration,
}

impl std::fmt::Debug for ReadPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadPool")
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl ReadPool {
    /// A pool for `url`; nothing is dialled here.
    pub(crate) fn new(url: &str, opts: &PoolOptions) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Internal(format!("invalid database URL: {e}")))?
            .application_name(&opts.application_name)
            .statement_cache_capacity(STATEMENT_CACHE)
            .disable_statement_logging();
        let max = opts.max_connections.max(1);
        Ok(Self {
            options,
            idle: Mutex::default(),
            slots: Semaphore::new(max as usize),
            open: AtomicU32::new(0),
            max,
            acquire_timeout: opts.acquire_timeout,
            connect_timeout: opts.connect_timeout,
        })
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<PgConnection>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every row of `stmt`; `what` names the operation in errors.
    pub(crate) async fn query_all(
        &self,
        what: &str,
        stmt: &Statement,
    ) -> Result<Vec<QueryResult>, StoreError> {
        let _slot = tokio::time::timeout(self.acquire_timeout, self.slots.acquire())
            .await
            .map_err(|_| map_sqlx(what, &sqlx::Error::PoolTimedOut))?
            .map_err(|_| map_sqlx(what, &sqlx::Error::PoolClosed))?;
        let reused = self.idle().pop();
        let was_idle = reused.is_some();
        let (mut conn, mut counted) = match reused {
            Some(conn) => (conn, Counted(&self.open)),
            None => self.connect(what).await?,
        };
        let rows = match run(&mut conn, stmt).await {
            Err(e) if was_idle && lost_connection(&e) => {
                drop(conn);
                drop(counted);
                (conn, counted) = self.connect(what).await?;
                run(&mut conn, stmt).await
            }
            other => other,
        }
        .map_err(|e| map_sqlx(what, &e))?;
        counted.keep();
        self.idle().push(conn);
        Ok(rows.into_iter().map(QueryResult::from).collect())
    }

    async fn connect(&self, what: &str) -> Result<(PgConnection, Counted<'_>), StoreError> {
        let conn = tokio::time::timeout(self.connect_timeout, self.options.connect())
            .await
            .map_err(|_| map_sqlx(what, &sqlx::Error::PoolTimedOut))?
            .map_err(|e| map_sqlx(what, &e))?;
        self.open.fetch_add(1, Ordering::Relaxed);
        Ok((conn, Counted(&self.open)))
    }

    /// Connections open and idle, and the maximum.
    pub(crate) fn stats(&self) -> PoolStats {
        PoolStats {
            size: self.open.load(Ordering::Relaxed),
            idle: u32::try_from(self.idle().len()).unwrap_or(u32::MAX),
            max: self.max,
        }
    }

    /// Closes the idle connections; no new statement starts.
    pub(crate) async fn close(&self) {
        self.slots.close();
        let idle: Vec<PgConnection> = std::mem::take(&mut *self.idle());
        for conn in idle {
            self.open.fetch_sub(1, Ordering::Relaxed);
            let _ = conn.close().await;
        }
    }
}

async fn run(conn: &mut PgConnection, stmt: &Statement) -> Result<Vec<PgRow>, sqlx::Error> {
    let values = stmt.values.clone().unwrap_or(sea_orm::Values(Vec::new()));
    sqlx::query_with(sqlx::AssertSqlSafe(stmt.sql.as_str()), SqlxValues(values))
        .fetch_all(conn)
        .await
}

/// One open connection in the count: a connection dropped while in use (failed, or its future
/// abandoned) is closed and leaves the count, unless [`Counted::keep`] says it went back idle.
struct Counted<'a>(&'a AtomicU32);

impl Counted<'_> {
    fn keep(self) {
        std::mem::forget(self);
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
