//! The `StoreTransaction` contract against the real database through PgBouncer.

mod common;

use std::sync::Arc;

use chrono::{Duration, Utc};
use common::*;
use domain::model::{MessageId, SignalId, SignalStatus, StatusChange};
use domain::ports::{ArchiveEntry, BatchStats, DateWindow, SignalQueries, SignalStore, StoreError};

fn entry(m: &domain::model::Message) -> ArchiveEntry<'_> {
    ArchiveEntry {
        message: m,
        outcome: "ignored",
        reason: Some("no trade call or signal update found"),
        parser_version: "test-1",
    }
}

#[tokio::test]
async fn archive_dedups_within_a_call_and_across_transactions() {
    let Some(store) = store("archive_dedups").await else {
        return;
    };
    let ch = unique_channel();
    let now = Utc::now() - Duration::minutes(5);
    let a = message(ch, 1, now, "bom dia");
    let mut a_edit = message(ch, 1, now, "bom dia!");
    // Nanoseconds: PostgreSQL keeps microseconds, the identity must still match.
    a_edit.edit_date = Some(now + Duration::nanoseconds(60_000_000_123));
    let b = message(ch, 2, now, "with a NUL \0 byte and metadata");
    let mut b_meta = b.clone();
    b_meta.metadata = serde_json::json!({"k": "v\u{0}"});
    let c = message(ch, 3, now, "");

    let mut tx = store.begin().await.expect("begin");
    let fresh = tx
        .archive(&[
            entry(&a),
            entry(&a),
            entry(&a_edit),
            entry(&b_meta),
            entry(&c),
        ])
        .await
        .expect("archive");
    assert_eq!(fresh, [true, false, true, true, true]);
    tx.commit().await.expect("commit");

    let d = message(ch, 4, now, "new");
    let mut tx = store.begin().await.expect("begin");
    let fresh = tx
        .archive(&[entry(&a_edit), entry(&d), entry(&a), entry(&b)])
        .await
        .expect("archive again");
    assert_eq!(fresh, [false, true, false, false]);
    tx.commit().await.expect("commit");

    let db = raw().await;
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM forwarded_messages.messages WHERE channel_id = $1",
            vec![ch.0.into()]
        )
        .await,
        5
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM forwarded_messages.messages WHERE channel_id = $1 \
             AND message_id = 2 AND text LIKE '%\u{FFFD}%' AND metadata->>'k' = 'v\u{FFFD}'",
            vec![ch.0.into()]
        )
        .await,
        1
    );
}

#[tokio::test]
async fn concurrent_transactions_archive_one_delivery_exactly_once() {
    let Some(store) = store("concurrent_archive").await else {
        return;
    };
    let store = Arc::new(store);
    let ch = unique_channel();
    let m = Arc::new(message(ch, 10, Utc::now(), "same delivery"));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (store, m) = (store.clone(), m.clone());
            tokio::spawn(async move {
                let mut tx = store.begin().await.expect("begin");
                let fresh = tx.archive(&[entry(&m)]).await.expect("archive");
                tx.commit().await.expect("commit");
                fresh[0]
            })
        })
        .collect();
    let mut stored = 0;
    for t in tasks {
        stored += usize::from(t.await.expect("task"));
    }
    assert_eq!(stored, 1, "exactly one transaction stored it");
    assert_eq!(
        scalar(
            &raw().await,
            "SELECT count(*) FROM forwarded_messages.messages WHERE channel_id = $1",
            vec![ch.0.into()]
        )
        .await,
        1
    );
}

#[tokio::test]
async fn dropping_a_transaction_rolls_everything_back() {
    let Some(store) = store("rollback_on_drop").await else {
        return;
    };
    let ch = unique_channel();
    let now = Utc::now();
    let m = message(ch, 1, now, "x");
    {
        let mut tx = store.begin().await.expect("begin");
        tx.archive(&[entry(&m)]).await.expect("archive");
        tx.insert_signals(&[new_signal(ch, 1, now, long_call("PETR4"))])
            .await
            .expect("insert");
        tx.record_stats(&BatchStats::default(), now)
            .await
            .expect("stats");
    }
    // The connection goes back to the pool with a rollback queued; the next use proves it.
    let mut tx = store.begin().await.expect("begin");
    assert_eq!(tx.archive(&[entry(&m)]).await.expect("archive"), [true]);
    assert!(
        tx.signals_for_messages(&[(ch, MessageId(1))], None)
            .await
            .expect("lookup")
            .is_empty()
    );
    drop(tx);
    let db = raw().await;
    for table in ["forwarded_messages.messages", "signals.signals"] {
        assert_eq!(
            scalar(
                &db,
                &format!("SELECT count(*) FROM {table} WHERE channel_id = $1"),
                vec![ch.0.into()]
            )
            .await,
            0,
            "{table}"
        );
    }
}

