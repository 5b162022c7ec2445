//! Shared by the legacy import tests: a generated legacy database (the fixture SQL), a fresh
//! migrated target, the binary, and snapshots of the target's data tables to compare states.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sea_orm::sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, Row};
use test_support::db::FreshDb;
use test_support::stack::env_or_skip;

/// The fixture generator of the shared database's shape (placeholders replaced by
/// [`LegacyDb::create`]).
pub const FIXTURE: &str = include_str!("../legacy_fixture.sql");
/// The fixture generator of the dedicated stack's shape ([`LegacyDb::create_dedicated`]).
pub const DEDICATED_FIXTURE: &str = include_str!("../legacy_fixture_dedicated.sql");

/// How the legacy `ts` columns store time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsKind {
    /// `timestamptz`.
    Timestamptz,
    /// `bigint` milliseconds since the epoch.
    EpochMillis,
}

/// The fixture with its placeholders filled.
pub fn fixture_sql(rows: u32, messages: u32, ts: TsKind) -> String {
    let (ty, expr) = match ts {
        TsKind::Timestamptz => ("timestamptz", "t"),
        TsKind::EpochMillis => ("bigint", "(extract(epoch FROM t) * 1000)::bigint"),
    };
    FIXTURE
        .replace("{{ROWS}}", &rows.to_string())
        .replace("{{MESSAGES}}", &messages.to_string())
        .replace("{{TS_TYPE}}", ty)
        .replace("{{TS}}", expr)
}

/// A legacy database with generated rows, dropped on drop.
pub struct LegacyDb {
    /// The database (owned by the application role).
    pub db: FreshDb,
    /// Which server it is on.
    pub server: &'static str,
}

impl LegacyDb {
    /// Creates it on Debian's plain PostgreSQL 15 when that server is configured (the shared
    /// legacy database is plain PostgreSQL), else on the stack's server.
    pub async fn create(test: &str, rows: u32, messages: u32, ts: TsKind) -> Option<Self> {
        let plain = (
            std::env::var("TP_CAPITAL_PLAIN_PG_URL"),
            std::env::var("TP_PLAIN_PG_SUPERUSER_URL"),
        );
        let (app, admin, server) = match plain {
            (Ok(app), Ok(admin)) if !app.is_empty() && !admin.is_empty() => {
                (app, admin, "plain PostgreSQL 15")
            }
            _ => (
                env_or_skip("TP_CAPITAL_MIGRATE_DATABASE_URL", test)?,
                env_or_skip("TP_PG_SUPERUSER_URL", test)?,
                "the stack's PostgreSQL",
            ),
        };
        let db = FreshDb::create(&app, &admin, false)
            .await
            .expect("legacy database");
        let mut c = db.connect().await.expect("connect to the legacy database");
        c.execute(AssertSqlSafe(fixture_sql(rows, messages, ts)))
            .await
            .expect("generate the legacy data");
        c.close().await.ok();
        eprintln!("{test}: legacy database on {server}");
        Some(Self { db, server })
    }

    /// The dedicated stack's shape (integer ids, epoch-ms `ts`, 2-decimal prices), with
    /// TimescaleDB hypertables as its init script makes them: on the stack's server.
    pub async fn create_dedicated(test: &str, rows: u32, messages: u32) -> Option<Self> {
        let app = env_or_skip("TP_CAPITAL_MIGRATE_DATABASE_URL", test)?;
        let admin = env_or_skip("TP_PG_SUPERUSER_URL", test)?;
        let db = FreshDb::create(&app, &admin, true)
            .await
            .expect("legacy database");
        let mut c = db.connect().await.expect("connect to the legacy database");
        c.execute(AssertSqlSafe(
            DEDICATED_FIXTURE
                .replace("{{ROWS}}", &rows.to_string())
                .replace("{{MESSAGES}}", &messages.to_string()),
        ))
        .await
        .expect("generate the legacy data");
        c.close().await.ok();
        Some(Self {
            db,
            server: "the stack's PostgreSQL",
        })
    }

    /// Its URL (the `--source` of the import).
    pub fn url(&self) -> &str {
        &self.db.url
    }
}

/// A fresh database on the stack's server with TimescaleDB, migrated.
pub async fn fresh_target(test: &str) -> Option<FreshDb> {
    test_support::db::migrated(test).await
}

/// A scratch directory for backups and reports, removed on drop.
pub struct WorkDir(pub PathBuf);

impl WorkDir {
    /// A new empty directory under the system temp dir.
    pub fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("{test}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("work dir");
        Self(dir)
    }

