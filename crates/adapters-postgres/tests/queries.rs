//! `SignalQueries` against the real database through PgBouncer: every filter of the list, keyset
//! pagination, detail and soft delete. Every list query names the test's own channel, so rows of
//! parallel tests never interfere.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::*;
use domain::model::{ChannelId, SignalId, SignalKind, SignalStatus, StatusChange};
use domain::ports::{SignalCursor, SignalQueries, SignalQuery, SignalStore, StoreError};
use sea_orm::ConnectionTrait;

struct Fixture {
    channel: ChannelId,
    label: String,
    t0: DateTime<Utc>,
    /// Ids in insertion order: message i+1 at t0 + i minutes.
    ids: Vec<SignalId>,
}

/// Six signals in a labelled channel whose default kind is day trade:
/// 1 PETR4 (kind none), 2 PETR4 (scalping), 3 VALE3 (none, stopped), 4 BOVAW32 (none),
/// 5 VALE3 (position), 6 PETR4 (none), one minute apart.
async fn fixture(store: &adapters_postgres::PgStore) -> Fixture {
    let channel = unique_channel();
    let label = format!("TP Canal {}", -channel.0);
    let db = raw().await;
    exec(
        &db,
        "INSERT INTO signals.channels (channel_id, label, default_kind) VALUES ($1, $2, 'day_trade')",
        vec![channel.0.into(), label.clone().into()],
    )
    .await;
    let t0 = Utc::now() - Duration::hours(3);
    let kinds = [
        ("PETR4", None),
        ("PETR4", Some(SignalKind::Scalping)),
        ("VALE3", None),
        ("BOVAW32", None),
        ("VALE3", Some(SignalKind::Position)),
        ("PETR4", None),
    ];
    let news: Vec<_> = kinds
        .iter()
        .enumerate()
        .map(|(i, (asset, kind))| {
            let mut call = long_call(asset);
            call.kind = *kind;
            let mut n = new_signal(
                channel,
                i as i64 + 1,
                t0 + Duration::minutes(i as i64),
                call,
            );
            n.raw_message = format!(
                "Ativo: {asset}\nmensagem número {}{}",
                i + 1,
                if i == 3 { " Needle_50%" } else { "" }
            );
            n
        })
        .collect();
    let mut tx = store.begin().await.expect("begin");
    let ids = tx.insert_signals(&news).await.expect("insert");
    tx.change_status(
        ids[2],
        &StatusChange {
            status: SignalStatus::Stopped,
            at: Utc::now(),
            message: None,
            reason: "Stop acionado".into(),
        },
    )
    .await
    .expect("stop");
    tx.commit().await.expect("commit");
    Fixture {
        channel,
        label,
        t0,
        ids,
    }
}

fn query(channel: &str) -> SignalQuery {
    SignalQuery {
        limit: 100,
        channel: Some(channel.to_owned()),
        ..SignalQuery::default()
    }
}

async fn ids(store: &adapters_postgres::PgStore, q: &SignalQuery) -> Vec<SignalId> {
    store
        .list_signals(q)
        .await
        .expect("list")
        .rows
        .iter()
        .map(|r| r.signal.id)
        .collect()
}

#[tokio::test]
async fn every_filter_is_applied_newest_first() {
    let Some(store) = store("every_filter").await else {
        return;
    };
    let f = fixture(&store).await;
    let id = |i: usize| f.ids[i - 1];
    let by_id = query(&f.channel.0.to_string());

    let page = store.list_signals(&by_id).await.expect("list");
    assert_eq!(
        page.rows.iter().map(|r| r.signal.id).collect::<Vec<_>>(),
        [id(6), id(5), id(4), id(3), id(2), id(1)],
        "newest first"
    );
    assert_eq!(page.next_cursor, None);
    let first = &page.rows[5];
    assert_eq!(first.channel_label.as_deref(), Some(f.label.as_str()));
    assert_eq!(first.kind, SignalKind::DayTrade, "channel default applies");
    assert_eq!(first.signal.call.kind, None, "stored as the message says");
    assert_eq!(page.rows[4].kind, SignalKind::Scalping);

    let by_label = query(&f.label.to_uppercase());
    assert_eq!(
        ids(&store, &by_label).await.len(),
        6,
        "label, case-insensitive"
    );
    assert!(ids(&store, &query("no such channel")).await.is_empty());

    let mut q = by_id.clone();
    q.asset = Some(ticker("PETR4"));
    assert_eq!(ids(&store, &q).await, [id(6), id(2), id(1)]);

    let mut q = by_id.clone();
    q.kind = Some(SignalKind::DayTrade);
    assert_eq!(ids(&store, &q).await, [id(6), id(4), id(3), id(1)]);
    q.kind = Some(SignalKind::Position);
    assert_eq!(ids(&store, &q).await, [id(5)]);
    q.kind = Some(SignalKind::SwingTrade);
    assert!(ids(&store, &q).await.is_empty());

    let mut q = by_id.clone();
    q.status = Some("stopped".into());
    assert_eq!(ids(&store, &q).await, [id(3)]);
    q.status = Some("open".into());
    assert_eq!(ids(&store, &q).await.len(), 5);

    let mut q = by_id.clone();
    q.search = Some("needle_50%".into());
    assert_eq!(
        ids(&store, &q).await,
        [id(4)],
        "text, case-insensitive, literal % and _"
    );
    q.search = Some("needle_5_%".into());
    assert!(ids(&store, &q).await.is_empty(), "_ is not a wildcard");
    q.search = Some("vaw3".into());
    assert_eq!(ids(&store, &q).await, [id(4)], "asset substring");
    q.search = Some("NÚMERO 5".into());
    assert_eq!(ids(&store, &q).await, [id(5)]);

    let mut q = by_id.clone();
    q.from = Some(f.t0 + Duration::minutes(2));
    q.to = Some(f.t0 + Duration::minutes(4));
    assert_eq!(
        ids(&store, &q).await,
        [id(5), id(4), id(3)],
        "bounds inclusive"
    );

    let mut q = by_id.clone();
    q.asset = Some(ticker("PETR4"));
    q.kind = Some(SignalKind::DayTrade);
    q.search = Some("número".into());
    q.from = Some(f.t0 + Duration::seconds(30));
    assert_eq!(ids(&store, &q).await, [id(6)], "filters combine");
}

