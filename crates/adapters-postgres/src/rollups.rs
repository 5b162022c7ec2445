//! The maintenance side of the exact rollups (migration `m20251207_000013_exact_rollups`):
//! folding the deltas the triggers append into the rollups, keeping the message totals exact when
//! retention drops whole chunks (which fires no trigger), expiring signals whose validity passed,
//! and recording the retention applied.

use chrono::{DateTime, NaiveDate, Utc};
use domain::model::{ChannelId, SignalId, SignalStatus, Ticker};
use domain::ports::{SignalEvent, SignalEventKind, StoreError};
use sea_orm::{ConnectionTrait, DatabaseTransaction};

use crate::error::{corrupt, map_db_err};
use crate::store::stmt;

/// Deltas one fold statement moves at most: a bulk load (the legacy import, a seeded benchmark)
/// leaves a million at once, and folding them in one statement ran past the services' 10 s
/// statement timeout on every maintenance run, so nothing after the fold ever ran.
const FOLD_BATCH: i64 = 50_000;

/// One statement per batch, so exactly the deltas it deletes are added: deltas committed
/// meanwhile stay for a later batch or run, and readers (rollup + deltas, in one snapshot of the
/// maintenance transaction's commit) never count a delta twice or miss one.
const FOLD_SQL: &str = "
WITH moved AS (
  DELETE FROM metrics.signal_rollup_delta WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM metrics.signal_rollup_delta LIMIT $1))
  RETURNING *),
hourly AS (
  INSERT INTO metrics.signal_rollup AS r
    (bucket, channel_id, asset, signal_count, range_sum, range_n, upside_sum, upside_n,
     downside_sum, downside_n)
  SELECT bucket, channel_id, asset, pg_catalog.sum(signal_count), pg_catalog.sum(range_sum),
         pg_catalog.sum(range_n), pg_catalog.sum(upside_sum), pg_catalog.sum(upside_n),
         pg_catalog.sum(downside_sum), pg_catalog.sum(downside_n)
  FROM moved GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT (bucket, channel_id, asset) DO UPDATE SET
    signal_count = r.signal_count + EXCLUDED.signal_count,
    range_sum = r.range_sum + EXCLUDED.range_sum, range_n = r.range_n + EXCLUDED.range_n,
    upside_sum = r.upside_sum + EXCLUDED.upside_sum, upside_n = r.upside_n + EXCLUDED.upside_n,
    downside_sum = r.downside_sum + EXCLUDED.downside_sum,
    downside_n = r.downside_n + EXCLUDED.downside_n
  RETURNING 1
),
channels AS (
  INSERT INTO metrics.channel_signal_totals AS t (channel_id, signal_count)
  SELECT channel_id, pg_catalog.sum(signal_count) FROM moved GROUP BY 1 ORDER BY 1
  ON CONFLICT (channel_id) DO UPDATE SET signal_count = t.signal_count + EXCLUDED.signal_count
  RETURNING 1
),
moved_messages AS (
  DELETE FROM metrics.channel_message_delta WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM metrics.channel_message_delta LIMIT $1))
  RETURNING *),
messages AS (
  INSERT INTO metrics.channel_message_totals AS t (channel_id, outcome, n)
  SELECT channel_id, outcome, pg_catalog.sum(n) FROM moved_messages GROUP BY 1, 2 ORDER BY 1, 2
  ON CONFLICT (channel_id, outcome) DO UPDATE SET n = t.n + EXCLUDED.n
  RETURNING 1
),
moved_statuses AS (
  DELETE FROM metrics.signal_status_delta WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM metrics.signal_status_delta LIMIT $1))
  RETURNING *),
statuses AS (
  INSERT INTO metrics.signal_status_totals AS t (status, n)
  SELECT status, pg_catalog.sum(n) FROM moved_statuses GROUP BY 1 ORDER BY 1
  ON CONFLICT (status) DO UPDATE SET n = t.n + EXCLUDED.n
  RETURNING 1
)
SELECT (SELECT pg_catalog.count(*) FROM moved), (SELECT pg_catalog.count(*) FROM moved_messages),
       (SELECT pg_catalog.count(*) FROM moved_statuses)";

const EMPTY_SQL: &str = "
DELETE FROM metrics.signal_rollup WHERE signal_count = 0;
DELETE FROM metrics.channel_signal_totals WHERE signal_count = 0;
DELETE FROM metrics.channel_message_totals WHERE n = 0;
DELETE FROM metrics.signal_status_totals WHERE n = 0;";

