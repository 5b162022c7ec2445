//! The store as the services use it: the ingest use case end to end over PgStore, the
//! `Unavailable` answer of an unreachable database, and maintenance in both modes (each on a
//! database of its own, so retention never touches the shared one).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use adapters_postgres::{AggregateMode, PgStore, PoolOptions, Removed, Retention, RetentionMode};
use chrono::{DurationRound, TimeZone, Utc};
use common::*;
use domain::memory::{MemoryCache, MemoryEvents};
use domain::model::{MessageId, SignalKind};
use domain::ports::{
    ArchiveEntry, SignalQueries, SignalQuery, SignalStore, StoreError, SystemClock,
};
use domain::services::{Disposition, IngestService};
use sea_orm::sqlx::Executor;
use test_support::db::{FreshDb, LOCK_TIMEOUT, can_create_databases};

const CANONICAL: &str = "🟢Swing Trade \n \nAtivo: BOVAW32\nCompra: 1,04 a 1,06\nAlvo 1: 1,15\nAlvo 2: 2,15\nAlvo final: 3,50\n\nStop: 0,70\n\nA ordem ficará posicionada no Book até dia 28/10";

#[tokio::test]
async fn ingest_service_stores_the_canonical_message_once() {
    let Some(store) = store("ingest_service_end_to_end").await else {
        return;
    };
    let store = Arc::new(store);
    let events = Arc::new(MemoryEvents::new());
    let service = IngestService::new(
        store.clone(),
        events.clone(),
        Arc::new(MemoryCache::new()),
        Arc::new(SystemClock),
    );
    let ch = unique_channel();
    let date = Utc
        .with_ymd_and_hms(2025, 10, 20, 13, 5, 0)
        .single()
        .expect("date");
    let msg = message(ch, 4242, date, CANONICAL);

    let first = service
        .ingest(std::slice::from_ref(&msg), None)
        .await
        .expect("ingest");
    let receipt = &first.receipts[0];
    assert_eq!(receipt.outcome, Disposition::Signal);
    assert!(receipt.stored);
    let id = receipt.signal_id.expect("a signal id");
    assert_eq!(events.published().len(), 1);

    for _ in 0..2 {
        let again = service
            .ingest(std::slice::from_ref(&msg), None)
            .await
            .expect("again");
        assert_eq!(again.receipts[0].outcome, Disposition::Duplicate);
        assert!(!again.receipts[0].stored);
    }

    let page = store
        .list_signals(&SignalQuery {
            limit: 10,
            channel: Some(ch.0.to_string()),
            ..SignalQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(
        page.rows.len(),
        1,
        "a message stored three times is one signal"
    );
    let row = &page.rows[0];
    assert_eq!(row.signal.id, id);
    assert_eq!(row.kind, SignalKind::SwingTrade);
    let call = &row.signal.call;
    assert_eq!(call.asset, ticker("BOVAW32"));
    let entry = call.entry.expect("entry");
    assert_eq!((entry.min(), entry.max()), (price("1.04"), price("1.06")));
    assert_eq!(call.targets, [price("1.15"), price("2.15")]);
    assert_eq!(call.target_final, Some(price("3.5")));
    assert_eq!(call.stop, Some(price("0.7")));
    assert_eq!(
        call.valid_until.map(|d| d.to_string()).as_deref(),
        Some("2025-10-28")
    );
    assert_eq!(row.signal.raw_message, CANONICAL);

    let db = raw().await;
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM forwarded_messages.messages WHERE channel_id = $1 AND outcome = 'signal'",
            vec![ch.0.into()]
        )
        .await,
        1,
        "one archived delivery"
    );

    // An edit makes revision 2 and keeps the first in the history.
    let mut edit = msg.clone();
    edit.edit_date = Some(date + chrono::Duration::minutes(2));
    edit.text = CANONICAL.replace("Stop: 0,70", "Stop: 0,80");
    let edited = service.ingest(&[edit], None).await.expect("edit");
    assert_eq!(edited.receipts[0].outcome, Disposition::Edited);
    let detail = store.signal_detail(id).await.expect("detail");
    assert_eq!(detail.row.signal.revision, 2);
    assert_eq!(detail.row.signal.call.stop, Some(price("0.8")));
    assert_eq!(detail.revisions.len(), 1);
    assert_eq!(detail.revisions[0].call.stop, Some(price("0.7")));

    // An update message closes it.
    let update = message(
        ch,
        4243,
        date + chrono::Duration::hours(1),
        "BOVAW32 Alvo 1 atingido",
    );
    let upd = service.ingest(&[update], None).await.expect("update");
    assert_eq!(upd.receipts[0].outcome, Disposition::Update);
    assert_eq!(upd.receipts[0].signal_id, Some(id));
    let detail = store.signal_detail(id).await.expect("detail");
    assert_eq!(detail.status_history.len(), 1);

    // Deletions cancel, never remove.
    let deleted = service
        .delete(ch, &[MessageId(4242)], None)
        .await
        .expect("delete");
    assert_eq!(deleted.cancelled, [id]);
    assert_eq!(
        store
            .signal_detail(id)
            .await
            .expect("kept")
            .row
            .signal
            .status,
        domain::model::SignalStatus::Cancelled
    );
}