    /// A path inside it.
    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The `tp-capital-migrate` binary (the import's entry point, built by the `migrations` crate):
/// `TP_CAPITAL_BIN_DIR`, else the workspace's `target/debug`.
pub fn binary() -> PathBuf {
    let dir = std::env::var_os("TP_CAPITAL_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/debug"))
        });
    let path = dir.join("tp-capital-migrate");
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins`",
        path.display()
    );
    path
}

/// `tp-capital-migrate` with the target URL and quiet logs.
pub fn migrate(target: &str, work: &Path) -> Command {
    let mut cmd = Command::new(binary());
    cmd.env("TP_CAPITAL_MIGRATE_DATABASE_URL", target)
        .env("RUST_LOG", "warn")
        .current_dir(work);
    cmd
}

/// `import-legacy` arguments with backups and reports inside `work`.
pub fn import_args(source: &str, work: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "import-legacy".into(),
        "--source".into(),
        source.into(),
        "--backup-dir".into(),
        work.join("backup").display().to_string(),
        "--report".into(),
        work.join("reports").display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Runs a command to completion, printing its output on failure to explain.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run tp-capital-migrate");
    if !out.status.success() {
        eprintln!(
            "--- stdout\n{}\n--- stderr\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// The import id printed by a successful import.
pub fn import_id(stdout: &[u8]) -> uuid::Uuid {
    let text = String::from_utf8_lossy(stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("Import ") && l.ends_with(" complete"))
        .unwrap_or_else(|| panic!("no completed import in:\n{text}"));
    line.split_whitespace()
        .nth(1)
        .and_then(|id| uuid::Uuid::parse_str(id).ok())
        .expect("import id")
}

/// The JSON report of an import.
pub fn report(work: &Path, id: uuid::Uuid) -> serde_json::Value {
    let path = work.join("reports").join(format!("import-{id}.json"));
    serde_json::from_slice(&std::fs::read(&path).expect("report file")).expect("report json")
}

/// The first column of the first row, as text.
pub async fn text(c: &mut PgConnection, sql: &str) -> String {
    c.fetch_one(AssertSqlSafe(sql.to_owned()))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .try_get::<String, _>(0)
        .expect(sql)
}

/// The first column of the first row, as an integer.
pub async fn int(c: &mut PgConnection, sql: &str) -> i64 {
    c.fetch_one(AssertSqlSafe(sql.to_owned()))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .try_get::<i64, _>(0)
        .expect(sql)
}

/// Every row of every data table of the target (not the import bookkeeping), as one digest
/// per table with its row count: equal snapshots mean equal data.
pub async fn snapshot(c: &mut PgConnection) -> Vec<(String, i64, String)> {
    let mut out = Vec::new();
    for (table, order) in [
        ("signals.signals", "id"),
        ("signals.channels", "channel_id"),
        ("signals.signal_revisions", "signal_id, revision"),
        ("signals.status_events", "id"),
        ("forwarded_messages.messages", "id"),
        (
            "forwarded_messages.delivery_keys",
            "channel_id, message_id, edit_date",
        ),
    ] {
        let row = c
            .fetch_one(AssertSqlSafe(format!(
                "SELECT count(*), coalesce(md5(string_agg(t::text, E'\\n' ORDER BY {order})), '') \
                 FROM {table} t"
            )))
            .await
            .expect(table);
        out.push((table.to_owned(), row.get(0), row.get(1)));
    }
    out
}

/// The imported content, independent of generated ids and import ids: what two imports of the
/// same legacy data must agree on.
pub async fn content(c: &mut PgConnection) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for sql in [
        "SELECT count(*), md5(string_agg(concat_ws('|', legacy_id, channel_id, message_id, \
           message_date, asset, kind, direction, entry_min, entry_max, targets, target_final, stop, \
           status, raw_message, parser_version, warnings, source, created_at, updated_at), \
           E'\\n' ORDER BY legacy_id)) FROM signals.signals WHERE legacy_id IS NOT NULL",
        "SELECT count(*), md5(string_agg(concat_ws('|', channel_id, message_id, message_date, \
           text, media_type, source, metadata, outcome, reason, parser_version, received_at), \
           E'\\n' ORDER BY channel_id, message_id, message_date)) \
         FROM forwarded_messages.messages WHERE import_id IS NOT NULL",
        "SELECT count(*), md5(string_agg(concat_ws('|', channel_id, label), E'\\n' \
           ORDER BY channel_id)) FROM signals.channels",
    ] {
        let row = c.fetch_one(sql).await.expect(sql);
        out.push((row.get(0), row.try_get::<String, _>(1).unwrap_or_default()));
    }
    out
}