#[tokio::test]
async fn signals_are_inserted_found_revised_and_conflict_on_repeat() {
    let Some(store) = store("insert_revise").await else {
        return;
    };
    let ch = unique_channel();
    let t0 = Utc::now() - Duration::hours(1);
    let mut premium = long_call("BOVAW32");
    premium.entry = Some(domain::model::EntryRange::single(price("0.255")));
    premium.targets = vec![price("0.5")];
    premium.target_final = Some(price("0.5"));
    premium.stop = Some(price("0.123456"));

    let mut tx = store.begin().await.expect("begin");
    let ids = tx
        .insert_signals(&[
            new_signal(ch, 2, t0, long_call("PETR4")),
            new_signal(ch, 1, t0, premium.clone()),
        ])
        .await
        .expect("insert");
    assert_eq!(ids.len(), 2);
    assert!(ids[0] != ids[1]);
    let keys = [(ch, MessageId(1)), (ch, MessageId(2)), (ch, MessageId(3))];
    let found = tx.signals_for_messages(&keys, None).await.expect("lookup");
    assert_eq!(found.len(), 2);
    let around = |at, days| DateWindow::around([at], Duration::days(days));
    let dated = tx
        .signals_for_messages(&keys, around(t0.trunc_subsecs_micros(), 0))
        .await
        .expect("dated lookup");
    assert_eq!(dated.len(), 2, "both ends of the window are included");
    let weeks_later = tx
        .signals_for_messages(&keys, around(t0 + Duration::days(30), 7))
        .await
        .expect("lookup of other weeks");
    assert!(weeks_later.is_empty(), "{weeks_later:?}");
    let one = found
        .iter()
        .find(|s| s.message_id == MessageId(1))
        .expect("message 1");
    assert_eq!(one.id, ids[1]);
    assert_eq!(
        one.call, premium,
        "exact decimals, warnings and dates survive"
    );
    assert_eq!(one.status, SignalStatus::Open);
    assert_eq!(one.revision, 1);
    assert_eq!(one.message_date, t0.trunc_subsecs_micros());

    let mut edited = new_signal(ch, 2, t0, long_call("PETR3"));
    edited.revision = 2;
    edited.edit_date = Some(t0 + Duration::minutes(3));
    edited.raw_message = "edited text".into();
    tx.revise_signal(ids[0], &edited).await.expect("revise");
    assert_eq!(
        tx.revise_signal(SignalId(i64::MAX), &edited).await,
        Err(StoreError::NotFound)
    );
    tx.commit().await.expect("commit");

    let detail = store.signal_detail(ids[0]).await.expect("detail");
    assert_eq!(detail.row.signal.revision, 2);
    assert_eq!(detail.row.signal.call.asset, ticker("PETR3"));
    assert_eq!(detail.row.signal.raw_message, "edited text");
    assert_eq!(
        detail.row.signal.edit_date,
        edited.edit_date.map(|d| d.trunc_subsecs_micros())
    );
    assert_eq!(detail.revisions.len(), 1);
    assert_eq!(detail.revisions[0].revision, 1);
    assert_eq!(detail.revisions[0].call.asset, ticker("PETR4"));

    let mut tx = store.begin().await.expect("begin");
    let again = tx
        .insert_signals(&[new_signal(ch, 1, t0, long_call("PETR4"))])
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
}

