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

/// A database created for one test, owned by the application role, dropped on drop (a template
/// copy: by a later test's [`sweep`]).
#[derive(Debug)]
pub struct FreshDb {
    admin_url: String,
    name: String,
    /// Left for [`sweep`] instead of dropped on drop.
    deferred: bool,
    /// The application role's URL of this database.
    pub url: String,
}

/// The role of `url`, quoted for an identifier.
fn owner_of(url: &str) -> Result<String, TestDbError> {
    let app = PgConnectOptions::from_str(url).map_err(fail("application URL"))?;
    Ok(app.get_username().replace('"', "\"\""))
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
        let name = format!("tpmig_{}", uuid::Uuid::new_v4().simple());
        Self::create_named(app_url, admin_url, &name, timescaledb).await
    }

    /// A copy of the template database `template` (see [`template`]), owned by the role of
    /// `app_url`.
    pub async fn copy_of(
        template: &str,
        app_url: &str,
        admin_url: &str,
    ) -> Result<Self, TestDbError> {
        let owner = owner_of(app_url)?;
        let name = format!(
            "tpt_{}_{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        );
        let mut admin = PgConnection::connect(admin_url)
            .await
            .map_err(fail("admin connect"))?;
        admin
            .execute(AssertSqlSafe(format!(
                r#"CREATE DATABASE "{name}" TEMPLATE "{template}" OWNER "{owner}""#
            )))
            .await
            .map_err(fail("create database from the template"))?;
        admin.close().await.ok();
        Ok(Self {
            admin_url: admin_url.to_owned(),
            url: with_database(app_url, &name),
            name,
            deferred: true,
        })
    }

    /// The database's name, no longer dropped on drop.
    fn seal(self) -> String {
        let this = std::mem::ManuallyDrop::new(self);
        this.name.clone()
    }

    async fn create_named(
        app_url: &str,
        admin_url: &str,
        name: &str,
        timescaledb: bool,
    ) -> Result<Self, TestDbError> {
        let owner = owner_of(app_url)?;
        let name = name.to_owned();
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
            deferred: false,
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
        if self.deferred {
            return;
        }
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
/// `None` (skipped) without a stack: a copy of the run's [`template`], so a test pays for a
/// `CREATE DATABASE … TEMPLATE` (~0.25 s) instead of the migrations (~0.9 s).
///
/// The copy is not dropped when the test ends but by a later test's [`sweep`], started in the
/// background here: `DROP DATABASE` waits until every backend of the server has absorbed a
/// signal barrier, and a backend still authenticating a client of the test's own pools (the
/// api's feed follower reconnects every second) would hold it for `authentication_timeout`
/// (60 s) while the dropping test blocks its own runtime. The stack of a run is destroyed at
/// its end, and with it the last copies.
pub async fn migrated(test: &str) -> Option<FreshDb> {
    let app = env_or_skip("TP_CAPITAL_MIGRATE_DATABASE_URL", test)?;
    let admin = env_or_skip("TP_PG_SUPERUSER_URL", test)?;
    let template = template(&app, &admin)
        .await
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    let db = FreshDb::copy_of(&template, &app, &admin)
        .await
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    tokio::spawn(async move {
        if let Err(e) = sweep(&admin).await {
            eprintln!("warning: sweeping old test databases: {e}");
        }
    });
    Some(db)
}

/// Drops the template copies ([`FreshDb::copy_of`], named `tpt_<pid>_…`) of test processes
/// that have ended; returns how many.
pub async fn sweep(admin_url: &str) -> Result<usize, TestDbError> {
    let mut admin = PgConnection::connect(admin_url)
        .await
        .map_err(fail("admin connect"))?;
    let copies: Vec<String> =
        sea_orm::sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'tpt\\_%'")
            .fetch_all(&mut admin)
            .await
            .map_err(fail("test databases"))?;
    let mut dropped = 0;
    for name in copies {
        let pid = name.split('_').nth(1).and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            drop_database(&mut admin, &name, false).await?;
            dropped += 1;
        }
    }
    admin.close().await.ok();
    Ok(dropped)
}

/// The advisory lock key under which one test builds the template (`tptmpl` in ASCII).
const TEMPLATE_LOCK: i64 = 0x7470_746d_706c;

/// The name of the template database of this migration set (`TP_MIGRATION_SET`, a hash of
/// `migrations/src` made by the build script).
pub fn template_name() -> String {
    format!("tptmpl_{}", env!("TP_MIGRATION_SET"))
}

/// The migrated template database of this migration set, built once per server by the first
/// test that asks (the others wait on an advisory lock) and reused by every later test and run
/// until a migration changes. It has TimescaleDB (the extension's catalog comes along in a
/// copy) and accepts no connections: TimescaleDB's scheduler would otherwise connect to it and
/// block every `CREATE DATABASE … TEMPLATE`. Templates of other migration sets are dropped.
pub async fn template(app_url: &str, admin_url: &str) -> Result<String, TestDbError> {
    let name = template_name();
    let mut admin = PgConnection::connect(admin_url)
        .await
        .map_err(fail("admin connect"))?;
    if is_template(&mut admin, &name)
        .await
        .map_err(fail("template lookup"))?
    {
        admin.close().await.ok();
        return Ok(name);
    }
    sea_orm::sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(TEMPLATE_LOCK)
        .execute(&mut admin)
        .await
        .map_err(fail("template lock"))?;
    let built = async {
        if is_template(&mut admin, &name)
            .await
            .map_err(fail("template lookup"))?
        {
            return Ok(());
        }
        let stale: Vec<String> = sea_orm::sqlx::query_scalar(
            "SELECT datname FROM pg_database WHERE datname LIKE 'tptmpl\\_%' AND datname <> $1",
        )
        .bind(&name)
        .fetch_all(&mut admin)
        .await
        .map_err(fail("old templates"))?;
        for old in stale.iter().chain(std::iter::once(&name)) {
            drop_database(&mut admin, old, true).await?;
        }
        build_template(&mut admin, app_url, admin_url, &name).await
    }
    .await;
    sea_orm::sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(TEMPLATE_LOCK)
        .execute(&mut admin)
        .await
        .ok();
    admin.close().await.ok();
    built.map(|()| name)
}

/// Whether the template `name` exists, sealed.
async fn is_template(admin: &mut PgConnection, name: &str) -> Result<bool, sea_orm::sqlx::Error> {
    let row = sea_orm::sqlx::query(
        "SELECT count(*) FROM pg_database WHERE datname = $1 AND datistemplate",
    )
    .bind(name)
    .fetch_one(admin)
    .await?;
    Ok(row.try_get::<i64, _>(0)? == 1)
}

/// Creates `name` as a migrated database, then seals it as a template.
async fn build_template(
    admin: &mut PgConnection,
    app_url: &str,
    admin_url: &str,
    name: &str,
) -> Result<(), TestDbError> {
    let built = FreshDb::create_named(app_url, admin_url, name, true).await?;
    migrations::up(&built.url, None, LOCK_TIMEOUT)
        .await
        .map_err(|e| TestDbError(format!("migrations up on the template: {e}")))?;
    // Sealed before the guard would drop it: from here on it is the template.
    let name = built.seal();
    admin
        .execute(AssertSqlSafe(format!(
            r#"ALTER DATABASE "{name}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"#
        )))
        .await
        .map_err(fail("seal the template"))?;
    sea_orm::sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
    )
    .bind(&name)
    .execute(admin)
    .await
    .map_err(fail("disconnect the template"))?;
    Ok(())
}

/// Drops `name` (a template first made an ordinary database), its sessions ended.
async fn drop_database(
    admin: &mut PgConnection,
    name: &str,
    template: bool,
) -> Result<(), TestDbError> {
    if template {
        admin
            .execute(AssertSqlSafe(format!(
                r#"DO $$ BEGIN IF EXISTS (SELECT FROM pg_database WHERE datname = '{name}') THEN
                     ALTER DATABASE "{name}" WITH IS_TEMPLATE false; END IF; END $$"#
            )))
            .await
            .map_err(fail("unseal a template"))?;
    }
    admin
        .execute(AssertSqlSafe(format!(
            r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
        )))
        .await
        .map_err(fail("drop database"))?;
    Ok(())
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
