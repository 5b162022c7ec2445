//! One behaviour on every edition: the same scripted history (late deliveries 10 and 40 days
//! back, an operator delete, a re-parse, retention deletes, an expiry) gives identical statistics
//! and channel summaries — what `/signals/stats` and `/channels` serve — on plain PostgreSQL and
//! on the TimescaleDB server, each equal to a direct SQL count at every step, with no refresh
//! between a write and the read.

mod common;

use std::time::Duration as StdDuration;

use adapters_postgres::{PgStore, PoolOptions, Retention};
use chrono::{DateTime, Duration, DurationRound, NaiveDate, TimeDelta, Utc};
use common::*;
use domain::model::{ChannelId, Direction, EntryRange, SignalId, TradeCall};
use domain::ports::{
    ArchiveEntry, ChannelDirectory, ChannelSummary, MessageArchive, MessageClass, MessageQuery,
    Reclassification, SignalQueries, SignalStatistics, SignalStats, SignalStore, StatsQuery,
};
use sea_orm::{Database, DatabaseConnection, Value};
use test_support::db::{FreshDb, LOCK_TIMEOUT, can_create_databases};

const DAY: u64 = 24 * 3600;

/// A fresh, migrated database on the TimescaleDB server and one on plain PostgreSQL.
async fn both_editions(test: &str) -> Option<(FreshDb, FreshDb)> {
    let app = env_or_skip("TP_CAPITAL_MIGRATE_DATABASE_URL", test)?;
    let admin = env_or_skip("TP_PG_SUPERUSER_URL", test)?;
    let plain = env_or_skip("TP_CAPITAL_PLAIN_PG_URL", test)?;
    let plain_admin = match std::env::var("TP_PLAIN_PG_SUPERUSER_URL") {
        Ok(a) if !a.is_empty() => a,
        _ if can_create_databases(&plain).await => plain.clone(),
        _ => {
            eprintln!("skipped: no role may create a database on plain PostgreSQL ({test})");
            return None;
        }
    };
    let timescale = FreshDb::create(&app, &admin, true)
        .await
        .expect("timescale db");
    let plain = FreshDb::create(&plain, &plain_admin, false)
        .await
        .expect("plain db");
    for db in [&timescale, &plain] {
        migrations::up(&db.url, None, LOCK_TIMEOUT)
            .await
            .expect("migrate");
    }
    Some((timescale, plain))
}

fn short_call(asset: &str) -> TradeCall {
    TradeCall::new(
        ticker(asset),
        None,
        Direction::Short,
        Some(EntryRange::new(price("20.10"), price("20.50"))),
        vec![price("19.00")],
        Some(price("18.00")),
        Some(price("21.30")),
        NaiveDate::from_ymd_opt(2025, 10, 28),
        Vec::new(),
    )
    .expect("valid call")
}

/// Archives message `id` (outcome `signal`) and inserts its signal; returns the signal id.
async fn deliver(
    store: &PgStore,
    ch: ChannelId,
    id: i64,
    date: DateTime<Utc>,
    call: TradeCall,
) -> SignalId {
    let m = message(ch, id, date, &format!("Ativo: {}", call.asset));
    let mut tx = store.begin().await.expect("begin");
    tx.archive(&[ArchiveEntry {
        message: &m,
        outcome: "signal",
        reason: None,
        parser_version: "t",
    }])
    .await
    .expect("archive");
    let ids = tx
        .insert_signals(&[new_signal(ch, id, date, call)])
        .await
        .expect("insert");
    tx.commit().await.expect("commit");
    ids[0]
}

