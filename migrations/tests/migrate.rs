//! The migrations against real servers: the stack's PostgreSQL 17 + TimescaleDB (Apache build)
//! and Debian's plain PostgreSQL 15. Each test migrates a database of its own.

use std::process::Command;

use migrations::{AggregateMode, RetentionMode};
use sea_orm::sqlx::{AssertSqlSafe, Executor, PgConnection};
use test_support::db::{FreshDb, LOCK_TIMEOUT, can_create_databases, scalar_i64};
use test_support::stack::env_or_skip;

const ALL: [&str; 18] = [
    "m20251101_000001_foundation",
    "m20251101_000002_signals",
    "m20251101_000003_message_archive",
    "m20251101_000004_metrics",
    "m20251102_000005_revision_time",
    "m20251104_000007_signal_changes",
    "m20251105_000008_legacy_import",
    "m20251106_000009_delivery_keys",
    "m20251128_000010_positive_prices",
    "m20251205_000011_search_index_per_week",
    "m20251206_000012_channel_label_learned",
    "m20251207_000013_exact_rollups",
    "m20251209_000013_change_feed",
    "m20251214_000014_rollup_newest_index",
    "m20251215_000015_rollup_per_statement",
    "m20251216_000016_no_updated_index",
    "m20251216_000017_status_totals",
    "m20251217_000018_value_domains",
];

/// A fresh database on the TimescaleDB server, with or without the extension installed.
async fn timescale_db(test: &str, with_extension: bool) -> Option<FreshDb> {
    let app = env_or_skip("TP_CAPITAL_MIGRATE_DATABASE_URL", test)?;
    let admin = env_or_skip("TP_PG_SUPERUSER_URL", test)?;
    Some(
        FreshDb::create(&app, &admin, with_extension)
            .await
            .expect("fresh database"),
    )
}

async fn assert_all_applied(url: &str) {
    let (states, caps) = migrations::status(url).await.expect("status");
    let names: Vec<&str> = states.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ALL);
    assert!(states.iter().all(|s| s.applied), "{states:?}");
    assert!(caps.is_some());
}

/// The archive's identity holds with a NULL edit date, and the rollup (with its pending deltas)
/// counts a signal the moment it is written.
async fn assert_schema_works(c: &mut PgConnection) {
    let insert = "INSERT INTO forwarded_messages.messages \
        (channel_id, message_id, message_date, edit_date, text, outcome, parser_version) \
        VALUES (-100, 1, '2025-10-20T12:00:00Z', NULL, 'oi', 'ignored', 't') ON CONFLICT DO NOTHING";
    c.execute(insert).await.expect("first delivery");
    c.execute(insert).await.expect("re-delivery");
    assert_eq!(
        scalar_i64(c, "SELECT count(*) FROM forwarded_messages.messages")
            .await
            .expect("query"),
        1
    );
    c.execute(
        "INSERT INTO signals.signals (channel_id, message_id, message_date, asset, direction, \
         entry_min, entry_max, targets, target_final, stop, raw_message, parser_version) VALUES \
         (-100, 2, '2025-10-20T12:30:00Z', 'BOVAW32', 'long', 1.04, 1.06, '{1.15,2.15}', 3.5, 0.7, 'x', 't')",
    )
    .await
    .expect("insert signal");
    for not_positive in [
        "INSERT INTO signals.signals (channel_id, message_id, message_date, asset, direction, \
         entry_min, targets, stop, raw_message, parser_version) VALUES \
         (-100, 3, '2025-10-20T12:40:00Z', 'BOVAW32', 'long', 1.04, '{1.15}', 0, 'x', 't')",
        "INSERT INTO signals.signals (channel_id, message_id, message_date, asset, direction, \
         entry_min, targets, stop, raw_message, parser_version) VALUES \
         (-100, 4, '2025-10-20T12:40:00Z', 'BOVAW32', 'long', 1.04, '{1.15,0}', 0.7, 'x', 't')",
    ] {
        let refused = c
            .execute(not_positive)
            .await
            .expect_err("a price that is not positive is refused");
        let code = refused.as_database_error().and_then(|e| e.code());
        assert_eq!(code.as_deref(), Some("23514"), "{refused}");
    }
    let unknown_direction = c
        .execute(
            "INSERT INTO signals.signals (channel_id, message_id, message_date, asset, direction, \
             raw_message, parser_version) VALUES \
             (-100, 5, '2025-10-20T12:50:00Z', 'BOVAW32', 'up', 'x', 't')",
        )
        .await
        .expect_err("a direction outside the rule is refused");
    let code = unknown_direction.as_database_error().and_then(|e| e.code());
    assert_eq!(code.as_deref(), Some("23514"), "{unknown_direction}");
    // The rules live in domains: TimescaleDB would copy a table CHECK onto every chunk, where
    // each list query re-reads it (m20251217_000018_value_domains).
    assert_eq!(
        scalar_i64(
            c,
            "SELECT count(*) FROM pg_catalog.pg_constraint \
             WHERE conrelid = 'signals.signals'::regclass AND contype = 'c'"
        )
        .await
        .expect("query"),
        0
    );
    let hourly = "SELECT {} FROM (SELECT * FROM metrics.signal_rollup UNION ALL \
                  SELECT * FROM metrics.signal_rollup_delta) h \
                  WHERE asset = 'BOVAW32' AND bucket = '2025-10-20T12:00:00Z'";
    assert_eq!(
        scalar_i64(c, &hourly.replace("{}", "sum(signal_count)::bigint"))
            .await
            .expect("query"),
        1
    );
    // Upside of the canonical call: (3.5 - 1.06) / 1.06 = 230.19 %.
    assert_eq!(
        scalar_i64(
            c,
            &hourly.replace("{}", "round(sum(upside_sum) / sum(upside_n) * 100)::bigint")
        )
        .await
        .expect("query"),
        230
    );
}

