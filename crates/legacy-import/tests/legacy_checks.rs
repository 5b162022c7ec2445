//! What stops an import: pre-flight NO-GO cases (no legacy schema, a column whose type cannot be
//! converted, a target that is not migrated) exit 3 and write nothing; a target whose imported
//! rows no longer match the legacy database fails validation (exit 4, run `failed`), and the
//! next run completes once the difference is gone.

mod legacy_support;

use legacy_support::{
    LegacyDb, TsKind, WorkDir, fresh_target, import_args, import_id, int, migrate, report, run,
    text,
};
use sea_orm::sqlx::{Connection, Executor, PgConnection};
use test_support::db::FreshDb;
use test_support::stack::env_or_skip;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_import_refuses_what_it_cannot_do_safely() {
    let test = "legacy_import_no_go";
    let Some(target) = fresh_target(test).await else {
        return;
    };
    let Some(legacy) = LegacyDb::create(test, 200, 50, TsKind::Timestamptz).await else {
        return;
    };
    let work = WorkDir::new(test);

    // No such schema.
    let out = run(migrate(&target.url, &work.0).args(import_args(
        legacy.url(),
        &work.0,
        &["--schema", "nope"],
    )));
    assert_eq!(out.status.code(), Some(3));
    assert!(stdout(&out).contains("Verdict: NO-GO"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("looked for nope.tp_capital_signals, nope.signals_v2"),
        "{}",
        stdout(&out)
    );

    // A column whose type has no safe conversion: reported, not guessed.
    let mut l = PgConnection::connect(legacy.url()).await.expect("legacy");
    l.execute(
        "CREATE SCHEMA odd; CREATE TABLE odd.tp_capital_signals AS \
         SELECT id, ts::date AS ts, channel, signal_type, asset, buy_min, buy_max, target_1, \
                target_2, target_final, stop::text::bytea AS stop, raw_message \
         FROM tp_capital.tp_capital_signals",
    )
    .await
    .expect("odd legacy schema");
    l.close().await.ok();
    let out = run(migrate(&target.url, &work.0).args(import_args(
        legacy.url(),
        &work.0,
        &["--schema", "odd", "--dry-run"],
    )));
    assert_eq!(out.status.code(), Some(3));
    let text_out = stdout(&out);
    assert!(
        text_out.contains("tp_capital_signals.ts (date): cannot map type date"),
        "{text_out}"
    );
    assert!(text_out.contains("tp_capital_signals.stop (bytea): cannot map type bytea"));

    // A target that is not migrated.
    let app = env_or_skip("TP_CAPITAL_MIGRATE_DATABASE_URL", test).expect("app url");
    let admin = env_or_skip("TP_PG_SUPERUSER_URL", test).expect("admin url");
    let bare = FreshDb::create(&app, &admin, false).await.expect("bare db");
    let out = run(migrate(&bare.url, &work.0).args(import_args(legacy.url(), &work.0, &[])));
    assert_eq!(out.status.code(), Some(3));
    assert!(stdout(&out).contains("run `tp-capital-migrate up`"));

    assert!(
        !work.join("backup").exists() && !work.join("reports").exists(),
        "a NO-GO wrote files"
    );
    let mut t = PgConnection::connect(&target.url).await.expect("target");
    assert_eq!(
        int(&mut t, "SELECT count(*) FROM legacy_import.runs").await,
        0
    );
    assert_eq!(int(&mut t, "SELECT count(*) FROM signals.signals").await, 0);

    // Validation catches a target that differs from the legacy data.
    let out = run(migrate(&target.url, &work.0).args(import_args(legacy.url(), &work.0, &[])));
    assert!(out.status.success());
    let first = import_id(&out.stdout);
    t.execute(
        "UPDATE signals.signals SET stop = stop + 0.001 \
         WHERE legacy_id = md5('tp-legacy-signal-1')::uuid",
    )
    .await
    .expect("tamper");
    let out = run(migrate(&target.url, &work.0).args(import_args(legacy.url(), &work.0, &[])));
    assert_eq!(out.status.code(), Some(4), "{}", stdout(&out));
    let failed = text(
        &mut t,
        "SELECT import_id::text FROM legacy_import.runs WHERE state = 'failed'",
    )
    .await;
    let r = report(&work.0, failed.parse().expect("uuid"));
    assert_eq!(r["state"], "failed");
    assert_eq!(r["validation"]["ok"], false);
    let differing: Vec<&serde_json::Value> = r["validation"]["signals"]["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .filter(|b| b["legacy_checksum"] != b["target_checksum"])
        .collect();
    assert_eq!(differing.len(), 2, "one day and one channel: {differing:?}");
    assert!(
        differing
            .iter()
            .all(|b| b["legacy_rows"] == b["target_rows"])
    );

    // Once repaired, the failed run is resumed and completes.
    t.execute(
        "UPDATE signals.signals SET stop = stop - 0.001 \
         WHERE legacy_id = md5('tp-legacy-signal-1')::uuid",
    )
    .await
    .expect("repair");
    let out = run(migrate(&target.url, &work.0).args(import_args(legacy.url(), &work.0, &[])));
    assert!(out.status.success());
    assert_eq!(import_id(&out.stdout).to_string(), failed);
    assert_ne!(failed, first.to_string());
    assert_eq!(
        int(
            &mut t,
            "SELECT count(*) FROM legacy_import.runs WHERE state = 'complete'"
        )
        .await,
        2
    );
    t.close().await.ok();
}
