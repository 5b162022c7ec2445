//! The rollup triggers append one delta per group a statement touched (migrations
//! `m20251215_000015_rollup_per_statement`, `m20251216_000017_status_totals`), whatever wrote
//! the rows: a bulk insert is one delta row, an update that moves no measure is none, and the
//! rollups plus their deltas always equal a direct count.

mod common;

use common::{exec, scalar};
use sea_orm::{Database, DatabaseConnection};

async fn count(raw: &DatabaseConnection, sql: &str) -> i64 {
    scalar(raw, sql, vec![]).await
}

/// Live signals by the rollups, by the status totals and by a direct count.
async fn three_counts(raw: &DatabaseConnection) -> (i64, i64, i64) {
    (
        count(
            raw,
            "SELECT COALESCE(sum(signal_count), 0)::bigint FROM (
               SELECT signal_count FROM metrics.signal_rollup
               UNION ALL SELECT signal_count FROM metrics.signal_rollup_delta) x",
        )
        .await,
        count(
            raw,
            "SELECT COALESCE(sum(n), 0)::bigint FROM (
               SELECT n FROM metrics.signal_status_totals
               UNION ALL SELECT n FROM metrics.signal_status_delta) x",
        )
        .await,
        count(
            raw,
            "SELECT count(*) FROM signals.signals WHERE deleted_at IS NULL",
        )
        .await,
    )
}

#[tokio::test]
async fn each_statement_appends_one_delta_per_group_it_moved() {
    let Some(db) = test_support::db::migrated("rollup_per_statement").await else {
        return;
    };
    let raw = Database::connect(&db.url).await.expect("raw");
    let deltas = || async {
        (
            count(&raw, "SELECT count(*) FROM metrics.signal_rollup_delta").await,
            count(&raw, "SELECT count(*) FROM metrics.signal_status_delta").await,
            count(&raw, "SELECT count(*) FROM metrics.channel_message_delta").await,
        )
    };
    // 500 signals of one hour, channel and asset: one rollup delta, one status delta.
    exec(
        &raw,
        "INSERT INTO signals.signals (channel_id, message_id, message_date, asset, direction,
           entry_min, entry_max, targets, target_final, stop, raw_message, parser_version)
         SELECT -100, g, date_trunc('hour', now()) + g * interval '1 ms', 'PETR4', 'long',
                1.04, 1.06, '{1.15}', 1.15, 0.7, 'Ativo: PETR4', 't'
         FROM generate_series(1, 500) g",
        vec![],
    )
    .await;
    assert_eq!(deltas().await, (1, 1, 0));
    assert_eq!(
        count(&raw, "SELECT signal_count FROM metrics.signal_rollup_delta").await,
        500
    );
    assert_eq!(three_counts(&raw).await, (500, 500, 500));

    // No measure moves: no delta at all.
    exec(
        &raw,
        "UPDATE signals.signals SET updated_at = now() WHERE message_id <= 10",
        vec![],
    )
    .await;
    assert_eq!(deltas().await, (1, 1, 0));

    // A status change moves the status counts only: one delta leaves 'open', one enters 'stopped'.
    exec(
        &raw,
        "UPDATE signals.signals SET status = 'stopped' WHERE message_id <= 10",
        vec![],
    )
    .await;
    assert_eq!(deltas().await, (1, 3, 0));
    assert_eq!(
        count(
            &raw,
            "SELECT sum(n)::bigint FROM metrics.signal_status_delta WHERE status = 'stopped'"
        )
        .await,
        10
    );

    // A new stop moves the downside sums of the group: one rollup delta, no status delta.
    exec(
        &raw,
        "UPDATE signals.signals SET stop = 0.8 WHERE message_id BETWEEN 11 AND 20",
        vec![],
    )
    .await;
    assert_eq!(deltas().await, (2, 3, 0));

    // A soft delete and a hard delete each subtract what they removed.
    exec(
        &raw,
        "UPDATE signals.signals SET deleted_at = now() WHERE message_id BETWEEN 21 AND 30",
        vec![],
    )
    .await;
    exec(
        &raw,
        "DELETE FROM signals.signals WHERE message_id BETWEEN 31 AND 35",
        vec![],
    )
    .await;
    assert_eq!(deltas().await, (4, 5, 0));
    assert_eq!(three_counts(&raw).await, (485, 485, 485));

    // 300 archived messages of two outcomes in one statement: two message deltas.
    exec(
        &raw,
        "INSERT INTO forwarded_messages.messages (channel_id, message_id, message_date, text,
           outcome, parser_version)
         SELECT -100, g, now(), 'x', CASE WHEN g % 2 = 0 THEN 'signal' ELSE 'ignored' END, 't'
         FROM generate_series(1, 300) g",
        vec![],
    )
    .await;
    assert_eq!(deltas().await, (4, 5, 2));
    assert_eq!(
        count(
            &raw,
            "SELECT sum(n)::bigint FROM metrics.channel_message_delta"
        )
        .await,
        300
    );
}