/// The license the TimescaleDB server runs under (`apache`, `timescale`): tests assert against
/// it, never against one edition.
async fn server_license(c: &mut PgConnection) -> String {
    use sea_orm::sqlx::Row;
    c.fetch_one("SELECT current_setting('timescaledb.license', true) AS l")
        .await
        .expect("license")
        .try_get::<String, _>("l")
        .expect("license text")
}

#[tokio::test]
async fn timescale_up_is_idempotent_and_status_shows_all_applied() {
    let Some(db) = timescale_db("timescale_up_is_idempotent", true).await else {
        return;
    };
    let applied = migrations::up(&db.url, None, LOCK_TIMEOUT)
        .await
        .expect("first up");
    assert_eq!(applied, ALL);
    let again = migrations::up(&db.url, None, LOCK_TIMEOUT)
        .await
        .expect("second up");
    assert!(again.is_empty(), "second up applied {again:?}");
    assert_all_applied(&db.url).await;

    let (_, caps) = migrations::status(&db.url).await.expect("status");
    let caps = caps.expect("capabilities recorded");
    let mut c = db.connect().await.expect("connect");
    let plans: String = sea_orm::sqlx::query_scalar("SHOW plan_cache_mode")
        .fetch_one(&mut c)
        .await
        .expect("show plan_cache_mode");
    assert_eq!(
        plans, "force_generic_plan",
        "up sets the role's plan cache mode"
    );
    assert!(caps.hypertables);
    assert_eq!(
        caps.timescaledb_license.as_deref(),
        Some(server_license(&mut c).await.as_str())
    );
    assert_eq!(caps.aggregate, AggregateMode::Rollup);
    assert_eq!(caps.retention, RetentionMode::DropChunks);

    assert_eq!(
        scalar_i64(
            &mut c,
            "SELECT count(*) FROM timescaledb_information.hypertables WHERE \
             (hypertable_schema, hypertable_name) IN (('signals', 'signals'), \
             ('forwarded_messages', 'messages'), ('metrics', 'processing_stats'))"
        )
        .await
        .expect("query"),
        3
    );
    assert_schema_works(&mut c).await;
}

/// Trigram indexes on `signals.signals` chunks (per chunk) and on the hypertable itself.
async fn search_indexes(c: &mut PgConnection) -> (i64, i64) {
    let per_chunk = scalar_i64(
        c,
        "SELECT count(*) FROM pg_catalog.pg_indexes WHERE schemaname = '_timescaledb_internal' \
         AND (indexname LIKE '%\\_raw\\_message\\_trgm' OR indexname LIKE '%\\_asset\\_trgm')",
    )
    .await
    .expect("chunk indexes");
    let on_hypertable = scalar_i64(
        c,
        "SELECT count(*) FROM pg_catalog.pg_indexes WHERE schemaname = 'signals' \
         AND tablename = 'signals' AND indexdef LIKE '%gin_trgm_ops%'",
    )
    .await
    .expect("hypertable indexes");
    (per_chunk, on_hypertable)
}