/// Stats and the channel's summary, after checking both against direct SQL counts.
async fn observe(
    store: &PgStore,
    raw: &DatabaseConnection,
    ch: ChannelId,
    from: DateTime<Utc>,
) -> (SignalStats, ChannelSummary) {
    let stats = store
        .signal_stats(&StatsQuery {
            from: Some(from),
            to: None,
            channel: Some(ch),
            asset: None,
            top_assets: 10,
        })
        .await
        .expect("stats");
    let in_window = scalar(
        raw,
        "SELECT count(*) FROM signals.signals WHERE channel_id = $1 AND deleted_at IS NULL \
         AND message_date >= date_trunc('hour', $2::timestamptz)",
        vec![ch.0.into(), from.into()],
    )
    .await;
    assert_eq!(stats.total as i64, in_window, "stats total = SQL count");
    for a in &stats.by_asset {
        let (n, upside) = (
            scalar(
                raw,
                "SELECT count(*) FROM signals.signals WHERE channel_id = $1 AND asset = $2 \
                 AND deleted_at IS NULL AND message_date >= date_trunc('hour', $3::timestamptz)",
                vec![ch.0.into(), a.asset.as_str().into(), from.into()],
            )
            .await,
            scalar(
                raw,
                "SELECT round(1e6 * avg(CASE WHEN direction = 'long' \
                   THEN (target_final - entry_max) / NULLIF(entry_max, 0) \
                   ELSE (entry_min - target_final) / NULLIF(entry_min, 0) END) * 100)::bigint \
                 FROM signals.signals WHERE channel_id = $1 AND asset = $2 \
                 AND deleted_at IS NULL AND message_date >= date_trunc('hour', $3::timestamptz)",
                vec![ch.0.into(), a.asset.as_str().into(), from.into()],
            )
            .await,
        );
        assert_eq!(a.stats.signal_count as i64, n, "{}", a.asset);
        let newest = scalar(
            raw,
            "SELECT COALESCE((extract(epoch FROM max(message_date)) * 1e6)::bigint, -1) \
             FROM signals.signals WHERE channel_id = $1 AND asset = $2 \
             AND deleted_at IS NULL AND message_date >= date_trunc('hour', $3::timestamptz)",
            vec![ch.0.into(), a.asset.as_str().into(), from.into()],
        )
        .await;
        assert_eq!(micros(a.stats.last_signal_at), newest, "{} newest", a.asset);
        let got = (a.stats.avg_upside_pct.expect("upside") * 1e6).round() as i64;
        assert_eq!(got, upside, "{} upside", a.asset);
    }
    let summary = store
        .list_channels()
        .await
        .expect("channels")
        .into_iter()
        .find(|c| c.channel_id == ch)
        .expect("listed");
    let live = |extra: &str| {
        format!(
            "SELECT count(*) FROM signals.signals WHERE channel_id = $1 AND deleted_at IS NULL{extra}"
        )
    };
    assert_eq!(
        summary.signal_count as i64,
        scalar(raw, &live(""), vec![ch.0.into()]).await,
        "channel signal count = SQL count"
    );
    let newest_signal = "SELECT COALESCE((extract(epoch FROM max(message_date)) * 1e6)::bigint, -1) \
        FROM signals.signals WHERE channel_id = $1 AND deleted_at IS NULL";
    let newest_message = "SELECT COALESCE((extract(epoch FROM max(message_date)) * 1e6)::bigint, -1) \
        FROM forwarded_messages.messages WHERE channel_id = $1";
    let in_stats = stats.by_channel.iter().find(|c| c.channel_id == ch);
    assert_eq!(
        micros(summary.last_signal_at),
        scalar(raw, newest_signal, vec![ch.0.into()]).await,
        "channel newest signal = SQL max"
    );
    assert_eq!(
        micros(in_stats.and_then(|c| c.stats.last_signal_at)),
        scalar(
            raw,
            &format!("{newest_signal} AND message_date >= date_trunc('hour', $2::timestamptz)"),
            vec![ch.0.into(), from.into()]
        )
        .await,
        "stats newest signal = SQL max"
    );
    assert_eq!(
        micros(summary.last_message_at),
        scalar(raw, newest_message, vec![ch.0.into()]).await,
        "channel newest message = SQL max"
    );
    for (outcome, n) in [
        ("signal", summary.messages.signal),
        ("update", summary.messages.update),
        ("ignored", summary.messages.ignored),
        ("rejected", summary.messages.rejected),
    ] {
        let sql = "SELECT count(*) FROM forwarded_messages.messages WHERE channel_id = $1 AND outcome = $2";
        let want = scalar(raw, sql, vec![ch.0.into(), Value::from(outcome)]).await;
        assert_eq!(n as i64, want, "{outcome} messages = SQL count");
    }
    (stats, summary)
}

