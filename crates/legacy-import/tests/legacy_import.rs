//! The legacy import end to end on real servers, through the binary: a generated legacy
//! database of 100,000+ signals and 20,000+ archived messages with every edge case; a dry run
//! that writes nothing; an import that validates, keeps every digit of every price and writes
//! its backup (restorable) and report; a second run that adds nothing; a rollback that leaves
//! the target exactly as it was, twice.

mod legacy_support;

use std::process::Command;

use legacy_import::{UNKNOWN_CHANNEL_ID, UNKNOWN_CHANNEL_LABEL, synthetic_channel_id};
use legacy_support::{
    LegacyDb, TsKind, WorkDir, fresh_target, import_args, import_id, int, migrate, report, run,
    snapshot, text,
};
use sea_orm::sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

/// Rows that were in the target before the import: the live service already running.
async fn seed_live_rows(c: &mut PgConnection) {
    c.execute(
        "INSERT INTO signals.channels (channel_id, label) VALUES (-1001000000001, 'TP Capital (live)');
         INSERT INTO signals.signals (channel_id, message_id, message_date, asset, direction, entry_min,
           entry_max, targets, target_final, stop, raw_message, parser_version) VALUES
           (-1001000000001, 501, '2025-10-20T12:30:00Z', 'PETR4', 'long', 30.1, 30.5, '{31,32}', 33, 29, 'live 1', 'p'),
           (-1001000000002, 502, '2025-10-21T12:30:00Z', 'BOVAW32', 'long', 1.04, 1.06, '{1.15}', 3.5, 0.7, 'live 2', 'p');
         INSERT INTO signals.status_events (signal_id, status, at, reason)
           SELECT id, 'open', '2025-10-20T12:30:00Z', 'created' FROM signals.signals;
         INSERT INTO forwarded_messages.messages (channel_id, message_id, message_date, text, outcome, parser_version)
           VALUES (-1001000000001, 501, '2025-10-20T12:30:00Z', 'live 1', 'signal', 'p');",
    )
    .await
    .expect("seed live rows");
}

/// A digest of the legacy tables: the import must never change them.
async fn legacy_digest(url: &str) -> String {
    let mut c = PgConnection::connect(url).await.expect("legacy connect");
    let d = text(
        &mut c,
        "SELECT concat_ws(' ', \
           (SELECT md5(string_agg(t::text, '' ORDER BY id)) FROM tp_capital.tp_capital_signals t), \
           (SELECT md5(string_agg(t::text, '' ORDER BY id)) FROM tp_capital.forwarded_messages t), \
           (SELECT md5(string_agg(t::text, '' ORDER BY channel_id)) FROM tp_capital.telegram_channels t))",
    )
    .await;
    c.close().await.ok();
    d
}