#[tokio::test]
async fn search_indexes_move_from_the_hypertable_to_each_existing_chunk_and_back() {
    let Some(db) = timescale_db("search_indexes_move_to_chunks", true).await else {
        return;
    };
    let search = ALL
        .iter()
        .position(|m| *m == "m20251205_000011_search_index_per_week")
        .expect("the search-index migration");
    let before = u32::try_from(search).expect("few migrations");
    migrations::up(&db.url, Some(before), LOCK_TIMEOUT)
        .await
        .expect("up to the one before");
    let mut c = db.connect().await.expect("connect");
    for (id, date) in [(1, "2025-01-10T12:00:00Z"), (2, "2025-10-20T12:00:00Z")] {
        c.execute(AssertSqlSafe(format!(
            "INSERT INTO signals.signals (channel_id, message_id, message_date, asset, direction, \
             raw_message, parser_version) VALUES (-100, {id}, '{date}', 'PETR4', 'long', 'Ativo: PETR4', 't')"
        )))
        .await
        .expect("insert");
    }
    assert_eq!(
        search_indexes(&mut c).await,
        (0, 2),
        "before: on the hypertable only"
    );

    migrations::up(&db.url, Some(1), LOCK_TIMEOUT)
        .await
        .expect("up");
    assert_eq!(
        search_indexes(&mut c).await,
        (4, 0),
        "after: both existing chunks indexed, the hypertable (so new weeks) not"
    );
    assert_eq!(
        scalar_i64(
            &mut c,
            "SELECT extract(epoch FROM time_interval)::bigint FROM timescaledb_information.dimensions \
             WHERE hypertable_schema = 'signals' AND hypertable_name = 'signals'"
        )
        .await
        .expect("interval"),
        7 * 24 * 3600
    );

    migrations::down(&db.url, 1, LOCK_TIMEOUT)
        .await
        .expect("down 1");
    assert_eq!(
        search_indexes(&mut c).await,
        (0, 2),
        "down restores the hypertable's"
    );
}

#[tokio::test]
async fn concurrent_runs_serialise_on_the_lock() {
    let Some(db) = timescale_db("concurrent_runs_serialise_on_the_lock", true).await else {
        return;
    };
    let (a, b) = tokio::join!(
        migrations::up(&db.url, None, LOCK_TIMEOUT),
        migrations::up(&db.url, None, LOCK_TIMEOUT)
    );
    let (a, b) = (a.expect("run a"), b.expect("run b"));
    let mut together: Vec<String> = a.iter().chain(&b).cloned().collect();
    together.sort();
    assert_eq!(together, ALL, "each migration applied exactly once");
    assert_all_applied(&db.url).await;
}

#[tokio::test]
async fn down_then_up_rebuilds_the_schema() {
    let Some(db) = timescale_db("down_then_up_rebuilds_the_schema", true).await else {
        return;
    };
    migrations::up(&db.url, None, LOCK_TIMEOUT)
        .await
        .expect("up");
    let one = migrations::down(&db.url, 1, LOCK_TIMEOUT)
        .await
        .expect("down 1");
    assert_eq!(one, [ALL[ALL.len() - 1]]);
    let rest = migrations::down(&db.url, ALL.len() as u32, LOCK_TIMEOUT)
        .await
        .expect("down all");
    assert_eq!(rest.len(), ALL.len() - 1);
    let mut c = db.connect().await.expect("connect");
    assert_eq!(
        scalar_i64(
            &mut c,
            "SELECT count(*) FROM pg_namespace WHERE nspname IN ('signals', 'forwarded_messages', 'metrics')"
        )
        .await
        .expect("query"),
        0
    );
    let (states, _) = migrations::status(&db.url).await.expect("status");
    assert!(states.iter().all(|s| !s.applied));
    let applied = migrations::up(&db.url, None, LOCK_TIMEOUT)
        .await
        .expect("up again");
    assert_eq!(applied, ALL);
    assert_all_applied(&db.url).await;
    assert_schema_works(&mut c).await;
}

#[tokio::test]
async fn the_migration_installs_timescaledb_when_the_server_offers_it() {
    // TimescaleDB is a trusted extension: the database owner installs it without superuser.
    let Some(db) = timescale_db("the_migration_installs_timescaledb", false).await else {
        return;
    };
    migrations::up(&db.url, None, LOCK_TIMEOUT)
        .await
        .expect("up");
    let (_, caps) = migrations::status(&db.url).await.expect("status");
    let caps = caps.expect("capabilities");
    assert!(caps.timescaledb_version.is_some());
    assert!(caps.hypertables);
    assert_eq!(caps.retention, RetentionMode::DropChunks);
    assert_schema_works(&mut db.connect().await.expect("connect")).await;
}