/// A time as microseconds since the epoch, -1 for none (what the SQL checks return).
fn micros(t: Option<DateTime<Utc>>) -> i64 {
    t.map_or(-1, |t| t.timestamp_micros())
}

/// The scripted history on one database; the observations after each step.
async fn scenario(url: &str, now: DateTime<Utc>) -> Vec<(SignalStats, ChannelSummary)> {
    let store = PgStore::connect(url, PoolOptions::default())
        .await
        .expect("connect");
    let raw = Database::connect(url).await.expect("raw");
    let ch = ChannelId(-1_001_234_567_890);
    let from = now - Duration::days(60);
    let mut seen = Vec::new();

    deliver(&store, ch, 1, now - Duration::hours(1), long_call("PETR4")).await;
    deliver(&store, ch, 2, now - Duration::hours(2), short_call("VALE3")).await;
    let doomed = deliver(&store, ch, 3, now - Duration::hours(3), long_call("PETR4")).await;
    let reparsed = deliver(&store, ch, 4, now - Duration::hours(4), long_call("BOVA11")).await;
    deliver(&store, ch, 5, now - Duration::days(400), long_call("PETR4")).await;
    seen.push(observe(&store, &raw, ch, from).await);

    // Late deliveries (a gateway catch-up), read back at once.
    deliver(&store, ch, 6, now - Duration::days(10), long_call("ITUB4")).await;
    deliver(&store, ch, 7, now - Duration::days(40), short_call("VALE3")).await;
    seen.push(observe(&store, &raw, ch, from).await);

    // An operator delete and a re-parse that changes the asset and the direction; the newest
    // signal (dated ahead) deleted before its delta is folded: its hour still counts one.
    store.soft_delete(doomed, now).await.expect("delete");
    let ahead = deliver(&store, ch, 9, now + Duration::hours(2), long_call("PETR4")).await;
    seen.push(observe(&store, &raw, ch, from).await);
    store.soft_delete(ahead, now).await.expect("delete");
    let mut tx = store.begin().await.expect("begin");
    let mut revision = new_signal(ch, 4, now - Duration::hours(4), short_call("WEGE3"));
    revision.revision = 2;
    tx.revise_signal(reparsed, &revision)
        .await
        .expect("re-parse");
    tx.commit().await.expect("commit");
    let rejected = store
        .list_messages(&MessageQuery {
            limit: 10,
            channel: Some(ch),
            ..MessageQuery::default()
        })
        .await
        .expect("messages")
        .rows
        .into_iter()
        .find(|m| m.message.message_id.0 == 2)
        .expect("message 2");
    store
        .reclassify(&[Reclassification {
            id: rejected.id,
            message_date: rejected.message.date,
            outcome: MessageClass::Rejected,
            reason: Some("re-parsed".into()),
            parser_version: "t2".into(),
        }])
        .await
        .expect("reclassify");
    seen.push(observe(&store, &raw, ch, from).await);

    // Retention deletes: messages older than 30 days, signals older than a year.
    let report = store
        .maintenance(
            &Retention {
                messages: Some(StdDuration::from_secs(30 * DAY)),
                processing_stats: Some(StdDuration::from_secs(30 * DAY)),
                signals: Some(StdDuration::from_secs(365 * DAY)),
            },
            now,
        )
        .await
        .expect("maintenance");
    assert!(!report.skipped);
    seen.push(observe(&store, &raw, ch, from).await);

    // After the fold: one more late delivery is a pending delta on top of the rollup.
    deliver(&store, ch, 8, now - Duration::days(10), long_call("ITUB4")).await;
    seen.push(observe(&store, &raw, ch, from).await);
    store.close().await;
    seen
}

/// One test over one pair of databases (creating databases is slow and stalls the server for
/// the other tests): the scripted scenario, then retention at 0, 30 and 10 days.
#[tokio::test]
async fn stats_channels_and_retention_are_exact_and_identical_on_every_edition() {
    let Some((timescale, plain)) = both_editions("every_edition").await else {
        return;
    };
    stats_and_channels_are_exact_and_identical(&timescale, &plain).await;
    retention_follows_the_configured_days(&timescale, &plain).await;
}

