//! The signal list reads in time windows (newest week first, then doubling windows further
//! back): pages that cross windows, sparse filters, `from`/`to` and cursors must still give every
//! matching row once, newest first. One test channel; rows spread over ~400 days.

mod common;

use chrono::{Duration, Utc};
use common::*;
use domain::model::{SignalId, SignalKind};
use domain::ports::{SignalQueries, SignalQuery, SignalStore};

/// Walks every page of `q` and returns the ids in order.
async fn all_pages(store: &adapters_postgres::PgStore, mut q: SignalQuery) -> Vec<SignalId> {
    let mut out = Vec::new();
    loop {
        let page = store.list_signals(&q).await.expect("page");
        assert!(page.rows.len() <= q.limit as usize);
        out.extend(page.rows.iter().map(|r| r.signal.id));
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => return out,
        }
    }
}

#[tokio::test]
async fn pages_across_time_windows_hold_every_row_once_newest_first() {
    let Some(store) = store("pages_across_time_windows").await else {
        return;
    };
    let ch = unique_channel();
    let now = Utc::now();
    // Signal i is i * 2 days + i minutes old: 200 rows over 400 days. Every 10th is a
    // position call mentioning a rare word; one row is dated a day ahead.
    let n = 200_i64;
    let news: Vec<_> = (0..n)
        .map(|i| {
            let mut call = long_call(if i % 2 == 0 { "PETR4" } else { "VALE3" });
            if i % 10 == 0 {
                call.kind = Some(SignalKind::Position);
            }
            let date = if i == 0 {
                now + Duration::days(1)
            } else {
                now - Duration::days(2 * i) - Duration::minutes(i)
            };
            let mut s = new_signal(ch, i + 1, date, call);
            if i % 10 == 0 {
                s.raw_message = format!("Ativo: PETR4 marmota {i}");
            }
            s
        })
        .collect();
    let mut tx = store.begin().await.expect("begin");
    let ids = tx.insert_signals(&news).await.expect("insert");
    tx.commit().await.expect("commit");
    let base = SignalQuery {
        limit: 7,
        channel: Some(ch.0.to_string()),
        ..SignalQuery::default()
    };
    let expect = |keep: &dyn Fn(i64) -> bool| -> Vec<SignalId> {
        (0..n)
            .filter(|i| keep(*i))
            .map(|i| ids[i as usize])
            .collect()
    };

    assert_eq!(all_pages(&store, base.clone()).await, expect(&|_| true));
    let big = SignalQuery {
        limit: 1000,
        ..base.clone()
    };
    assert_eq!(
        store.list_signals(&big).await.expect("one page").rows.len(),
        n as usize,
        "one page of every row, read over every window"
    );
    let search = SignalQuery {
        search: Some("MARMOTA".into()),
        ..base.clone()
    };
    assert_eq!(all_pages(&store, search).await, expect(&|i| i % 10 == 0));
    let kind = SignalQuery {
        kind: Some(SignalKind::Position),
        limit: 3,
        ..base.clone()
    };
    assert_eq!(all_pages(&store, kind).await, expect(&|i| i % 10 == 0));
    let asset = SignalQuery {
        asset: domain::model::Ticker::parse("VALE3"),
        ..base.clone()
    };
    assert_eq!(all_pages(&store, asset).await, expect(&|i| i % 2 == 1));
    // from/to: signals 50..=150 (100 to 300 days back, give or take their minutes).
    let range = SignalQuery {
        from: Some(now - Duration::days(300) - Duration::minutes(150)),
        to: Some(now - Duration::days(100) - Duration::minutes(50)),
        ..base.clone()
    };
    assert_eq!(
        all_pages(&store, range).await,
        expect(&|i| (50..=150).contains(&i))
    );
    let old = SignalQuery {
        to: Some(now - Duration::days(390)),
        ..base
    };
    assert_eq!(all_pages(&store, old).await, expect(&|i| i >= 195));
}

