//! A database of one test's own (zero2prod's `spawn_app` idea, the database half): created on
//! the stack's PostgreSQL, owned by the application role, migrated when asked, and dropped
//! afterwards even when the test panics — for the tests that touch every row of a database
//! (expiry, retention, rollups, the legacy import) and so cannot share the stack's.

use std::str::FromStr;
use std::time::Duration;

use sea_orm::sqlx::postgres::PgConnectOptions;
use sea_orm::sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, Row};

use crate::stack::env_or_skip;

/// How long a test waits for the migration lock (concurrent test binaries queue on it).
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(120);

/// A failure of the test database helpers.
#[derive(Debug, thiserror::Error)]
#[error("test database: {0}")]
pub struct TestDbError(String);

fn fail(what: &str) -> impl Fn(sea_orm::sqlx::Error) -> TestDbError + '_ {
    move |e| TestDbError(format!("{what}: {e}"))
}

/// `url` with its database replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let prefix = base.rsplit_once('/').map_or(base, |(p, _)| p);
    format!("{prefix}/{database}{query}")
}

/// A database created for one test, owned by the application role, dropped on drop.
#[derive(Debug)]
pub struct FreshDb {
    admin_url: String,
    name: String,
    /// The application role's URL of this database.
    pub url: String,
}

impl FreshDb {
    /// Creates a database owned by the role of `app_url`, connecting as `admin_url` (a role
    /// allowed to create databases). With `timescaledb`, installs the extension first, as the
    /// stack does.
    pub async fn create(
        app_url: &str,
        admin_url: &str,
        timescaledb: bool,
    ) -> Result<Self, TestDbError> {
        let app = PgConnectOptions::from_str(app_url).map_err(fail("application URL"))?;
        let owner = app.get_username().replace('"', "\"\"");
        let name = format!("tpmig_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(admin_url)
            .await
            .map_err(fail("admin connect"))?;
        admin
            .execute(AssertSqlSafe(format!(
                r#"CREATE DATABASE "{name}" OWNER "{owner}""#
            )))
            .await
            .map_err(fail("create database"))?;
        admin.close().await.ok();
        let db = Self {
            admin_url: admin_url.to_owned(),
            url: with_database(app_url, &name),
            name,
        };
        if timescaledb {
            let mut c = PgConnection::connect(&with_database(admin_url, &db.name))
                .await
                .map_err(fail("admin connect to the new database"))?;
            c.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
                .await
                .map_err(fail("create extension timescaledb"))?;
            c.execute(AssertSqlSafe(format!(
                r#"GRANT CREATE ON SCHEMA _timescaledb_internal TO "{owner}""#
            )))
            .await
            .map_err(fail("grant on the chunks' schema"))?;
            c.close().await.ok();
        }
        Ok(db)
    }

    /// A connection as the application role.
    pub async fn connect(&self) -> Result<PgConnection, TestDbError> {
        PgConnection::connect(&self.url)
            .await
            .map_err(fail("connect"))
    }
}

impl Drop for FreshDb {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut c = PgConnection::connect(&admin_url).await.ok()?;
                c.execute(AssertSqlSafe(format!(
                    r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
                )))
                .await
                .ok()?;
                Some(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("warning: test database {} was not dropped", self.name);
        }
    }
}

/// A fresh database with TimescaleDB and the schema migrated, on the stack's server (the
/// application role of `TP_CAPITAL_MIGRATE_DATABASE_URL`, created as `TP_PG_SUPERUSER_URL`), or
/// `None` (skipped) without a stack.
pub async fn migrated(test: &str) -> Option<FreshDb> {
    let app = env_or_skip("TP_CAPITAL_MIGRATE_DATABASE_URL", test)?;
    let admin = env_or_skip("TP_PG_SUPERUSER_URL", test)?;
    let db = FreshDb::create(&app, &admin, true)
        .await
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    migrations::up(&db.url, None, LOCK_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{test}: migrations up: {e}"));
    Some(db)
}

/// Whether the role of `url` may create databases.
pub async fn can_create_databases(url: &str) -> bool {
    let Ok(mut c) = PgConnection::connect(url).await else {
        return false;
    };
    let row = c
        .fetch_one(
            "SELECT rolcreatedb OR rolsuper AS ok FROM pg_roles WHERE rolname = current_user",
        )
        .await;
    c.close().await.ok();
    row.is_ok_and(|r| r.try_get::<bool, _>("ok").unwrap_or(false))
}

/// The first column of the first row of `sql`, as an integer.
pub async fn scalar_i64(c: &mut PgConnection, sql: &str) -> Result<i64, TestDbError> {
    let row = c
        .fetch_one(AssertSqlSafe(sql.to_owned()))
        .await
        .map_err(fail(sql))?;
    row.try_get::<i64, _>(0).map_err(fail(sql))
}
