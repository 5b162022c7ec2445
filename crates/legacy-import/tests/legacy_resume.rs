//! A legacy import killed mid-run (SIGKILL, after some batches committed) resumes from its
//! checkpoint on the next run and ends with exactly what an uninterrupted import of the same
//! legacy database produces. The legacy variant here stores `ts` as BIGINT epoch milliseconds.

mod legacy_support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use legacy_support::{
    LegacyDb, TsKind, WorkDir, content, fresh_target, import_args, import_id, int, migrate, report,
    run, text,
};
use sea_orm::sqlx::{Connection, PgConnection};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_import_killed_mid_run_resumes_to_the_same_result() {
    let test = "legacy_import_resume";
    let Some(killed) = fresh_target(test).await else {
        return;
    };
    let Some(clean) = fresh_target(test).await else {
        return;
    };
    let Some(legacy) = LegacyDb::create(test, 100_000, 10_000, TsKind::EpochMillis).await else {
        return;
    };
    let work = WorkDir::new(test);

    // Start an import with small batches and kill it once some of them are committed.
    let mut child = migrate(&killed.url, &work.0)
        .args(import_args(
            legacy.url(),
            &work.0,
            &["--batch-size", "1000"],
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the import");
    let mut t = PgConnection::connect(&killed.url).await.expect("target");
    let started = Instant::now();
    loop {
        let read = int(
            &mut t,
            "SELECT coalesce(max(signals_read), 0) FROM legacy_import.runs",
        )
        .await;
        if read >= 20_000 {
            break;
        }
        assert!(
            child.try_wait().expect("child status").is_none(),
            "the import ended before it could be killed"
        );
        assert!(started.elapsed() < Duration::from_secs(120), "no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("kill the import");
    child.wait().expect("reap the import");

    // What the killed run left: a running import whose checkpoint matches its committed rows.
    assert_eq!(
        text(&mut t, "SELECT state FROM legacy_import.runs").await,
        "running"
    );
    let read = int(&mut t, "SELECT signals_read FROM legacy_import.runs").await;
    assert!(read < 100_203, "killed after the end: {read}");
    assert_eq!(
        int(
            &mut t,
            "SELECT count(*) FROM signals.signals WHERE import_id IS NOT NULL"
        )
        .await,
        int(&mut t, "SELECT signals_inserted FROM legacy_import.runs").await,
        "rows and checkpoint are committed together"
    );

    // The same command resumes it.
    let out = run(migrate(&killed.url, &work.0).args(import_args(legacy.url(), &work.0, &[])));
    assert!(out.status.success(), "resume failed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("it will resume from its checkpoint"),
        "{stdout}"
    );
    let id = import_id(&out.stdout);
    let resumed = report(&work.0, id);
    assert_eq!(resumed["state"], "complete");
    assert_eq!(resumed["attempts"], 2);
    assert_eq!(resumed["validation"]["ok"], true);
    assert_eq!(resumed["tables"][0]["read"], 100_203, "no row read twice");
    assert_eq!(
        int(&mut t, "SELECT count(*) FROM legacy_import.runs").await,
        1,
        "the resume reused the run"
    );

    // An uninterrupted import of the same legacy data into another target.
    let other = WorkDir::new(test);
    let out = run(migrate(&clean.url, &other.0).args(import_args(legacy.url(), &other.0, &[])));
    assert!(out.status.success(), "clean import failed");
    let whole = report(&other.0, import_id(&out.stdout));
    for (i, table) in ["signals", "messages"].iter().enumerate() {
        for field in ["read", "inserted", "already_present", "skipped"] {
            assert_eq!(
                resumed["tables"][i][field], whole["tables"][i][field],
                "{table} {field}"
            );
        }
    }
    let mut c = PgConnection::connect(&clean.url)
        .await
        .expect("clean target");
    assert_eq!(
        content(&mut t).await,
        content(&mut c).await,
        "the resumed import differs from the uninterrupted one"
    );
    assert_eq!(
        text(
            &mut t,
            "SELECT string_agg(reason_code || ':' || n, ',' ORDER BY reason_code) FROM \
             (SELECT reason_code, count(*) n FROM legacy_import.skipped_rows GROUP BY 1) s"
        )
        .await,
        text(
            &mut c,
            "SELECT string_agg(reason_code || ':' || n, ',' ORDER BY reason_code) FROM \
             (SELECT reason_code, count(*) n FROM legacy_import.skipped_rows GROUP BY 1) s"
        )
        .await,
        "skipped rows recorded once"
    );

    // Epoch milliseconds keep their milliseconds.
    let mut l = PgConnection::connect(legacy.url()).await.expect("legacy");
    let legacy_ms = int(
        &mut l,
        "SELECT ts FROM tp_capital.tp_capital_signals WHERE legacy_flags = 'g=1234'",
    )
    .await;
    let target_ms = int(
        &mut t,
        "SELECT (extract(epoch FROM message_date) * 1000)::bigint FROM signals.signals \
         WHERE legacy_id = md5('tp-legacy-signal-1234')::uuid",
    )
    .await;
    assert_eq!(target_ms, legacy_ms);
    assert_eq!(legacy_ms % 1000, 234);
    l.close().await.ok();
    t.close().await.ok();
    c.close().await.ok();
}
