//! The legacy dedicated stack's own shape, end to end through the binary: `signals.tp_capital_signals`
//! (SERIAL id, `ts BIGINT` epoch milliseconds, DECIMAL(12,2) prices, a 1-day hypertable) and
//! `forwarded_messages.messages`, found without `--schema`; every legacy row accounted for
//! (source = imported + skipped, per day and per channel); a B3SA3 call, an `Opções` call, the
//! "Desconhecido" channel and the sync worker's checkpoint row; a re-run that writes no second
//! backup nor a second copy of the skipped rows; deliberately wrong skips caught; ids read
//! through a text view still map, ids that map to nothing are a NO-GO.

mod legacy_support;

use legacy_import::{UNKNOWN_CHANNEL_ID, UNKNOWN_CHANNEL_LABEL, synthetic_channel_id};
use legacy_support::{
    LegacyDb, WorkDir, fresh_target, import_args, import_id, int, migrate, report, run, text,
};
use sea_orm::sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

const ROWS: u32 = 20_000;
const MESSAGES: u32 = 2_000;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The import that failed validation, and its report.
async fn failed_report(t: &mut PgConnection, work: &WorkDir) -> serde_json::Value {
    let failed = text(
        t,
        "SELECT import_id::text FROM legacy_import.runs WHERE state = 'failed'",
    )
    .await;
    report(&work.0, failed.parse().expect("uuid"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_import_takes_the_dedicated_stacks_shape() {
    let test = "legacy_import_dedicated";
    let Some(target) = fresh_target(test).await else {
        return;
    };
    let Some(legacy) = LegacyDb::create_dedicated(test, ROWS, MESSAGES).await else {
        return;
    };
    let work = WorkDir::new(test);
    let import = |extra: &[&str]| {
        run(migrate(&target.url, &work.0).args(import_args(legacy.url(), &work.0, extra)))
    };

    // Pre-flight names the shape, maps a sample of the integer ids and sizes the hypertable
    // by its chunks.
    let out = import(&["--dry-run"]);
    let s = stdout(&out);
    assert!(out.status.success(), "{s}");
    assert!(s.contains("dedicated stack (integer ids)"), "{s}");
    assert!(s.contains("signals.tp_capital_signals (table)"), "{s}");
    assert!(s.contains("forwarded_messages.messages (table)"), "{s}");
    assert!(s.contains("[GO   ] legacy ids map"), "{s}");
    assert!(s.contains("1000 of 1000 sampled ids (integer) map"), "{s}");
    let space = s
        .lines()
        .find(|l| l.contains("backup space"))
        .expect("backup space line");
    assert!(!space.contains("take 0.0 MiB"), "{space}");

    // The import: every legacy row imported or skipped with its reason.
    let out = run(migrate(&target.url, &work.0)
        .env("RUST_LOG", "info")
        .args(import_args(legacy.url(), &work.0, &[])));
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("import started"));
    assert!(
        !out.stderr.contains(&0x1b),
        "colour codes in a log that is not a terminal"
    );
    let id = import_id(&out.stdout);
    let r = report(&work.0, id);
    assert!(
        r["shape"]
            .as_str()
            .expect("shape")
            .starts_with("dedicated stack (integer ids)")
    );
    assert_eq!(r["validation"]["ok"], true);
    let v = &r["validation"]["signals"];
    let skipped = v["skipped_rows"].as_i64().expect("skipped");
    assert_eq!(v["source_rows"], i64::from(ROWS) + 1);
    assert_eq!(
        v["target_rows"].as_i64().expect("target") + skipped,
        i64::from(ROWS) + 1
    );
    assert_eq!(v["mismatched_buckets"], 0);
    let days = v["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .filter(|b| b["dimension"] == "day")
        .count();
    assert!(days >= 90, "{days} day buckets");
    let reasons: Vec<(String, i64)> = r["skipped_by_reason"]
        .as_array()
        .expect("reasons")
        .iter()
        .map(|s| {
            (
                s["reason"].as_str().unwrap_or("").to_owned(),
                s["rows"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    for reason in [
        "legacy_checkpoint",
        "invalid_call",
        "price_not_positive",
        "asset_not_ticker",
    ] {
        assert!(
            reasons.iter().any(|(r, n)| r == reason && *n > 0),
            "{reason}: {reasons:?}"
        );
    }
    assert_eq!(reasons.iter().map(|(_, n)| n).sum::<i64>(), skipped);

    let mut t = target.connect().await.expect("target");
    let mut l = PgConnection::connect(legacy.url()).await.expect("legacy");
    // Integer ids map to md5('tp_capital_signals/' || id): the same on every run.
    assert_eq!(
        int(&mut t, "SELECT count(*) FROM signals.signals WHERE legacy_id = md5('tp_capital_signals/1')::uuid").await,
        1
    );
    // Times to the millisecond from epoch ms, 2-decimal prices exact.
    assert_eq!(
        text(&mut t, "SELECT concat_ws(' ', (extract(epoch FROM message_date) * 1000)::bigint, entry_min, entry_max, stop) FROM signals.signals WHERE legacy_id = md5('tp_capital_signals/3')::uuid").await,
        format!("{} 0.130000 0.150000 0.080000", int(&mut l, "SELECT ts FROM signals.tp_capital_signals WHERE id = 3").await)
    );
    // B3SA3 (the ticker root holds a digit), imported.
    let b3sa3 = int(&mut l, "SELECT count(*) FROM signals.tp_capital_signals WHERE asset = 'B3SA3' AND id % 997 <> 0 AND id % 1009 <> 0").await;
    assert!(b3sa3 > 0);
    assert_eq!(
        int(
            &mut t,
            "SELECT count(*) FROM signals.signals WHERE asset = 'B3SA3'"
        )
        .await,
        b3sa3
    );
    // Opções: no kind (no horizon), the label kept in the warnings.
    assert_eq!(
        int(&mut t, "SELECT count(*) FROM signals.signals WHERE warnings::text LIKE '%''Opções'' = options%' AND kind IS NULL").await,
        int(&mut t, "SELECT count(*) FROM signals.signals WHERE raw_message LIKE '%' AND legacy_id IN (SELECT legacy_id FROM signals.signals) AND warnings::text LIKE '%Opções%'").await
    );
    assert!(
        int(
            &mut t,
            "SELECT count(*) FROM signals.signals WHERE warnings::text LIKE '%Opções%'"
        )
        .await
            > 4_000
    );
    // "Desconhecido" is the explicit unknown channel; no channel for the checkpoint row.
    assert!(
        int(
            &mut t,
            &format!(
                "SELECT count(*) FROM signals.signals WHERE channel_id = {UNKNOWN_CHANNEL_ID}"
            )
        )
        .await
            > 900
    );
    assert_eq!(
        text(
            &mut t,
            &format!("SELECT label FROM signals.channels WHERE channel_id = {UNKNOWN_CHANNEL_ID}")
        )
        .await,
        UNKNOWN_CHANNEL_LABEL
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
        0
    );
    // Nine titles (synthetic ids) and the unknown channel get a row; numeric ids need none.
    assert_eq!(
        int(&mut t, "SELECT count(*) FROM signals.channels").await,
        10
    );
    // The archive: text channel ids, photo ids, forwarded_at as the receive time.
    assert_eq!(
        int(
            &mut t,
            &format!("SELECT count(*) FROM forwarded_messages.messages WHERE import_id = '{id}'")
        )
        .await,
        i64::from(MESSAGES)
    );
    assert_eq!(
        int(&mut t, "SELECT count(*) FROM forwarded_messages.messages WHERE media_type = 'photo' AND metadata ? 'legacy_photos'").await,
        i64::from(MESSAGES / 5)
    );

    // A second run adds nothing, keeps the first backup, records no second copy of skips.
    let out = import(&[]);
    assert!(out.status.success(), "{}", stdout(&out));
    let second = import_id(&out.stdout);
    let r2 = report(&work.0, second);
    assert_eq!(r2["tables"][0]["inserted"], 0);
    assert_eq!(r2["tables"][1]["inserted"], 0);
    assert_eq!(r2["validation"]["ok"], true);
    assert_eq!(
        std::fs::read_dir(work.join("backup"))
            .expect("backups")
            .count(),
        1
    );
    assert_eq!(
        int(
            &mut t,
            &format!(
                "SELECT count(*) FROM legacy_import.skipped_rows WHERE import_id = '{second}'"
            )
        )
        .await,
        0
    );

    // A skip recorded with the wrong reason: the counts still reconcile, the re-derivation
    // of every recorded skip does not.
    t.execute(AssertSqlSafe(format!(
        "UPDATE legacy_import.skipped_rows SET reason_code = 'asset_not_ticker' \
         WHERE import_id = '{id}' AND reason_code = 'legacy_checkpoint'"
    )))
    .await
    .expect("tamper");
    let out = import(&[]);
    assert_eq!(out.status.code(), Some(4), "{}", stdout(&out));
    let rf = failed_report(&mut t, &work).await;
    assert_eq!(rf["validation"]["signals"]["mismatched_buckets"], 0);
    assert_eq!(rf["validation"]["signal_skips"]["wrong"], 1);
    let m = rf["validation"]["signal_skips"]["mismatches"][0]
        .as_str()
        .expect("mismatch")
        .to_owned();
    assert!(
        m.contains("recorded as skipped (asset_not_ticker), but its reason is legacy_checkpoint"),
        "{m}"
    );
    t.execute(AssertSqlSafe(format!(
        "UPDATE legacy_import.skipped_rows SET reason_code = 'legacy_checkpoint' \
         WHERE import_id = '{id}' AND reason_code = 'asset_not_ticker' AND detail LIKE '%__checkpoint__%'"
    )))
    .await
    .expect("repair");
    let out = import(&[]);
    assert!(out.status.success(), "{}", stdout(&out));

    // A valid signal recorded as skipped (the old root rule: "B3SA3 is not a B3 ticker") and
    // absent from the target: caught.
    let k = int(
        &mut l,
        "SELECT min(id)::bigint FROM signals.tp_capital_signals WHERE asset = 'B3SA3'",
    )
    .await;
    t.execute(AssertSqlSafe(format!(
        "DELETE FROM signals.signals WHERE legacy_id = md5('tp_capital_signals/{k}')::uuid; \
         INSERT INTO legacy_import.skipped_rows (import_id, legacy_table, legacy_key, reason_code, detail) \
         VALUES ('{id}', 'tp_capital_signals', '{k}', 'asset_not_ticker', 'asset ''B3SA3'' is not a B3 ticker')"
    )))
    .await
    .expect("wrong skip");
    // (The re-run imports the row again, so its buckets no longer reconcile either.)
    let out = import(&[]);
    assert_eq!(out.status.code(), Some(4), "{}", stdout(&out));
    let rf = failed_report(&mut t, &work).await;
    assert_eq!(rf["validation"]["signal_skips"]["wrong"], 1);
    let m = rf["validation"]["signal_skips"]["mismatches"][0]
        .as_str()
        .expect("mismatch")
        .to_owned();
    assert!(
        m.contains(&format!(
            "tp_capital_signals {k}: recorded as skipped (asset_not_ticker), but it maps"
        )),
        "{m}"
    );

    // Ids read through a view as text still map; ids that map to nothing are a NO-GO.
    l.execute(
        "CREATE SCHEMA textids; CREATE VIEW textids.tp_capital_signals AS \
           SELECT id::text AS id, channel, signal_type, asset, buy_min, buy_max, target_1, target_2, \
                  target_final, stop, raw_message, source, ingested_at, ts, created_at, updated_at \
           FROM signals.tp_capital_signals; \
         CREATE SCHEMA junkids; CREATE VIEW junkids.tp_capital_signals AS \
           SELECT 'row-' || id AS id, channel, signal_type, asset, buy_min, buy_max, target_1, target_2, \
                  target_final, stop, raw_message, source, ingested_at, ts, created_at, updated_at \
           FROM signals.tp_capital_signals",
    )
    .await
    .expect("views");
    let out = import(&["--schema", "textids", "--dry-run"]);
    let s = stdout(&out);
    assert!(out.status.success(), "{s}");
    assert!(s.contains("1000 of 1000 sampled ids (text) map"), "{s}");
    let maps: i64 = s
        .lines()
        .find_map(|l| l.trim().strip_prefix("signals that map:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("signals that map");
    assert!(maps > i64::from(ROWS) - 200, "{maps}");
    let out = import(&["--schema", "junkids", "--dry-run"]);
    let s = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "{s}");
    assert!(
        s.contains("[NO-GO] legacy ids map") && s.contains("nothing would be imported"),
        "{s}"
    );
    l.close().await.ok();

    // A role that may log in but not read the legacy tables: stopped before writing, exit 3.
    let admin = test_support::stack::env_or_skip("TP_PG_SUPERUSER_URL", test).expect("admin");
    let role = format!("legacy_nobody_{}", uuid::Uuid::new_v4().simple());
    let mut a = PgConnection::connect(&admin).await.expect("admin");
    a.execute(AssertSqlSafe(format!(
        "CREATE ROLE {role} LOGIN PASSWORD 'nobody'"
    )))
    .await
    .expect("role");
    let db = legacy
        .url()
        .rsplit('/')
        .next()
        .and_then(|d| d.split('?').next())
        .expect("database")
        .to_owned();
    let nobody = format!("postgres://{role}:nobody@{}/{db}", host_of(legacy.url()));
    let out =
        run(migrate(&target.url, &work.0).args(import_args(&nobody, &work.0, &["--dry-run"])));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    a.execute(AssertSqlSafe(format!("DROP ROLE {role}")))
        .await
        .expect("drop role");
    a.close().await.ok();
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("NO-GO") && err.contains("permission denied"),
        "{err}"
    );
    t.close().await.ok();
}

/// `host:port` of a URL.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}