/// A term in more rows than the bitmap strategy collects (2,000), all of them weeks older than
/// the newest rows: the window holding them is read in halves, newer first, and every page still
/// holds the next matches in order.
#[tokio::test]
async fn a_window_with_more_matches_than_the_bitmap_collects_is_read_in_halves() {
    let Some(store) = store("dense_window_halves").await else {
        return;
    };
    let ch = unique_channel();
    let now = Utc::now();
    // Signal i is i * 7 minutes old (2,600 rows over ~13 days), then the matches: 2,100 rows
    // from 5 to ~7 weeks back, every 8 minutes (one window of four chunks); the newest weeks hold
    // none.
    let plain = 2_600_i64;
    let matching = 2_100_i64;
    let news: Vec<_> = (0..plain + matching)
        .map(|i| {
            let date = if i < plain {
                now - Duration::minutes(7 * i)
            } else {
                now - Duration::weeks(5) - Duration::minutes(8 * (i - plain))
            };
            let mut s = new_signal(ch, i + 1, date, long_call("PETR4"));
            if i >= plain {
                s.raw_message = format!("Ativo: PETR4 capivara {i}");
            }
            s
        })
        .collect();
    let mut tx = store.begin().await.expect("begin");
    let ids = tx.insert_signals(&news).await.expect("insert");
    tx.commit().await.expect("commit");
    let search = SignalQuery {
        limit: 50,
        channel: Some(ch.0.to_string()),
        search: Some("capivara".into()),
        ..SignalQuery::default()
    };
    let expected: Vec<SignalId> = ids[plain as usize..].to_vec();
    assert_eq!(all_pages(&store, search).await, expected);
}

/// A search reads the open week in two windows, split an hour or two back: above the split by a
/// scan, below it through the partial search indexes the maintenance builds. Rows on both sides
/// (and one ahead of now) come once each, newest first, with or without those indexes.
#[tokio::test]
async fn a_search_pages_across_the_open_week_s_partial_index_bound() {
    let Some(store) = store("open_week_split").await else {
        return;
    };
    let ch = unique_channel();
    let now = Utc::now();
    let ages = [-30_i64, 5, 50, 95, 130, 200, 24 * 60, 3 * 24 * 60];
    let news: Vec<_> = ages
        .iter()
        .enumerate()
        .map(|(i, minutes)| {
            let mut s = new_signal(
                ch,
                i as i64 + 1,
                now - Duration::minutes(*minutes),
                long_call("PETR4"),
            );
            s.raw_message = format!("Ativo: PETR4 quati {i}");
            s
        })
        .collect();
    let mut tx = store.begin().await.expect("begin");
    let ids = tx.insert_signals(&news).await.expect("insert");
    tx.commit().await.expect("commit");
    let search = SignalQuery {
        limit: 3,
        channel: Some(ch.0.to_string()),
        search: Some("quati".into()),
        ..SignalQuery::default()
    };
    assert_eq!(
        all_pages(&store, search.clone()).await,
        ids,
        "without the indexes"
    );
    store.index_open_weeks(now).await.expect("partial indexes");
    assert_eq!(all_pages(&store, search).await, ids, "through them");
}

/// Bounds as old as the API accepts (`from=0001-01-03`, found by schemathesis) are answered: no
/// window literal falls before year 1, which PostgreSQL cannot read.
#[tokio::test]
async fn a_range_starting_in_year_one_is_answered() {
    let Some(store) = store("year_one").await else {
        return;
    };
    let at = |y, m, d| {
        chrono::NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc())
    };
    for to in [at(1, 2, 1), at(2025, 10, 28), None] {
        let q = SignalQuery {
            limit: 5,
            channel: Some(unique_channel().0.to_string()),
            search: Some("BOVA".into()),
            from: at(1, 1, 3),
            to,
            ..SignalQuery::default()
        };
        let page = store.list_signals(&q).await.expect("answered");
        assert!(page.rows.is_empty());
    }
}
