//! The change feed against the real database through PgBouncer: changes come in commit-safe
//! order (a change of a transaction still running holds back every later one, so no read ever
//! returns a position that a later commit lands before), and a changed signal moves to the end.
//! Every assertion looks at the test's own channel, so parallel tests never interfere.

mod common;

use std::time::Duration as StdDuration;

use adapters_postgres::PgStore;
use chrono::{Duration, Utc};
use common::*;
use domain::model::{ChannelId, SignalId, SignalStatus, StatusChange};
use domain::ports::{ChangePosition, SignalChange, SignalChanges, SignalQueries, SignalStore};

/// The changes of `channel` after `from`, reading the whole feed in batches of 50.
async fn changes_of(
    store: &PgStore,
    from: ChangePosition,
    channel: ChannelId,
) -> Vec<SignalChange> {
    let (mut after, mut mine) = (from, Vec::new());
    loop {
        let batch = store.changes_after(after, 50).await.expect("changes");
        let Some(last) = batch.last() else {
            return mine;
        };
        assert!(last.position > after, "the feed moves forward");
        assert!(
            batch.windows(2).all(|w| w[0].position < w[1].position),
            "ordered"
        );
        after = last.position;
        mine.extend(
            batch
                .into_iter()
                .filter(|c| c.row.signal.channel_id == channel),
        );
    }
}

async fn insert(store: &PgStore, channel: ChannelId, message_id: i64, asset: &str) -> SignalId {
    let mut tx = store.begin().await.expect("begin");
    let ids = tx
        .insert_signals(&[new_signal(
            channel,
            message_id,
            Utc::now(),
            long_call(asset),
        )])
        .await
        .expect("insert");
    tx.commit().await.expect("commit");
    ids[0]
}

#[tokio::test]
async fn the_change_feed_moves_changed_signals_to_its_end() {
    let Some(store) = store("the_change_feed_moves_changed_signals_to_its_end").await else {
        return;
    };
    let ch = unique_channel();
    let head = store.head().await.expect("head");
    let first = insert(&store, ch, 1, "PETR4").await;
    let second = insert(&store, ch, 2, "VALE3").await;
    let mut tx = store.begin().await.expect("begin");
    let change = StatusChange {
        status: SignalStatus::Stopped,
        at: Utc::now() + Duration::seconds(1),
        message: None,
        reason: "test".into(),
    };
    tx.change_status(first, &change).await.expect("status");
    tx.commit().await.expect("commit");
    store
        .soft_delete(second, Utc::now() + Duration::seconds(2))
        .await
        .expect("delete");

    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(20);
    let mine = loop {
        let mine = changes_of(&store, head, ch).await;
        if mine.len() == 2 || tokio::time::Instant::now() > deadline {
            break mine;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    };
    let ids: Vec<SignalId> = mine.iter().map(|c| c.row.signal.id).collect();
    assert_eq!(
        ids,
        vec![first, second],
        "each signal once, at its last change"
    );
    assert_eq!(mine[0].row.signal.status, SignalStatus::Stopped);
    assert!(mine[1].row.signal.deleted, "deletions are part of the feed");
    let after_first = changes_of(&store, mine[0].position, ch).await;
    assert_eq!(after_first.len(), 1);
    assert_eq!(after_first[0].row.signal.id, second);
    assert!(store.head().await.expect("head") >= mine[1].position);
}

#[tokio::test]
async fn a_running_transaction_holds_back_later_commits() {
    let Some(store) = store("a_running_transaction_holds_back_later_commits").await else {
        return;
    };
    let ch = unique_channel();
    // The week's chunk must exist first: a transaction that creates a chunk holds every other
    // insert into it until it ends (on a fresh database the slow insert below would create it,
    // and the second insert would wait for the slow transaction instead of overtaking it).
    insert(&store, unique_channel(), 1, "ITUB4").await;
    let head = store.head().await.expect("head");
    let mut slow = store.begin().await.expect("begin");
    let early = slow
        .insert_signals(&[new_signal(ch, 1, Utc::now(), long_call("PETR4"))])
        .await
        .expect("insert")[0];
    let late = insert(&store, ch, 2, "VALE3").await;
    assert!(
        changes_of(&store, head, ch).await.is_empty(),
        "a commit after a running transaction's start waits for it"
    );
    slow.commit().await.expect("commit");
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(20);
    let ids = loop {
        let ids: Vec<SignalId> = changes_of(&store, head, ch)
            .await
            .iter()
            .map(|c| c.row.signal.id)
            .collect();
        if ids.len() == 2 || tokio::time::Instant::now() > deadline {
            break ids;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    };
    assert_eq!(
        ids,
        vec![early, late],
        "in the order the transactions began"
    );
}