/// Folds every pending delta into the rollups, [`FOLD_BATCH`] at a time; returns how many delta
/// rows it folded.
pub(crate) async fn fold_deltas(tx: &DatabaseTransaction) -> Result<u64, StoreError> {
    let what = "maintenance: fold rollup deltas";
    let mut folded = 0;
    loop {
        let (signals, messages, statuses) = tx
            .query_one_raw(stmt(FOLD_SQL, [FOLD_BATCH.into()]))
            .await
            .map_err(|e| map_db_err(what, e))?
            .map(|r| {
                Ok::<_, sea_orm::DbErr>((
                    r.try_get_by_index::<i64>(0)?,
                    r.try_get_by_index::<i64>(1)?,
                    r.try_get_by_index::<i64>(2)?,
                ))
            })
            .transpose()
            .map_err(|e| map_db_err(what, e))?
            .unwrap_or((0, 0, 0));
        folded += signals + messages + statuses;
        if signals.max(messages).max(statuses) < FOLD_BATCH {
            break;
        }
    }
    if folded > 0 {
        tx.execute_unprepared(EMPTY_SQL)
            .await
            .map_err(|e| map_db_err(what, e))?;
    }
    Ok(u64::try_from(folded).unwrap_or(0))
}

/// Before `drop_chunks(older_than => before)` on the message archive: blocks writes to it until
/// the run commits and records, as negative deltas, the messages of the chunks about to go
/// (every row older than the newest end among them), since dropping a chunk fires no trigger.
pub(crate) async fn count_dropped_messages(
    tx: &DatabaseTransaction,
    before: DateTime<Utc>,
) -> Result<(), StoreError> {
    let what = "maintenance: message totals before drop_chunks";
    let boundary = tx
        .query_one_raw(stmt(
            "SELECT pg_catalog.max(range_end) FROM timescaledb_information.chunks
             WHERE hypertable_schema = 'forwarded_messages' AND hypertable_name = 'messages'
               AND range_end <= $1",
            [before.into()],
        ))
        .await
        .map_err(|e| map_db_err(what, e))?
        .map(|r| r.try_get_by_index::<Option<DateTime<Utc>>>(0))
        .transpose()
        .map_err(|e| map_db_err(what, e))?
        .flatten();
    let Some(boundary) = boundary else {
        return Ok(());
    };
    tx.execute_unprepared("LOCK TABLE forwarded_messages.messages IN SHARE ROW EXCLUSIVE MODE")
        .await
        .map_err(|e| map_db_err(what, e))?;
    tx.execute_raw(stmt(
        "INSERT INTO metrics.channel_message_delta (channel_id, outcome, n)
         SELECT channel_id, outcome, -pg_catalog.count(*) FROM forwarded_messages.messages
         WHERE message_date < $1 GROUP BY 1, 2",
        [boundary.into()],
    ))
    .await
    .map_err(|e| map_db_err(what, e))?;
    Ok(())
}

/// Records the retention this run applied (0 = keep), for `tp-capital-migrate status`.
pub(crate) async fn record_retention(
    tx: &DatabaseTransaction,
    message_days: i32,
    signal_days: i32,
    method: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.execute_raw(stmt(
        "INSERT INTO metrics.retention_applied AS r
           (singleton, message_retention_days, signal_retention_days, method, applied_at)
         VALUES (TRUE, $1, $2, $3, $4)
         ON CONFLICT (singleton) DO UPDATE SET message_retention_days = $1,
           signal_retention_days = $2, method = $3, applied_at = $4",
        [
            message_days.into(),
            signal_days.into(),
            method.into(),
            now.into(),
        ],
    ))
    .await
    .map_err(|e| map_db_err("maintenance: record retention", e))?;
    Ok(())
}

/// Marks `expired` every `open` signal valid until a day before `today` (B3), with its history
/// entry; returns the events to publish once committed.
pub(crate) async fn expire_signals(
    tx: &DatabaseTransaction,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Vec<SignalEvent>, StoreError> {
    let what = "maintenance: expire signals";
    let rows = tx
        .query_all_raw(stmt(
            "WITH expired AS (
               UPDATE signals.signals SET status = 'expired', target_index = NULL, updated_at = $2
               WHERE status = 'open' AND deleted_at IS NULL AND valid_until < $1
               RETURNING id, channel_id, asset, valid_until
             ), history AS (
               INSERT INTO signals.status_events (signal_id, status, at, reason)
               SELECT id, 'expired', $2, 'valid until ' || valid_until::text || ' (B3 time) passed'
               FROM expired
             )
             SELECT id, channel_id, asset FROM expired ORDER BY id",
            [today.into(), now.into()],
        ))
        .await
        .map_err(|e| map_db_err(what, e))?;
    rows.iter()
        .map(|r| {
            let get = |c: &str| r.try_get::<i64>("", c).map_err(|e| map_db_err(what, e));
            let asset: String = r.try_get("", "asset").map_err(|e| map_db_err(what, e))?;
            Ok(SignalEvent {
                kind: SignalEventKind::StatusChanged,
                signal_id: SignalId(get("id")?),
                channel_id: ChannelId(get("channel_id")?),
                asset: Ticker::parse(&asset)
                    .ok_or_else(|| corrupt(format!("{what}: asset '{asset}'")))?,
                status: SignalStatus::Expired,
                at: now,
                traceparent: None,
            })
        })
        .collect()
}
