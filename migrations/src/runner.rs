//! Running the migrations: one connection for the whole run, holding a session advisory lock so
//! concurrent runs (two deploys, a test suite) serialise instead of racing.

use std::time::{Duration, Instant};

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement,
};
use sea_orm_migration::{MigrationStatus, MigrationTrait, MigratorTrait};

use crate::capabilities::Capabilities;
use crate::{
    m20251101_000001_foundation, m20251101_000002_signals, m20251101_000003_message_archive,
    m20251101_000004_metrics, m20251102_000005_revision_time, m20251104_000007_signal_changes,
    m20251105_000008_legacy_import, m20251106_000009_delivery_keys,
    m20251128_000010_positive_prices, m20251205_000011_search_index_per_week,
    m20251206_000012_channel_label_learned, m20251207_000013_exact_rollups,
    m20251209_000013_change_feed, m20251214_000014_rollup_newest_index,
    m20251215_000015_rollup_per_statement, m20251216_000016_no_updated_index,
    m20251216_000017_status_totals, m20251217_000018_value_domains,
};

/// The migrations, in order.
#[derive(Debug, Clone, Copy, Default)]
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20251101_000001_foundation::Migration),
            Box::new(m20251101_000002_signals::Migration),
            Box::new(m20251101_000003_message_archive::Migration),
            Box::new(m20251101_000004_metrics::Migration),
            Box::new(m20251102_000005_revision_time::Migration),
            Box::new(m20251104_000007_signal_changes::Migration),
            Box::new(m20251105_000008_legacy_import::Migration),
            Box::new(m20251106_000009_delivery_keys::Migration),
            Box::new(m20251128_000010_positive_prices::Migration),
            Box::new(m20251205_000011_search_index_per_week::Migration),
            Box::new(m20251206_000012_channel_label_learned::Migration),
            Box::new(m20251207_000013_exact_rollups::Migration),
            Box::new(m20251209_000013_change_feed::Migration),
            Box::new(m20251214_000014_rollup_newest_index::Migration),
            Box::new(m20251215_000015_rollup_per_statement::Migration),
            Box::new(m20251216_000016_no_updated_index::Migration),
            Box::new(m20251216_000017_status_totals::Migration),
            Box::new(m20251217_000018_value_domains::Migration),
        ]
    }
}

/// The advisory lock key of schema migrations (`tpcapmig` in ASCII).
const LOCK_KEY: i64 = 0x7470_6361_706d_6967;

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The database could not be reached or refused the login.
    #[error("cannot connect to {url}: {detail}")]
    Connect {
        /// The URL, password hidden.
        url: String,
        /// The driver's message.
        detail: String,
    },
    /// Another run held the migration lock for too long.
    #[error(
        "another migration run (backend pid {holder}) still holds the migration lock after {waited:?}"
    )]
    LockTimeout {
        /// Backend pid of the holder, 0 when unknown.
        holder: i32,
        /// How long this run waited.
        waited: Duration,
    },
    /// The connection holding the lock was lost during the run.
    #[error("the migration lock was lost during the run (connection dropped?); run `up` again")]
    LockLost,
    /// A migration or a bookkeeping query failed.
    #[error("{0}")]
    Database(String),
}

impl From<DbErr> for MigrateError {
    fn from(e: DbErr) -> Self {
        MigrateError::Database(e.to_string())
    }
}

/// One migration and whether it is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    /// Its version name.
    pub name: String,
    /// Applied to the database.
    pub applied: bool,
}

/// A single connection holding the migration lock.
struct LockedSession {
    db: DatabaseConnection,
}

impl LockedSession {
    /// Connects with a pool of exactly one connection, so every statement of the run (and the
    /// session lock) lives on the same backend.
    async fn open(url: &str, lock_timeout: Duration) -> Result<Self, MigrateError> {
        let db = connect_one(url).await?;
        let started = Instant::now();
        loop {
            let row = db
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT pg_catalog.pg_try_advisory_lock($1) AS locked",
                    [LOCK_KEY.into()],
                ))
                .await?;
            if row.map(|r| r.try_get::<bool>("", "locked")).transpose()? == Some(true) {
                return Ok(Self { db });
            }
            let holder = lock_holder(&db).await.unwrap_or(0);
            if started.elapsed() >= lock_timeout {
                return Err(MigrateError::LockTimeout {
                    holder,
                    waited: started.elapsed(),
                });
            }
            tracing::info!(holder, "waiting for the migration lock held by another run");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Releases the lock, failing if it was lost on the way (a reconnect would have dropped it).
    async fn close(self) -> Result<(), MigrateError> {
        let row = self
            .db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_catalog.pg_advisory_unlock($1) AS unlocked",
                [LOCK_KEY.into()],
            ))
            .await?;
        let unlocked = row.map(|r| r.try_get::<bool>("", "unlocked")).transpose()?;
        let _ = self.db.close().await;
        if unlocked == Some(true) {
            Ok(())
        } else {
            Err(MigrateError::LockLost)
        }
    }
}

