//! The api's read ports against the real database through PgBouncer: the message archive
//! (listing, re-parse reads, re-classification), channels (summaries, settings), statistics
//! (counting what the hourly aggregate has not refreshed yet). Every query
//! names the test's own channel, so parallel tests never interfere.

mod common;

use adapters_postgres::PgStore;
use chrono::{Duration, DurationRound, TimeDelta, Utc};
use common::*;
use domain::model::{ChannelId, Message, SignalId, SignalKind};
use domain::ports::{
    ArchiveEntry, ChannelDirectory, ChannelUpdate, MessageArchive, MessageClass, MessageQuery,
    Reclassification, ReparseSelection, SignalQueries, SignalStatistics, SignalStore, StatsQuery,
};

async fn archive(store: &PgStore, entries: &[(&Message, &str)]) {
    let mut tx = store.begin().await.expect("begin");
    let entries: Vec<ArchiveEntry<'_>> = entries
        .iter()
        .map(|(m, outcome)| ArchiveEntry {
            message: m,
            outcome,
            reason: (*outcome == "rejected").then_some("no asset"),
            parser_version: "test-1",
        })
        .collect();
    tx.archive(&entries).await.expect("archive");
    tx.commit().await.expect("commit");
}

async fn insert(
    store: &PgStore,
    channel: ChannelId,
    ids_dates: &[(i64, chrono::DateTime<Utc>, &str)],
) -> Vec<SignalId> {
    let mut tx = store.begin().await.expect("begin");
    let news: Vec<_> = ids_dates
        .iter()
        .map(|(id, date, asset)| new_signal(channel, *id, *date, long_call(asset)))
        .collect();
    let ids = tx.insert_signals(&news).await.expect("insert");
    tx.commit().await.expect("commit");
    ids
}

#[tokio::test]
async fn the_archive_is_listed_read_for_reparse_and_reclassified() {
    let Some(store) = store("the_archive_is_listed_read_for_reparse_and_reclassified").await else {
        return;
    };
    let ch = unique_channel();
    let t0 = (Utc::now() - Duration::hours(2))
        .duration_trunc(TimeDelta::seconds(1))
        .expect("trunc");
    let messages: Vec<Message> = (0..5)
        .map(|i| message(ch, 100 + i, t0 + Duration::minutes(i), &format!("msg {i}")))
        .collect();
    let outcomes = ["signal", "rejected", "ignored", "rejected", "update"];
    let entries: Vec<(&Message, &str)> = messages.iter().zip(outcomes).collect();
    archive(&store, &entries).await;

    let q = MessageQuery {
        limit: 2,
        channel: Some(ch),
        ..MessageQuery::default()
    };
    let first = store.list_messages(&q).await.expect("page 1");
    let ids: Vec<i64> = first.rows.iter().map(|r| r.message.message_id.0).collect();
    assert_eq!(ids, vec![104, 103], "newest first");
    assert_eq!(first.rows[0].outcome, MessageClass::Update);
    assert_eq!(first.rows[1].reason.as_deref(), Some("no asset"));
    assert_eq!(
        first.rows[0].message.metadata["threadId"], 7,
        "metadata kept"
    );
    let second = store
        .list_messages(&MessageQuery {
            cursor: first.next_cursor,
            ..q.clone()
        })
        .await
        .expect("page 2");
    assert_eq!(
        second
            .rows
            .iter()
            .map(|r| r.message.message_id.0)
            .collect::<Vec<_>>(),
        vec![102, 101]
    );
    let rejected = store
        .list_messages(&MessageQuery {
            limit: 100,
            channel: Some(ch),
            outcomes: vec![MessageClass::Rejected],
            ..MessageQuery::default()
        })
        .await
        .expect("rejected");
    assert_eq!(rejected.rows.len(), 2);
    let window = store
        .list_messages(&MessageQuery {
            limit: 100,
            channel: Some(ch),
            from: Some(t0 + Duration::minutes(1)),
            to: Some(t0 + Duration::minutes(3)),
            ..MessageQuery::default()
        })
        .await
        .expect("window");
    assert_eq!(window.rows.len(), 3);

    let selection = ReparseSelection {
        channel: Some(ch),
        outcomes: vec![MessageClass::Rejected],
        ..ReparseSelection::default()
    };
    let batch = store
        .messages_to_reparse(&selection, None, 1)
        .await
        .expect("reparse 1");
    assert_eq!(batch[0].message.message_id.0, 101, "oldest first");
    let after = Some(domain::ports::MessageCursor {
        message_date: batch[0].message.date,
        id: batch[0].id,
    });
    let rest = store
        .messages_to_reparse(&selection, after, 10)
        .await
        .expect("reparse 2");
    assert_eq!(
        rest.iter()
            .map(|r| r.message.message_id.0)
            .collect::<Vec<_>>(),
        vec![103]
    );

    let changed = store
        .reclassify(&[Reclassification {
            id: batch[0].id,
            message_date: batch[0].message.date,
            outcome: MessageClass::Signal,
            reason: None,
            parser_version: "test-2".into(),
        }])
        .await
        .expect("reclassify");
    assert_eq!(changed, 1);
    let left = store
        .messages_to_reparse(&selection, None, 10)
        .await
        .expect("after");
    assert_eq!(left.len(), 1);
    assert_eq!(store.reclassify(&[]).await.expect("nothing"), 0);
}