async fn stats_and_channels_are_exact_and_identical(timescale: &FreshDb, plain: &FreshDb) {
    let now = Utc::now()
        .duration_trunc(TimeDelta::microseconds(1))
        .expect("trunc");
    let on_timescale = scenario(&timescale.url, now).await;
    let on_plain = scenario(&plain.url, now).await;
    assert_eq!(on_timescale.len(), on_plain.len());
    for (step, (t, p)) in on_timescale.iter().zip(&on_plain).enumerate() {
        assert_eq!(t, p, "step {step}: TimescaleDB and plain PostgreSQL differ");
    }
    let totals: Vec<u64> = on_plain.iter().map(|(s, _)| s.total).collect();
    // 4 recent; +2 late; -1 deleted +1 ahead; -1 ahead deleted; the 400-day-old one was never
    // in the window; +1 late.
    assert_eq!(totals, [4, 6, 6, 5, 5, 6]);
    let channel: Vec<u64> = on_plain.iter().map(|(_, c)| c.signal_count).collect();
    // The 400-day-old signal counts until the one-year retention deletes it.
    assert_eq!(channel, [5, 7, 7, 6, 5, 6]);
    let messages: Vec<(u64, u64)> = on_plain
        .iter()
        .map(|(_, c)| (c.messages.signal, c.messages.rejected))
        .collect();
    // The message ahead stays when its signal is deleted; re-parse moves one message to
    // rejected; retention drops those 40 and 400 days old.
    assert_eq!(messages, [(5, 0), (7, 0), (8, 0), (7, 1), (5, 1), (6, 1)]);
}

/// Messages and signals of `ch` left after a maintenance run keeping `days` (0 = keep).
async fn keep(store: &PgStore, raw: &DatabaseConnection, ch: ChannelId, days: u64) -> (i64, i64) {
    let keep = (days > 0).then(|| StdDuration::from_secs(days * DAY));
    let report = store
        .maintenance(
            &Retention {
                messages: keep,
                processing_stats: keep,
                signals: keep,
            },
            Utc::now(),
        )
        .await
        .expect("maintenance");
    assert!(!report.skipped);
    let applied = scalar(
        raw,
        "SELECT (message_retention_days * 1000 + signal_retention_days)::bigint FROM metrics.retention_applied",
        vec![],
    )
    .await;
    assert_eq!(
        applied,
        days as i64 * 1001,
        "recorded for tp-capital-migrate status"
    );
    let summary = store
        .list_channels()
        .await
        .expect("channels")
        .into_iter()
        .find(|c| c.channel_id == ch);
    let (messages, signals) = (
        scalar(
            raw,
            "SELECT count(*) FROM forwarded_messages.messages WHERE channel_id = $1",
            vec![ch.0.into()],
        )
        .await,
        scalar(
            raw,
            "SELECT count(*) FROM signals.signals WHERE channel_id = $1",
            vec![ch.0.into()],
        )
        .await,
    );
    let listed = summary.map_or((0, 0), |c| {
        (c.messages.signal as i64, c.signal_count as i64)
    });
    assert_eq!(
        listed,
        (messages, signals),
        "/channels equals the SQL count"
    );
    (messages, signals)
}

async fn retention_follows_the_configured_days(timescale: &FreshDb, plain: &FreshDb) {
    for db in [timescale, plain] {
        let store = PgStore::connect(&db.url, PoolOptions::default())
            .await
            .expect("connect");
        let raw = Database::connect(db.url.as_str()).await.expect("raw");
        let ch = ChannelId(-1_001_234_567_891);
        let now = Utc::now();
        for (id, days) in [(1, 5), (2, 15), (3, 45)] {
            deliver(
                &store,
                ch,
                id,
                now - Duration::days(days),
                long_call("PETR4"),
            )
            .await;
        }
        // 0 keeps everything; 30 drops the 45-day-old rows; 10 the 15-day-old ones too.
        assert_eq!(keep(&store, &raw, ch, 0).await, (3, 3), "{}", db.url);
        assert_eq!(keep(&store, &raw, ch, 30).await, (2, 2), "{}", db.url);
        assert_eq!(keep(&store, &raw, ch, 10).await, (1, 1), "{}", db.url);
        store.close().await;
    }
}