#[tokio::test]
async fn plain_postgres_15_migrates_up_down_and_up() {
    let Some(url) = env_or_skip("TP_CAPITAL_PLAIN_PG_URL", "plain_postgres_15") else {
        return;
    };
    let admin = match std::env::var("TP_PLAIN_PG_SUPERUSER_URL") {
        Ok(a) if !a.is_empty() => Some(a),
        _ => can_create_databases(&url).await.then(|| url.clone()),
    };
    let Some(admin) = admin else {
        // No role may create a database: migrate the given one (the lock serialises runs).
        migrations::up(&url, None, LOCK_TIMEOUT).await.expect("up");
        assert!(
            migrations::up(&url, None, LOCK_TIMEOUT)
                .await
                .expect("up")
                .is_empty()
        );
        assert_all_applied(&url).await;
        return;
    };
    let db = FreshDb::create(&url, &admin, false)
        .await
        .expect("fresh database");
    let mut c = db.connect().await.expect("connect");
    assert!(
        scalar_i64(
            &mut c,
            "SELECT current_setting('server_version_num')::bigint"
        )
        .await
        .expect("query")
            >= 150000
    );
    assert_eq!(
        migrations::up(&db.url, None, LOCK_TIMEOUT)
            .await
            .expect("up"),
        ALL
    );
    assert!(
        migrations::up(&db.url, None, LOCK_TIMEOUT)
            .await
            .expect("up twice")
            .is_empty()
    );
    let (_, caps) = migrations::status(&db.url).await.expect("status");
    let caps = caps.expect("capabilities");
    assert_eq!(caps.timescaledb_version, None);
    assert_eq!(caps.aggregate, AggregateMode::Rollup);
    assert_eq!(caps.retention, RetentionMode::Delete);
    assert_eq!(
        migrations::down(&db.url, ALL.len() as u32, LOCK_TIMEOUT)
            .await
            .expect("down")
            .len(),
        ALL.len()
    );
    migrations::up(&db.url, None, LOCK_TIMEOUT)
        .await
        .expect("up again");
    assert_all_applied(&db.url).await;
    assert_schema_works(&mut c).await;
}

#[tokio::test]
async fn the_binary_reports_status_and_fails_clearly() {
    let bin = env!("CARGO_BIN_EXE_tp-capital-migrate");

    let refused = Command::new(bin)
        .args([
            "--database-url",
            "postgres://u:secret@127.0.0.1:1/none",
            "up",
        ])
        .env_remove("TP_CAPITAL_MIGRATE_DATABASE_URL")
        .output()
        .expect("run");
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("cannot connect to postgres://u:***@127.0.0.1:1/none"),
        "{stderr}"
    );
    assert!(!stderr.contains("secret"));

    let no_url = Command::new(bin)
        .arg("status")
        .env_remove("TP_CAPITAL_MIGRATE_DATABASE_URL")
        .output()
        .expect("run");
    assert_eq!(no_url.status.code(), Some(2));

    let Some(db) = timescale_db("the_binary_reports_status", true).await else {
        return;
    };
    let up = Command::new(bin)
        .arg("up")
        .env("TP_CAPITAL_MIGRATE_DATABASE_URL", &db.url)
        .output()
        .expect("run up");
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let status = Command::new(bin)
        .args(["--database-url", &db.url, "status"])
        .output()
        .expect("run status");
    assert!(status.status.success());
    let out = String::from_utf8_lossy(&status.stdout);
    assert!(
        out.contains(&format!("{n} of {n} applied, 0 pending", n = ALL.len())),
        "{out}"
    );
    assert!(
        out.contains("aggregate=rollup retention=drop_chunks"),
        "{out}"
    );
    for name in ALL {
        assert!(out.contains(&format!("applied   {name}")), "{out}");
    }
}

/// Rows and live-signal counts of a database, for the mode switch.
async fn census(c: &mut PgConnection) -> Vec<i64> {
    let mut counts = Vec::new();
    for sql in [
        "SELECT count(*) FROM signals.signals",
        "SELECT count(*) FROM signals.signals WHERE deleted_at IS NULL",
        "SELECT count(*) FROM forwarded_messages.messages",
        "SELECT count(*) FROM signals.status_events",
        "SELECT COALESCE(sum(signal_count), 0)::bigint FROM (SELECT signal_count FROM metrics.signal_rollup \
         UNION ALL SELECT signal_count FROM metrics.signal_rollup_delta) x",
        "SELECT COALESCE(sum(n), 0)::bigint FROM (SELECT n FROM metrics.channel_message_totals \
         UNION ALL SELECT n FROM metrics.channel_message_delta) x",
    ] {
        counts.push(scalar_i64(c, sql).await.expect(sql));
    }
    counts
}