#[tokio::test]
async fn keyset_pages_cover_every_row_once() {
    let Some(store) = store("keyset_pages").await else {
        return;
    };
    let f = fixture(&store).await;
    let mut q = query(&f.channel.0.to_string());
    q.limit = 4;
    let first = store.list_signals(&q).await.expect("page 1");
    assert_eq!(first.rows.len(), 4);
    let cursor = first.next_cursor.expect("more pages");
    let last = &first.rows[3].signal;
    assert_eq!(
        cursor,
        SignalCursor {
            message_date: last.message_date,
            id: last.id
        }
    );
    q.cursor = Some(cursor);
    let second = store.list_signals(&q).await.expect("page 2");
    assert_eq!(second.rows.len(), 2);
    assert_eq!(second.next_cursor, None);
    let all: Vec<_> = first
        .rows
        .iter()
        .chain(&second.rows)
        .map(|r| r.signal.id)
        .collect();
    let mut expected = f.ids.clone();
    expected.reverse();
    assert_eq!(all, expected);

    // Same message time: the id breaks the tie, still no row lost or repeated.
    let ch = unique_channel();
    let t = Utc::now() - Duration::hours(1);
    let mut tx = store.begin().await.expect("begin");
    let same: Vec<_> = (1..=5)
        .map(|i| new_signal(ch, i, t, long_call("WEGE3")))
        .collect();
    let mut inserted = tx.insert_signals(&same).await.expect("insert");
    tx.commit().await.expect("commit");
    let mut q = query(&ch.0.to_string());
    q.limit = 2;
    let mut seen = Vec::new();
    loop {
        let page = store.list_signals(&q).await.expect("page");
        seen.extend(page.rows.iter().map(|r| r.signal.id));
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    inserted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, inserted);

    q.limit = 0;
    q.cursor = None;
    assert_eq!(store.list_signals(&q).await.expect("clamped").rows.len(), 1);
}

#[tokio::test]
async fn detail_and_soft_delete() {
    let Some(store) = store("detail_and_soft_delete").await else {
        return;
    };
    let f = fixture(&store).await;
    let target = f.ids[2];
    let detail = store.signal_detail(target).await.expect("detail");
    assert_eq!(detail.row.signal.id, target);
    assert_eq!(detail.row.signal.status, SignalStatus::Stopped);
    assert_eq!(detail.row.kind, SignalKind::DayTrade);
    assert_eq!(detail.status_history.len(), 1);
    assert!(detail.revisions.is_empty());
    assert_eq!(
        store.signal_detail(SignalId(i64::MAX)).await,
        Err(StoreError::NotFound)
    );

    store.soft_delete(target, Utc::now()).await.expect("delete");
    assert_eq!(store.signal_detail(target).await, Err(StoreError::NotFound));
    assert_eq!(
        store.soft_delete(target, Utc::now()).await,
        Err(StoreError::NotFound),
        "already deleted"
    );
    assert_eq!(
        store.soft_delete(SignalId(i64::MAX), Utc::now()).await,
        Err(StoreError::NotFound)
    );
    let listed = ids(&store, &query(&f.channel.0.to_string())).await;
    assert_eq!(listed.len(), 5);
    assert!(!listed.contains(&target));

    // Deleted signals stay visible to the write side (an edit of a deleted message).
    let mut tx = store.begin().await.expect("begin");
    let found = tx
        .signals_for_messages(&[(f.channel, domain::model::MessageId(3))], None)
        .await
        .expect("lookup");
    assert_eq!(found.len(), 1);
    assert!(found[0].deleted);
    store.ping().await.expect("ping");
}