#[tokio::test]
async fn an_unreachable_database_answers_unavailable_fast() {
    let opts = PoolOptions {
        connect_timeout: Duration::from_secs(2),
        acquire_timeout: Duration::from_secs(2),
        ..PoolOptions::default()
    };
    // A closed port on loopback, and a routable address nobody answers on (a black hole).
    for url in [
        "postgres://tp:pw@127.0.0.1:1/tp_capital_db",
        "postgres://tp:pw@10.255.255.1:5432/tp_capital_db",
    ] {
        let store = PgStore::connect(url, opts.clone())
            .await
            .expect("connect is lazy");
        let started = Instant::now();
        assert!(
            matches!(store.ping().await, Err(StoreError::Unavailable(_))),
            "{url}"
        );
        assert!(matches!(
            store.begin().await.err(),
            Some(StoreError::Unavailable(_))
        ));
        assert!(matches!(
            store
                .list_signals(&SignalQuery {
                    limit: 1,
                    ..SignalQuery::default()
                })
                .await,
            Err(StoreError::Unavailable(_))
        ));
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{url}: {:?}",
            started.elapsed()
        );
        assert_eq!(store.pool_stats().size, 0);
    }
    assert!(matches!(
        PgStore::connect("mysql://nope", opts).await,
        Err(StoreError::Internal(_))
    ));
}

#[tokio::test]
async fn pool_gauges_follow_use() {
    let Some(store) = store("pool_gauges").await else {
        return;
    };
    store.ping().await.expect("ping");
    let tx = store.begin().await.expect("begin");
    let stats = store.pool_stats();
    assert!(stats.size >= 1);
    assert!(stats.idle < stats.size, "{stats:?}");
    // The transactions' pool and the single-statement reads' pool, each of `max_connections`.
    assert_eq!(stats.max, 2 * PoolOptions::default().max_connections);
    drop(tx);
}