#[tokio::test]
async fn updates_find_the_latest_open_signal_and_keep_history() {
    let Some(store) = store("latest_open").await else {
        return;
    };
    let ch = unique_channel();
    let t0 = Utc::now() - Duration::hours(2);
    let mut tx = store.begin().await.expect("begin");
    let ids = tx
        .insert_signals(&[
            new_signal(ch, 1, t0, long_call("VALE3")),
            new_signal(ch, 2, t0 + Duration::minutes(10), long_call("VALE3")),
            new_signal(ch, 3, t0 + Duration::minutes(20), long_call("ITUB4")),
        ])
        .await
        .expect("insert");
    let latest = tx
        .latest_open_signal(ch, &ticker("VALE3"))
        .await
        .expect("latest")
        .expect("one open");
    assert_eq!(latest.id, ids[1]);

    let hit = StatusChange {
        status: SignalStatus::TargetHit { index: Some(1) },
        at: Utc::now(),
        message: Some((ch, MessageId(4))),
        reason: "Alvo 1 atingido".into(),
    };
    tx.change_status(ids[1], &hit).await.expect("target hit");
    let still = tx
        .latest_open_signal(ch, &ticker("VALE3"))
        .await
        .expect("latest");
    assert_eq!(
        still.map(|s| s.id),
        Some(ids[1]),
        "a hit target stays trackable"
    );
    let stop = StatusChange {
        status: SignalStatus::Stopped,
        at: Utc::now() + Duration::seconds(1),
        message: None,
        reason: "Stop acionado".into(),
    };
    tx.change_status(ids[1], &stop).await.expect("stopped");
    let older = tx
        .latest_open_signal(ch, &ticker("VALE3"))
        .await
        .expect("latest");
    assert_eq!(older.map(|s| s.id), Some(ids[0]));
    assert_eq!(
        tx.latest_open_signal(ch, &ticker("BBAS3"))
            .await
            .expect("none"),
        None
    );
    assert_eq!(
        tx.change_status(SignalId(i64::MAX), &stop).await,
        Err(StoreError::NotFound)
    );
    tx.commit().await.expect("commit");

    let detail = store.signal_detail(ids[1]).await.expect("detail");
    assert_eq!(detail.row.signal.status, SignalStatus::Stopped);
    let history: Vec<_> = detail
        .status_history
        .iter()
        .map(|c| (c.status, c.message, c.reason.as_str()))
        .collect();
    assert_eq!(
        history,
        [
            (
                SignalStatus::TargetHit { index: Some(1) },
                Some((ch, MessageId(4))),
                "Alvo 1 atingido"
            ),
            (SignalStatus::Stopped, None, "Stop acionado"),
        ]
    );
}

#[tokio::test]
async fn deletions_flag_archived_deliveries_and_stats_are_recorded() {
    let Some(store) = store("mark_deleted").await else {
        return;
    };
    let ch = unique_channel();
    let now = Utc::now();
    let m1 = message(ch, 1, now, "a");
    let mut m1e = m1.clone();
    m1e.edit_date = Some(now + Duration::seconds(5));
    let m2 = message(ch, 2, now, "b");
    let mut tx = store.begin().await.expect("begin");
    tx.archive(&[entry(&m1), entry(&m1e), entry(&m2)])
        .await
        .expect("archive");
    let at = Utc::now();
    assert_eq!(
        tx.mark_deleted(ch, &[MessageId(1), MessageId(9)], at)
            .await
            .expect("flag"),
        2
    );
    assert_eq!(
        tx.mark_deleted(ch, &[MessageId(1)], at)
            .await
            .expect("again"),
        0,
        "already flagged"
    );
    let stats = BatchStats {
        received: 3,
        ignored: 3,
        duration_us: 1234,
        ..BatchStats::default()
    };
    tx.record_stats(&stats, at).await.expect("stats");
    tx.commit().await.expect("commit");
    let db = raw().await;
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM forwarded_messages.messages WHERE channel_id = $1 AND deleted_at IS NOT NULL",
            vec![ch.0.into()]
        )
        .await,
        2
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM metrics.processing_stats WHERE recorded_at = $1 AND duration_us = 1234",
            vec![at.trunc_subsecs_micros().into()]
        )
        .await,
        1
    );
}

trait Micros {
    fn trunc_subsecs_micros(self) -> Self;
}

impl Micros for chrono::DateTime<Utc> {
    fn trunc_subsecs_micros(self) -> Self {
        chrono::SubsecRound::trunc_subsecs(self, 6)
    }
}