#[tokio::test]
async fn matches_beyond_the_newest_window_are_found() {
    let Some(store) = store("matches_beyond_the_window").await else {
        return;
    };
    let ch = unique_channel();
    let t0 = Utc::now() - Duration::days(2);
    // 10,100 older position calls (the first two mention a rare word), then 5,200 newer calls
    // of no stated kind: every selective query walks past the newest window.
    const OLD: i64 = 10_100;
    const NEW: i64 = 5_200;
    let news: Vec<_> = (0..OLD + NEW)
        .map(|i| {
            let mut call = long_call("PETR4");
            if i < OLD {
                call.kind = Some(SignalKind::Position);
            }
            let mut n = new_signal(ch, i + 1, t0 + Duration::seconds(i), call);
            if i < 2 {
                n.raw_message = format!("Ativo: PETR4 xylofone {i}");
            }
            n
        })
        .collect();
    let mut tx = store.begin().await.expect("begin");
    let inserted = tx.insert_signals(&news).await.expect("insert");
    tx.commit().await.expect("commit");
    let at = |i: i64| inserted[i as usize];

    // Rare: collected by bitmap scans, newest first, paginated.
    let mut q = query(&ch.0.to_string());
    q.limit = 1;
    q.search = Some("XYLOFONE".into());
    let first = store.list_signals(&q).await.expect("search page 1");
    assert_eq!(
        first.rows.iter().map(|r| r.signal.id).collect::<Vec<_>>(),
        [at(1)]
    );
    q.cursor = first.next_cursor;
    let second = store.list_signals(&q).await.expect("search page 2");
    assert_eq!(
        second.rows.iter().map(|r| r.signal.id).collect::<Vec<_>>(),
        [at(0)]
    );
    assert_eq!(second.next_cursor, None);

    // Many, but all older than the window: the ordered walk goes on past it.
    let mut q = query(&ch.0.to_string());
    q.limit = 3;
    q.kind = Some(SignalKind::Position);
    let page = store.list_signals(&q).await.expect("position");
    assert_eq!(
        page.rows.iter().map(|r| r.signal.id).collect::<Vec<_>>(),
        [at(OLD - 1), at(OLD - 2), at(OLD - 3)]
    );
    assert!(page.next_cursor.is_some());

    // Dense matches are served from the window, newest first.
    let mut q = query(&ch.0.to_string());
    q.limit = 3;
    q.search = Some("petr4".into());
    q.kind = Some(SignalKind::SwingTrade);
    assert_eq!(
        ids(&store, &q).await,
        [at(OLD + NEW - 1), at(OLD + NEW - 2), at(OLD + NEW - 3)]
    );
}

/// A search gives what the database's own `ILIKE` gives, whichever way the statement compares
/// case (ASCII only for an ASCII term without `i` or `k`): accents, mixed case, and the two
/// characters beyond ASCII that lower to ASCII letters (`İ` and the Kelvin sign).
#[tokio::test]
async fn a_search_matches_what_the_database_s_case_mapping_matches() {
    let Some(store) = store("search_case_mapping").await else {
        return;
    };
    let ch = unique_channel();
    let now = Utc::now();
    let texts = [
        "Ativo: PETR4 compra",
        "ativo: petr4 alvo",
        "Ganho de 5\u{212A} em PETR",
        "\u{130}STANBUL via VALE",
        "AÇÃO forte",
        "ação fraca",
        "Número 5",
    ];
    let news: Vec<_> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let i = i as i64;
            let mut s = new_signal(
                ch,
                i + 1,
                now - Duration::minutes(10 - i),
                long_call("BOVAW32"),
            );
            s.raw_message = (*text).to_owned();
            s
        })
        .collect();
    let mut tx = store.begin().await.expect("begin");
    tx.insert_signals(&news).await.expect("insert");
    tx.commit().await.expect("commit");
    let db = raw().await;
    for term in [
        "petr", "PeTr4", "ATIVO", "5k", "5K", "istanbul", "ação", "AÇÃO", "ção", "vale", "bovaw",
    ] {
        let expected: Vec<SignalId> = db
            .query_all_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "SELECT id FROM signals.signals WHERE channel_id = $1 \
                 AND (asset ILIKE $2 OR raw_message ILIKE $2) ORDER BY message_date DESC, id DESC",
                vec![ch.0.into(), format!("%{term}%").into()],
            ))
            .await
            .expect("ILIKE")
            .iter()
            .map(|row| SignalId(row.try_get_by_index::<i64>(0).expect("id")))
            .collect();
        let mut q = query(&ch.0.to_string());
        q.search = Some(term.to_owned());
        assert!(
            !expected.is_empty(),
            "{term}: the fixture matches every term"
        );
        assert_eq!(ids(&store, &q).await, expected, "{term}");
    }
}