pub(crate) async fn connect_one(url: &str) -> Result<DatabaseConnection, MigrateError> {
    probe(url).await?;
    let mut opts = ConnectOptions::new(url);
    opts.max_connections(1)
        .min_connections(1)
        .connect_timeout(CONNECT_TIMEOUT)
        .acquire_timeout(Duration::from_secs(30))
        .idle_timeout(None::<Duration>)
        .max_lifetime(None::<Duration>)
        .set_application_name("tp-capital-migrate")
        // `seaql_migrations` is the only unqualified table; pin where it lives.
        .set_schema_search_path("public")
        .sqlx_logging(false);
    Database::connect(opts)
        .await
        .map_err(|e| MigrateError::Connect {
            url: redact_url(url),
            detail: e.to_string(),
        })
}

/// One plain connection attempt first: the pool would only say "timed out", this says why
/// (refused, bad password, unknown database).
async fn probe(url: &str) -> Result<(), MigrateError> {
    use sea_orm::sqlx::Connection;
    let failed = |detail: String| MigrateError::Connect {
        url: redact_url(url),
        detail,
    };
    let attempt = sea_orm::sqlx::PgConnection::connect(url);
    match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            Ok(())
        }
        Ok(Err(e)) => Err(failed(e.to_string())),
        Err(_) => Err(failed(format!("no answer within {CONNECT_TIMEOUT:?}"))),
    }
}

async fn lock_holder(db: &DatabaseConnection) -> Result<i32, DbErr> {
    let key = LOCK_KEY as u64;
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pid FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND granted \
             AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1 LIMIT 1",
            [
                ((key >> 32) as i64).into(),
                ((key & 0xffff_ffff) as i64).into(),
            ],
        ))
        .await?;
    Ok(row
        .map(|r| r.try_get::<i32>("", "pid"))
        .transpose()?
        .unwrap_or(0))
}

async fn states(db: &DatabaseConnection) -> Result<Vec<MigrationState>, DbErr> {
    Ok(Migrator::get_migration_with_status_read_only(db)
        .await?
        .into_iter()
        .map(|m| MigrationState {
            name: m.name().to_owned(),
            applied: m.status() == MigrationStatus::Applied,
        })
        .collect())
}

fn names_where(states: &[MigrationState], applied: bool) -> Vec<String> {
    states
        .iter()
        .filter(|s| s.applied == applied)
        .map(|s| s.name.clone())
        .collect()
}

/// Applies pending migrations (all, or the first `steps`) under the migration lock and returns
/// the names applied by this run (none when another run already did the work).
pub async fn up(
    url: &str,
    steps: Option<u32>,
    lock_timeout: Duration,
) -> Result<Vec<String>, MigrateError> {
    let session = LockedSession::open(url, lock_timeout).await?;
    let result = async {
        let before = names_where(&states(&session.db).await?, false);
        Migrator::up(&session.db, steps).await?;
        let still_pending = names_where(&states(&session.db).await?, false);
        if still_pending.is_empty() {
            crate::adopt::adopt_timescaledb(&session.db).await?;
            crate::plans::ensure_generic_plans(&session.db).await?;
        }
        Ok::<_, MigrateError>(
            before
                .into_iter()
                .filter(|n| !still_pending.contains(n))
                .collect(),
        )
    }
    .await;
    finish(session, result).await
}

/// Rolls back the last `steps` applied migrations under the migration lock and returns their
/// names, newest first.
pub async fn down(
    url: &str,
    steps: u32,
    lock_timeout: Duration,
) -> Result<Vec<String>, MigrateError> {
    let session = LockedSession::open(url, lock_timeout).await?;
    let result = async {
        let before = names_where(&states(&session.db).await?, true);
        Migrator::down(&session.db, Some(steps)).await?;
        let still_applied = names_where(&states(&session.db).await?, true);
        Ok::<_, MigrateError>(
            before
                .into_iter()
                .rev()
                .filter(|n| !still_applied.contains(n))
                .collect(),
        )
    }
    .await;
    finish(session, result).await
}

/// Every migration with its state, and the recorded capabilities once the first migration ran.
/// Read-only: takes no lock and creates nothing.
pub async fn status(
    url: &str,
) -> Result<(Vec<MigrationState>, Option<Capabilities>), MigrateError> {
    let db = connect_one(url).await?;
    let result = async {
        let states = states(&db).await?;
        let caps = if states.first().is_some_and(|s| s.applied) {
            Some(Capabilities::read(&db).await?)
        } else {
            None
        };
        Ok::<_, MigrateError>((states, caps))
    }
    .await;
    let _ = db.close().await;
    result
}

async fn finish<T>(
    session: LockedSession,
    result: Result<T, MigrateError>,
) -> Result<T, MigrateError> {
    let closed = session.close().await;
    let value = result?;
    closed?;
    Ok(value)
}

/// `url` with its password replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redact_url("postgres://tp:s3cr:et@127.0.0.1:5435/db?sslmode=disable"),
            "postgres://tp:***@127.0.0.1:5435/db?sslmode=disable"
        );
        assert_eq!(
            redact_url("postgres://127.0.0.1/db"),
            "postgres://127.0.0.1/db"
        );
    }

    #[test]
    fn migration_names_are_ordered_and_unique() {
        let names: Vec<String> = Migrator::migrations()
            .iter()
            .map(|m| m.name().to_owned())
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(names, sorted);
    }
}
