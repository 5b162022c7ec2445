//! The maintenance folds a bulk load's deltas in batches (a million at once ran past the
//! services' statement timeout): every delta ends in the rollups exactly once.

mod common;

use adapters_postgres::{PgStore, PoolOptions, Retention};
use chrono::Utc;
use common::{exec, scalar};
use sea_orm::Database;

#[tokio::test]
async fn a_bulk_load_s_deltas_fold_in_batches_each_exactly_once() {
    let Some(db) = test_support::db::migrated("fold_in_batches").await else {
        return;
    };
    let raw = Database::connect(&db.url).await.expect("raw");
    // 120,001 signal deltas over 5,000 hourly groups of 3 channels, 70,000 message deltas and
    // 60,000 status deltas: more than one batch of each.
    exec(
        &raw,
        "INSERT INTO metrics.signal_rollup_delta
           (bucket, channel_id, asset, signal_count, range_sum, range_n, upside_sum, upside_n,
            downside_sum, downside_n)
         SELECT date_trunc('hour', now()) - (g % 5000) * interval '1 hour', -100 - g % 3,
                'PETR4', 1, 0.5, 1, 0, 0, 0, 0
         FROM generate_series(1, 120001) g",
        vec![],
    )
    .await;
    exec(
        &raw,
        "INSERT INTO metrics.channel_message_delta (channel_id, outcome, n)
         SELECT -100 - g % 3, 'signal', 2 FROM generate_series(1, 70000) g",
        vec![],
    )
    .await;
    exec(
        &raw,
        "INSERT INTO metrics.signal_status_delta (status, n)
         SELECT CASE WHEN g % 2 = 0 THEN 'open' ELSE 'stopped' END, 1
         FROM generate_series(1, 60000) g",
        vec![],
    )
    .await;
    let store = PgStore::connect(&db.url, PoolOptions::default())
        .await
        .expect("connect");
    let report = store
        .maintenance(
            &Retention {
                messages: None,
                processing_stats: None,
                signals: None,
            },
            Utc::now(),
        )
        .await
        .expect("maintenance");
    assert_eq!(report.deltas_folded, 250_001);
    let sql = |q: &'static str| scalar(&raw, q, vec![]);
    assert_eq!(
        sql("SELECT count(*) FROM metrics.signal_rollup_delta").await,
        0
    );
    assert_eq!(
        sql("SELECT count(*) FROM metrics.channel_message_delta").await,
        0
    );
    assert_eq!(
        sql("SELECT sum(signal_count)::bigint FROM metrics.signal_rollup").await,
        120_001
    );
    assert_eq!(
        sql("SELECT count(*) FROM metrics.signal_rollup").await,
        15_000
    );
    assert_eq!(
        sql("SELECT sum(range_n)::bigint FROM metrics.signal_rollup").await,
        120_001
    );
    assert_eq!(
        sql("SELECT sum(signal_count)::bigint FROM metrics.channel_signal_totals").await,
        120_001
    );
    assert_eq!(
        sql("SELECT sum(n)::bigint FROM metrics.channel_message_totals").await,
        140_000
    );
    assert_eq!(
        sql("SELECT count(*) FROM metrics.signal_status_delta").await,
        0
    );
    assert_eq!(
        sql("SELECT n FROM metrics.signal_status_totals WHERE status = 'stopped'").await,
        30_000
    );
    store.close().await;
}