/// The switch we can run here: a database migrated on plain PostgreSQL, dumped and restored
/// onto the TimescaleDB server (Apache build). `up` finds TimescaleDB installed and turns the
/// tables into hypertables: every row kept, the rollups exact, the new mode recorded.
#[tokio::test]
async fn a_plain_database_moved_to_timescaledb_becomes_hypertables_keeping_every_row() {
    let test = "plain_to_timescaledb_switch";
    let (Some(plain), Some(plain_admin)) = (
        env_or_skip("TP_CAPITAL_PLAIN_PG_URL", test),
        env_or_skip("TP_PLAIN_PG_SUPERUSER_URL", test),
    ) else {
        return;
    };
    let Some(target) = timescale_db(test, true).await else {
        return;
    };
    let source = FreshDb::create(&plain, &plain_admin, false)
        .await
        .expect("plain database");
    migrations::up(&source.url, None, LOCK_TIMEOUT)
        .await
        .expect("up on plain");
    let mut c = source.connect().await.expect("connect");
    c.execute(
        "INSERT INTO signals.signals (channel_id, message_id, message_date, asset, direction, \
         entry_min, entry_max, targets, target_final, stop, raw_message, parser_version, deleted_at) \
         SELECT -7, g, now() - g * interval '5 days', 'PETR4', 'long', 1.04, 1.06, '{1.15}', 3.5, 0.7, \
                'Ativo: PETR4', 't', CASE WHEN g % 10 = 0 THEN now() END \
         FROM generate_series(1, 100) g",
    )
    .await
    .expect("signals");
    c.execute(
        "INSERT INTO forwarded_messages.messages (channel_id, message_id, message_date, text, outcome, parser_version) \
         SELECT -7, g, now() - g * interval '5 days', 'x', 'signal', 't' FROM generate_series(1, 100) g",
    )
    .await
    .expect("messages");
    let before = census(&mut c).await;
    assert_eq!(before[..3], [100, 90, 100]);
    assert_eq!((before[4], before[5]), (90, 100), "rollups exact on plain");

    let dump = Command::new("pg_dump")
        .args(["--no-owner", "--no-acl", "--no-comments", "-d", &source.url])
        .output()
        .expect("pg_dump");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let mut psql = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &target.url])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("psql");
    use std::io::Write;
    psql.stdin
        .take()
        .expect("stdin")
        .write_all(&dump.stdout)
        .expect("restore");
    assert!(psql.wait().expect("psql").success(), "restore failed");

    let (_, caps) = migrations::status(&target.url).await.expect("status");
    assert!(!caps.expect("caps").hypertables, "restored in plain mode");
    assert!(
        migrations::up(&target.url, None, LOCK_TIMEOUT)
            .await
            .expect("up on timescaledb")
            .is_empty(),
        "no migration pending, only the switch"
    );
    let (_, caps) = migrations::status(&target.url).await.expect("status");
    let caps = caps.expect("caps");
    assert!(caps.hypertables);
    assert!(caps.timescaledb_version.is_some());
    assert_eq!(caps.retention, RetentionMode::DropChunks);
    let mut t = target.connect().await.expect("connect");
    assert_eq!(
        census(&mut t).await,
        before,
        "every row kept, rollups equal"
    );
    assert_eq!(
        scalar_i64(
            &mut t,
            "SELECT count(*) FROM timescaledb_information.hypertables WHERE \
             (hypertable_schema, hypertable_name) IN (('signals', 'signals'), \
             ('forwarded_messages', 'messages'), ('metrics', 'processing_stats'))"
        )
        .await
        .expect("hypertables"),
        3
    );
    // The triggers work on the chunks: a new signal counts at once.
    t.execute(
        "INSERT INTO signals.signals (channel_id, message_id, message_date, asset, direction, raw_message, parser_version) \
         VALUES (-7, 1000, now() - interval '3 days', 'VALE3', 'long', 'x', 't')",
    )
    .await
    .expect("insert after the switch");
    assert_eq!(census(&mut t).await[4], 91);
}