/// Archives one old and one recent delivery and one old signal, runs maintenance, and checks
/// what is left.
async fn maintenance_round(store: &PgStore, expect: RetentionMode) {
    let caps = store.capabilities().await.expect("capabilities");
    assert_eq!(caps.retention, expect);
    assert_eq!(caps.aggregate, AggregateMode::Rollup);
    let ch = unique_channel();
    let now = Utc::now();
    let old = message(ch, 1, now - chrono::Duration::days(45), "old");
    let recent = message(ch, 2, now - chrono::Duration::hours(1), "recent");
    let mut tx = store.begin().await.expect("begin");
    let entries: Vec<_> = [&old, &recent]
        .into_iter()
        .map(|m| ArchiveEntry {
            message: m,
            outcome: "ignored",
            reason: None,
            parser_version: "t",
        })
        .collect();
    tx.archive(&entries).await.expect("archive");
    tx.insert_signals(&[
        new_signal(ch, 3, now - chrono::Duration::days(400), long_call("PETR4")),
        // Within SEARCH_INDEX_DELAY of now: its week is open whatever the day.
        new_signal(
            ch,
            4,
            now - chrono::Duration::minutes(30),
            long_call("PETR4"),
        ),
    ])
    .await
    .expect("signals");
    tx.commit().await.expect("commit");

    let report = store
        .maintenance(&Retention::default(), now)
        .await
        .expect("maintenance");
    assert!(!report.skipped);
    match expect {
        RetentionMode::DropChunks => {
            assert!(matches!(report.messages, Removed::Chunks(n) if n >= 1))
        }
        _ => assert!(matches!(report.messages, Removed::Rows(n) if n >= 1)),
    }
    assert_eq!(
        report.signals,
        Removed::Nothing,
        "signals are kept by default"
    );
    if expect == RetentionMode::DropChunks {
        let built = &report.search_indexes_built;
        assert_eq!(
            built.len(),
            4,
            "the closed week of the old signal gets both search indexes, the open week both \
             partial ones: {built:?}"
        );
        for suffix in ["_raw_message_trgm", "_asset_trgm"] {
            assert!(built.iter().any(|i| i.ends_with(suffix)), "{built:?}");
            assert!(
                built
                    .iter()
                    .any(|i| i.contains(&format!("{suffix}_before_"))),
                "{built:?}"
            );
        }
    } else {
        assert!(report.search_indexes_built.is_empty());
    }
    let found = store
        .list_signals(&SignalQuery {
            limit: 10,
            channel: Some(ch.0.to_string()),
            search: Some("petr".into()),
            ..SignalQuery::default()
        })
        .await
        .expect("search");
    assert_eq!(
        found.rows.len(),
        2,
        "search finds rows of an indexed week and of the open one"
    );

    let left = store
        .list_signals(&SignalQuery {
            limit: 10,
            channel: Some(ch.0.to_string()),
            ..SignalQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(left.rows.len(), 2);

    let mut tx = store.begin().await.expect("begin");
    let fresh = tx.archive(&entries).await.expect("archive again");
    assert_eq!(
        fresh,
        [false, false],
        "delivery keys outlive the archive's retention: a removed message re-delivered is still a duplicate"
    );
    drop(tx);

    let keep_a_year = Retention {
        signals: Some(Duration::from_secs(365 * 24 * 3600)),
        ..Retention::default()
    };
    let report = store
        .maintenance(&keep_a_year, now)
        .await
        .expect("maintenance");
    assert_eq!(report.signals, Removed::Rows(1));
    assert!(
        report.search_indexes_built.is_empty(),
        "a week is indexed once: {:?}",
        report.search_indexes_built
    );
}

#[tokio::test]
async fn the_open_week_gets_partial_search_indexes_below_the_hour_rebuilt_each_hour() {
    let (Some(app), Some(admin)) = (
        env_or_skip("TP_CAPITAL_MIGRATE_DATABASE_URL", "open_week_partial"),
        env_or_skip("TP_PG_SUPERUSER_URL", "open_week_partial"),
    ) else {
        return;
    };
    let db = FreshDb::create(&app, &admin, true).await.expect("fresh db");
    let store = direct_store(&db.url).await;
    let ch = unique_channel();
    let now = Utc::now();
    let mut tx = store.begin().await.expect("begin");
    tx.insert_signals(&[new_signal(ch, 1, now, long_call("PETR4"))])
        .await
        .expect("signals");
    tx.commit().await.expect("commit");
    let mut c = db.connect().await.expect("connect");
    let hour = now
        .duration_trunc(chrono::TimeDelta::hours(1))
        .expect("hour");
    let built = store.index_open_weeks(hour).await.expect("index");
    assert_eq!(built.len(), 2, "{built:?}");
    let first = partial_indexes(&mut c).await;
    assert_eq!(first.len(), 2, "{first:?}");
    assert!(
        first.iter().all(|(name, predicate)| name
            .ends_with(&hour.format("_before_%Y%m%d%H").to_string())
            && predicate.contains("message_date <")),
        "{first:?}"
    );
    assert!(
        store
            .index_open_weeks(hour + chrono::TimeDelta::minutes(59))
            .await
            .expect("again")
            .is_empty(),
        "once per hour"
    );
    let next = hour + chrono::TimeDelta::hours(1);
    assert_eq!(
        store.index_open_weeks(next).await.expect("next hour").len(),
        2
    );
    let second = partial_indexes(&mut c).await;
    assert_eq!(second.len(), 2, "the older ones dropped: {second:?}");
    assert!(
        second
            .iter()
            .all(|(name, _)| name.ends_with(&next.format("_before_%Y%m%d%H").to_string()))
    );
    // Closed: the whole indexes replace the partial ones.
    let built = store
        .index_search_weeks(now + chrono::TimeDelta::days(8))
        .await
        .expect("close");
    assert_eq!(built.len(), 2, "{built:?}");
    assert!(
        partial_indexes(&mut c).await.is_empty(),
        "partial indexes dropped once whole ones exist"
    );
}

/// The valid partial search indexes: name and predicate.
async fn partial_indexes(c: &mut sea_orm::sqlx::PgConnection) -> Vec<(String, String)> {
    sea_orm::sqlx::query_as(
        "SELECT c.relname::text, pg_catalog.pg_get_expr(x.indpred, x.indrelid)
         FROM pg_catalog.pg_index x JOIN pg_catalog.pg_class c ON c.oid = x.indexrelid
         WHERE c.relname LIKE '%\\_trgm\\_before\\_%' AND x.indisvalid ORDER BY 1",
    )
    .fetch_all(c)
    .await
    .expect("partial indexes")
}

#[tokio::test]
async fn a_read_on_an_idle_connection_the_server_closed_is_answered_on_a_new_one() {
    let (Some(app), Some(admin)) = (
        env_or_skip("TP_CAPITAL_MIGRATE_DATABASE_URL", "read_after_kill"),
        env_or_skip("TP_PG_SUPERUSER_URL", "read_after_kill"),
    ) else {
        return;
    };
    let db = FreshDb::create(&app, &admin, true).await.expect("fresh db");
    let store = direct_store(&db.url).await;
    let ch = unique_channel();
    let mut tx = store.begin().await.expect("begin");
    tx.insert_signals(&[new_signal(ch, 1, Utc::now(), long_call("PETR4"))])
        .await
        .expect("signals");
    tx.commit().await.expect("commit");
    let query = SignalQuery {
        limit: 5,
        channel: Some(ch.0.to_string()),
        ..SignalQuery::default()
    };
    let read = store.list_signals(&query).await.expect("first read");
    assert_eq!(read.rows.len(), 1);
    let mut c = db.connect().await.expect("connect");
    let killed: i64 = sea_orm::sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND usename = current_user \
         AND pid <> pg_backend_pid()) t",
    )
    .fetch_one(&mut c)
    .await
    .expect("terminate");
    assert!(killed >= 1, "the read pool's idle connection was open");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let again = store
        .list_signals(&query)
        .await
        .expect("a read after its idle connection was closed");
    assert_eq!(again.rows.len(), 1);
}