fn legacy_uuid(g: u32) -> String {
    format!("md5('tp-legacy-signal-{g}')::uuid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_import_dry_run_import_second_run_and_rollback() {
    let test = "legacy_import_end_to_end";
    let Some(target) = fresh_target(test).await else {
        return;
    };
    let Some(legacy) = LegacyDb::create(test, 100_000, 20_000, TsKind::Timestamptz).await else {
        return;
    };
    let work = WorkDir::new(test);
    let mut t = target.connect().await.expect("target");
    seed_live_rows(&mut t).await;
    let before = snapshot(&mut t).await;
    let legacy_before = legacy_digest(legacy.url()).await;

    // Dry run: pre-flight, counts, a sample mapping; nothing written anywhere.
    let out =
        run(migrate(&target.url, &work.0).args(import_args(legacy.url(), &work.0, &["--dry-run"])));
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Verdict: GO"), "{stdout}");
    assert!(stdout.contains("signals that map:"), "{stdout}");
    assert!(stdout.contains("Sample mapping"), "{stdout}");
    assert!(
        stdout.contains("tp_capital_signals.legacy_flags"),
        "the unmapped column is reported: {stdout}"
    );
    assert_eq!(
        snapshot(&mut t).await,
        before,
        "the dry run changed the target"
    );
    for table in ["runs", "skipped_rows", "created_channels"] {
        assert_eq!(
            int(
                &mut t,
                &format!("SELECT count(*) FROM legacy_import.{table}")
            )
            .await,
            0,
            "dry run wrote legacy_import.{table}"
        );
    }
    assert!(!work.join("backup").exists() && !work.join("reports").exists());

    // The import.
    let out = run(migrate(&target.url, &work.0).args(import_args(legacy.url(), &work.0, &[])));
    assert!(out.status.success(), "import failed");
    let id = import_id(&out.stdout);
    let r = report(&work.0, id);
    assert_eq!(r["state"], "complete");
    assert_eq!(r["validation"]["ok"], true);
    let signals = &r["tables"][0];
    let messages = &r["tables"][1];
    assert_eq!(signals["legacy_rows"], 100_203);
    assert_eq!(signals["read"], 100_203);
    assert_eq!(signals["already_present"], 0);
    let inserted = signals["inserted"].as_i64().expect("inserted");
    let skipped = signals["skipped"].as_i64().expect("skipped");
    assert_eq!(inserted + skipped, 100_203);
    assert!(skipped > 0 && skipped < 2_000, "{skipped}");
    assert_eq!(
        int(
            &mut t,
            &format!("SELECT count(*) FROM signals.signals WHERE import_id = '{id}'")
        )
        .await,
        inserted
    );
    assert_eq!(messages["read"], 20_206);
    assert_eq!(
        messages["already_present"], 206,
        "second deliveries stored once"
    );
    assert_eq!(r["validation"]["signals"]["legacy_rows"], inserted);
    assert_eq!(r["validation"]["signals"]["source_rows"], 100_203);
    assert_eq!(r["validation"]["signals"]["skipped_rows"], skipped);
    assert_eq!(r["validation"]["signal_skips"]["wrong"], 0);
    assert!(
        r["shape"]
            .as_str()
            .expect("shape")
            .starts_with("shared database (UUID ids)")
    );
    assert_eq!(r["validation"]["signals"]["mismatched_buckets"], 0);
    assert!(
        r["validation"]["signals"]["buckets"]
            .as_array()
            .expect("buckets")
            .len()
            > 15,
        "per-day and per-channel buckets"
    );
    assert!(r["validation"]["signal_sample"]["compared"].as_i64() >= Some(400));
    assert!(
        r["rollback_command"]
            .as_str()
            .expect("rollback")
            .ends_with(&id.to_string())
    );
    let md = std::fs::read_to_string(work.join("reports").join(format!("import-{id}.md")))
        .expect("markdown report");
    assert!(md.contains("rollback-import --import-id") && md.contains("| day |"));

    // Every skip reason of the fixture, with the row that causes it.
    for (g, reason) in [
        (1019, "price_too_precise"),
        (1021, "asset_not_ticker"),
        (1039, "ts_out_of_range"),
        (1031, "channel_missing"),
        (997, "invalid_call"),
        (1013, "invalid_call"),
        (1033, "price_not_positive"),
    ] {
        let found = text(
            &mut t,
            &format!(
                "SELECT coalesce(max(reason_code), 'not skipped') FROM legacy_import.skipped_rows \
                 WHERE import_id = '{id}' AND legacy_key = ({})::text",
                legacy_uuid(g)
            ),
        )
        .await;
        assert_eq!(found, reason, "legacy row g={g}");
    }

    // Exact prices: 3-decimal premiums, 6 decimals, large values, NULLs kept NULL.
    let row = |g: u32, cols: &str| {
        format!(
            "SELECT concat_ws(' ', {cols}) FROM signals.signals WHERE legacy_id = {}",
            legacy_uuid(g)
        )
    };
    assert_eq!(
        text(
            &mut t,
            &row(
                155,
                "entry_min, entry_max, targets, target_final, stop, channel_id, coalesce(kind, '-')"
            )
        )
        .await,
        "0.255000 0.275000 {0.355000,0.510000} 0.765000 0.153000 -1001000000001 -"
    );
    assert!(text(&mut t, &row(155, "warnings")).await.contains("Opção"));
    assert_eq!(text(&mut t, &row(101, "entry_min")).await, "0.201001");
    assert_eq!(
        text(&mut t, &row(1009, "entry_min, entry_max")).await,
        "20900.000000 20900.020000"
    );
    assert_eq!(
        text(
            &mut t,
            &row(14, "targets, coalesce(target_final::text, 'NULL')")
        )
        .await,
        "{0.214000} 0.342000"
    );
    assert_eq!(
        text(
            &mut t,
            &row(
                19,
                "coalesce(entry_min::text, 'NULL'), coalesce(entry_max::text, 'NULL'), stop"
            )
        )
        .await,
        "NULL NULL 0.071000"
    );
    // Channels: a numeric id, a title (any case), an unknown name, an ambiguous one.
    assert_eq!(text(&mut t, &row(4, "channel_id")).await, "-1001000000001");
    assert_eq!(text(&mut t, &row(6, "channel_id")).await, "-1001000000002");
    assert_eq!(
        text(&mut t, &row(8, "channel_id")).await,
        UNKNOWN_CHANNEL_ID.to_string()
    );
    assert_eq!(
        text(
            &mut t,
            &format!("SELECT label FROM signals.channels WHERE channel_id = {UNKNOWN_CHANNEL_ID}")
        )
        .await,
        UNKNOWN_CHANNEL_LABEL
    );
    // B3SA3, an options call (no kind, its label kept), the checkpoint row skipped with no
    // channel created for it.
    let fixed = |name: &str, cols: &str| {
        format!(
            "SELECT concat_ws(' ', {cols}) FROM signals.signals WHERE legacy_id = md5('tp-legacy-{name}')::uuid"
        )
    };
    assert_eq!(
        text(&mut t, &fixed("b3sa3", "asset, entry_min, stop")).await,
        "B3SA3 11.500000 10.900000"
    );
    assert_eq!(
        text(&mut t, &fixed("options", "coalesce(kind, '-'), asset")).await,
        "- PETRK321"
    );
    assert!(
        text(&mut t, &fixed("options", "warnings"))
            .await
            .contains("'Opções' = options")
    );
    assert_eq!(
        text(&mut t, &format!("SELECT reason_code FROM legacy_import.skipped_rows WHERE legacy_key = md5('tp-legacy-checkpoint')::uuid::text AND import_id = '{id}'")).await,
        "legacy_checkpoint"
    );
    assert_eq!(
        int(
            &mut t,
            &format!(
                "SELECT count(*) FROM signals.channels WHERE channel_id = {}",
                synthetic_channel_id("system")
            )
        )
        .await,
        0,
        "no channel for the checkpoint row"
    );
    assert_eq!(
        text(&mut t, &row(9, "channel_id")).await,
        synthetic_channel_id("Clube Duplicado").to_string()
    );
    assert_eq!(
        text(
            &mut t,
            "SELECT label FROM signals.channels WHERE channel_id = -1001000000001"
        )
        .await,
        "TP Capital (live)",
        "an existing channel is left alone"
    );
    assert_eq!(
        int(
            &mut t,
            "SELECT count(*) FROM signals.channels WHERE label ILIKE '%secret%'"
        )
        .await,
        0
    );
    // The legacy duplicate message: two legacy ids, two signals (reported, not guessed away).
    assert_eq!(
        int(
            &mut t,
            &format!(
                "SELECT count(*) FROM signals.signals WHERE legacy_id IN ({}, md5('tp-legacy-duplicate-500')::uuid)",
                legacy_uuid(500)
            )
        )
        .await,
        2
    );
    // A second delivery of an archived message is stored once: the first delivery.
    assert_eq!(
        text(
            &mut t,
            "SELECT count(*)::text || ' ' || min(received_at - message_date)::text \
             FROM forwarded_messages.messages WHERE message_id = 97 AND import_id IS NOT NULL"
        )
        .await,
        "1 00:00:01"
    );
    assert_eq!(
        int(&mut t, "SELECT count(*) FROM forwarded_messages.messages WHERE metadata ? 'legacy_photos' AND media_type = 'photo'").await,
        int(&mut t, "SELECT count(*) FROM forwarded_messages.messages WHERE metadata->'legacy_photos' <> '[]'::jsonb").await
    );

    // The backup: checksums verify, no credentials, and it restores the legacy tables.
    let backup = work.join("backup").join(id.to_string());
    let sums = Command::new("sha256sum")
        .arg("-c")
        .arg("SHA256SUMS")
        .current_dir(&backup)
        .output()
        .expect("sha256sum");
    assert!(
        sums.status.success(),
        "{}",
        String::from_utf8_lossy(&sums.stdout)
    );
    let channels = Command::new("sh")
        .arg("-c")
        .arg("gunzip -c telegram_channels.copy.gz")
        .current_dir(&backup)
        .output()
        .expect("gunzip");
    let channels = String::from_utf8_lossy(&channels.stdout);
    assert!(
        channels.contains("Opções VIP") && !channels.contains("SECRET"),
        "{channels}"
    );
    let restored = test_support::db::FreshDb::create(
        &std::env::var("TP_CAPITAL_PLAIN_PG_URL")
            .ok()
            .filter(|_| legacy.server.starts_with("plain"))
            .unwrap_or_else(|| {
                std::env::var("TP_CAPITAL_MIGRATE_DATABASE_URL").unwrap_or_default()
            }),
        &std::env::var("TP_PLAIN_PG_SUPERUSER_URL")
            .ok()
            .filter(|_| legacy.server.starts_with("plain"))
            .unwrap_or_else(|| std::env::var("TP_PG_SUPERUSER_URL").unwrap_or_default()),
        false,
    )
    .await
    .expect("restore database");
    let restore = Command::new("sh")
        .arg("restore.sh")
        .env("LEGACY_URL", &restored.url)
        .current_dir(&backup)
        .output()
        .expect("restore.sh");
    assert!(
        restore.status.success(),
        "{}{}",
        String::from_utf8_lossy(&restore.stdout),
        String::from_utf8_lossy(&restore.stderr)
    );
    let digest = |url: String| async move {
        let mut c = PgConnection::connect(&url).await.expect("connect");
        let d = text(
            &mut c,
            "SELECT concat_ws(' ', \
               (SELECT md5(string_agg(t::text, '' ORDER BY id)) FROM tp_capital.tp_capital_signals t), \
               (SELECT md5(string_agg(t::text, '' ORDER BY id)) FROM tp_capital.forwarded_messages t), \
               (SELECT md5(string_agg(concat_ws('|', channel_id, label, channel_type, status), '' \
                  ORDER BY channel_id)) FROM tp_capital.telegram_channels))",
        )
        .await;
        c.close().await.ok();
        d
    };
    assert_eq!(
        digest(restored.url.clone()).await,
        digest(legacy.url().to_owned()).await,
        "the backup restores the legacy rows exactly"
    );

    // A second run adds nothing.
    let after_import = snapshot(&mut t).await;
    let out = run(migrate(&target.url, &work.0).args(import_args(legacy.url(), &work.0, &[])));
    assert!(out.status.success(), "second run failed");
    let second = import_id(&out.stdout);
    assert_ne!(second, id);
    let r2 = report(&work.0, second);
    assert_eq!(r2["tables"][0]["inserted"], 0);
    assert_eq!(r2["tables"][1]["inserted"], 0);
    assert_eq!(r2["tables"][0]["already_present"], inserted);
    assert_eq!(r2["validation"]["ok"], true);
    assert_eq!(r2["tables"][0]["skipped"], skipped);
    assert_eq!(
        snapshot(&mut t).await,
        after_import,
        "the second run changed data"
    );
    assert_eq!(
        std::fs::read_dir(work.join("backup"))
            .expect("backups")
            .count(),
        1,
        "the second run kept the first backup"
    );
    assert_eq!(
        int(
            &mut t,
            &format!(
                "SELECT count(*) FROM legacy_import.skipped_rows WHERE import_id = '{second}'"
            )
        )
        .await,
        0,
        "the second run recorded no second copy of the skipped rows"
    );

    // The service touched an imported signal; the rollback removes that too, and nothing else.
    t.execute(AssertSqlSafe(format!(
        "INSERT INTO signals.status_events (signal_id, status, target_index, at, reason) \
           SELECT id, 'target_hit', 1, now(), 'price update' FROM signals.signals WHERE legacy_id = {0}; \
         INSERT INTO signals.signal_revisions (signal_id, revision, asset, direction, raw_message, parser_version, recorded_at) \
           SELECT id, 1, asset, direction, raw_message, parser_version, now() FROM signals.signals WHERE legacy_id = {0}",
        legacy_uuid(155)
    )))
    .await
    .expect("service writes");
    let rollback = |import: uuid::Uuid| {
        run(migrate(&target.url, &work.0).args([
            "rollback-import",
            "--import-id",
            &import.to_string(),
        ]))
    };
    let out = rollback(id);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!(
        "removed {inserted} signals, 1 revisions, 1 status events"
    )));
    assert_eq!(
        snapshot(&mut t).await,
        before,
        "the rollback left a difference"
    );
    let out = rollback(id);
    assert!(out.status.success(), "a second rollback is a no-op");
    assert!(String::from_utf8_lossy(&out.stdout).contains("already rolled back"));
    assert_eq!(snapshot(&mut t).await, before);
    let out = rollback(second);
    assert!(out.status.success());
    assert_eq!(snapshot(&mut t).await, before);
    let unknown = run(migrate(&target.url, &work.0).args([
        "rollback-import",
        "--import-id",
        &uuid::Uuid::new_v4().to_string(),
    ]));
    assert_eq!(unknown.status.code(), Some(1));

    assert_eq!(
        legacy_digest(legacy.url()).await,
        legacy_before,
        "the legacy tables changed"
    );
    t.close().await.ok();
}