#[tokio::test]
async fn channels_are_summarised_and_their_settings_patched() {
    let Some(store) = store("channels_are_summarised_and_their_settings_patched").await else {
        return;
    };
    let ch = unique_channel();
    let t0 = (Utc::now() - Duration::hours(5))
        .duration_trunc(TimeDelta::microseconds(1))
        .expect("trunc");
    let m1 = message(ch, 1, t0, "a");
    let m2 = message(ch, 2, t0 + Duration::hours(1), "b");
    let m3 = message(ch, 3, t0 + Duration::hours(2), "c");
    archive(
        &store,
        &[(&m1, "signal"), (&m2, "signal"), (&m3, "rejected")],
    )
    .await;
    insert(&store, ch, &[(1, m1.date, "PETR4"), (2, m2.date, "VALE3")]).await;

    let all = store.list_channels().await.expect("list");
    let mine = all.iter().find(|c| c.channel_id == ch).expect("listed");
    assert_eq!(mine.signal_count, 2);
    assert_eq!(mine.last_signal_at, Some(m2.date));
    assert_eq!((mine.messages.signal, mine.messages.rejected), (2, 1));
    assert_eq!(mine.last_message_at, Some(m3.date));
    assert_eq!((mine.label.as_deref(), mine.default_kind), (None, None));

    let now = Utc::now();
    let set = store
        .update_channel(
            ch,
            &ChannelUpdate {
                label: Some(Some("Canal".into())),
                default_kind: Some(Some(SignalKind::DayTrade)),
            },
            now,
        )
        .await
        .expect("set");
    assert_eq!(
        (set.label.as_deref(), set.default_kind),
        (Some("Canal"), Some(SignalKind::DayTrade))
    );
    assert_eq!(set.signal_count, 2);
    let patched = store
        .update_channel(
            ch,
            &ChannelUpdate {
                label: Some(None),
                default_kind: None,
            },
            now,
        )
        .await
        .expect("patch");
    assert_eq!(
        (patched.label, patched.default_kind),
        (None, Some(SignalKind::DayTrade))
    );
    let rows = store
        .list_signals(&domain::ports::SignalQuery {
            limit: 10,
            channel: Some(ch.0.to_string()),
            ..Default::default()
        })
        .await
        .expect("signals");
    assert!(
        rows.rows.iter().all(|r| r.kind == SignalKind::DayTrade),
        "the default applies"
    );
    let fresh = unique_channel();
    let created = store
        .update_channel(
            fresh,
            &ChannelUpdate {
                label: Some(Some("Novo".into())),
                default_kind: None,
            },
            now,
        )
        .await
        .expect("create");
    assert_eq!(
        (created.signal_count, created.label.as_deref()),
        (0, Some("Novo"))
    );
}

#[tokio::test]
async fn stats_count_signals_the_aggregate_has_not_refreshed() {
    let Some(store) = store("stats_count_signals_the_aggregate_has_not_refreshed").await else {
        return;
    };
    let ch = unique_channel();
    let hour = (Utc::now() - Duration::hours(30))
        .duration_trunc(TimeDelta::hours(1))
        .expect("trunc");
    insert(
        &store,
        ch,
        &[
            (1, hour + Duration::minutes(5), "PETR4"),
            (2, hour + Duration::minutes(50), "PETR4"),
            (3, hour + Duration::minutes(70), "VALE3"),
        ],
    )
    .await;
    let query = StatsQuery {
        from: Some(hour - Duration::days(1)),
        to: None,
        channel: Some(ch),
        asset: None,
        top_assets: 10,
    };
    let check = |s: &domain::ports::SignalStats, total: u64| {
        assert_eq!(s.total, total);
        assert_eq!(s.by_hour[0].bucket, hour);
        assert_eq!(s.by_hour[0].signal_count, 2);
        assert_eq!(s.by_asset[0].asset.as_str(), "PETR4");
        assert_eq!(s.by_channel[0].channel_id, ch);
        let range = s.by_asset[0].stats.avg_range.expect("range");
        assert!((range - 0.02).abs() < 1e-9, "{range}");
    };
    check(
        &store.signal_stats(&query).await.expect("before refresh"),
        3,
    );
    // No maintenance run here: on this shared database it would expire the other tests' open
    // signals (the fold is tested on databases of their own, tests/editions.rs). A signal
    // committed now, at the newest hour, counts at once.
    let now = Utc::now();
    insert(&store, ch, &[(4, now, "VALE3")]).await;
    let after = store.signal_stats(&query).await.expect("after refresh");
    check(&after, 4);
    let newest = after.by_hour.last().expect("hours");
    assert_eq!(
        (newest.bucket, newest.signal_count),
        (now.duration_trunc(TimeDelta::hours(1)).expect("trunc"), 1)
    );
    let only = store
        .signal_stats(&StatsQuery {
            asset: Some(ticker("VALE3")),
            ..query.clone()
        })
        .await
        .expect("asset");
    assert_eq!(only.total, 2);
}