async fn direct_store(url: &str) -> PgStore {
    migrations::up(url, None, LOCK_TIMEOUT)
        .await
        .expect("migrate");
    PgStore::connect(url, PoolOptions::default())
        .await
        .expect("connect")
}

#[tokio::test]
async fn maintenance_drops_chunks_on_timescaledb() {
    let (Some(app), Some(admin)) = (
        env_or_skip("TP_CAPITAL_MIGRATE_DATABASE_URL", "maintenance_timescale"),
        env_or_skip("TP_PG_SUPERUSER_URL", "maintenance_timescale"),
    ) else {
        return;
    };
    let db = FreshDb::create(&app, &admin, true).await.expect("fresh db");
    maintenance_round(&direct_store(&db.url).await, RetentionMode::DropChunks).await;
}

#[tokio::test]
async fn maintenance_deletes_on_plain_postgres() {
    let Some(url) = env_or_skip("TP_CAPITAL_PLAIN_PG_URL", "maintenance_plain") else {
        return;
    };
    let admin = match std::env::var("TP_PLAIN_PG_SUPERUSER_URL") {
        Ok(a) if !a.is_empty() => Some(a),
        _ => can_create_databases(&url).await.then(|| url.clone()),
    };
    let Some(admin) = admin else {
        eprintln!("maintenance_plain: no role may create a database; using the given one");
        maintenance_round(&direct_store(&url).await, RetentionMode::Delete).await;
        return;
    };
    let db = FreshDb::create(&url, &admin, false)
        .await
        .expect("fresh db");
    maintenance_round(&direct_store(&db.url).await, RetentionMode::Delete).await;
}

#[tokio::test]
async fn status_counts_equal_a_direct_count() {
    use domain::model::{SignalStatus, StatusChange};
    use domain::ports::SignalStatistics;
    let (Some(app), Some(admin)) = (
        env_or_skip("TP_CAPITAL_MIGRATE_DATABASE_URL", "status_counts"),
        env_or_skip("TP_PG_SUPERUSER_URL", "status_counts"),
    ) else {
        return;
    };
    let db = FreshDb::create(&app, &admin, true).await.expect("fresh db");
    let store = direct_store(&db.url).await;
    let ch = unique_channel();
    let now = Utc::now();
    let mut tx = store.begin().await.expect("begin");
    let ids = tx
        .insert_signals(&[
            new_signal(ch, 1, now, long_call("PETR4")),
            new_signal(ch, 2, now, long_call("VALE3")),
            new_signal(ch, 3, now, long_call("BOVAW32")),
        ])
        .await
        .expect("signals");
    let stopped = StatusChange {
        status: SignalStatus::Stopped,
        at: now,
        message: None,
        reason: "test".to_owned(),
    };
    tx.change_status(ids[1], &stopped).await.expect("stop");
    tx.commit().await.expect("commit");
    store.soft_delete(ids[2], now).await.expect("delete");

    let counts = store.count_by_status().await.expect("counts");
    assert_eq!(
        counts,
        vec![
            ("open", 1),
            ("target_hit", 0),
            ("stopped", 1),
            ("cancelled", 0),
            ("expired", 0),
            ("closed", 0)
        ]
    );
    let mut c = db.connect().await.expect("connect");
    let direct: i64 = sea_orm::sqlx::Row::get(
        &c.fetch_one("SELECT count(*) FROM signals.signals WHERE deleted_at IS NULL")
            .await
            .expect("count"),
        0,
    );
    assert_eq!(counts.iter().map(|(_, n)| *n as i64).sum::<i64>(), direct);
}
