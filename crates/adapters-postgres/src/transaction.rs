//! [`SignalStore`]: one [`StoreTransaction`] per ingest batch. Every method is one statement
//! whatever the batch size: batches travel as one JSON parameter expanded by
//! `json_to_recordset`, which keeps NULLs, exact decimals (as strings) and microsecond times.
//! New signals and archived messages go through the inserts the legacy importer shares
//! (`crate::signal_insert`, `crate::message_insert`).

mod params;

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::model::{ChannelId, MessageId, Signal, SignalId, StatusChange, Ticker, without_nul};
use domain::ports::{
    ArchiveEntry, BatchStats, NewSignal, SignalStore, StoreError, StoreTransaction,
};
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, FromQueryResult, Statement, TransactionTrait, Value,
};

use crate::error::map_db_err;
use crate::rows::{SIGNAL_COLUMNS, SignalRecord};
use crate::store::{PgStore, timed};

use crate::message_insert::{
    ArchiveAnswer, DeliveryKey, MessageBatch, MessageInsert, first_deliveries, insert_messages_sql,
};
use crate::signal_insert::{OnLegacyConflict, insert_signals_sql, micros};
use params::{
    CHANGE_STATUS_SQL, LEARN_TITLES_SQL, json_param, message_insert, revise_sql, signal_insert,
    status_parts, stmt,
};

#[async_trait]
impl SignalStore for PgStore {
    async fn begin(&self) -> Result<Box<dyn StoreTransaction>, StoreError> {
        let limit = self.opts.acquire_timeout + self.opts.connect_timeout;
        // BEGIN runs in a task of its own. Cancelled between sending BEGIN and reading its
        // answer, it left the pooled connection inside a transaction nobody tracked (the next
        // user's BEGIN warned "there is already a transaction in progress"); abandoned at the
        // deadline instead, the task completes and its drop rolls the transaction back.
        let db = self.db.clone();
        let started = tokio::spawn(async move { db.begin().await });
        let tx = timed(limit, "begin", async {
            started
                .await
                .map_err(|e| StoreError::Internal(format!("begin: {e}")))?
                .map_err(|e| map_db_err("begin", e))
        })
        .await?;
        Ok(Box::new(PgTransaction {
            tx,
            timeout: self.opts.operation_timeout,
        }))
    }
}

/// An open transaction; dropping it without commit rolls back.
struct PgTransaction {
    tx: DatabaseTransaction,
    timeout: std::time::Duration,
}

impl PgTransaction {
    async fn query(
        &self,
        what: &str,
        stmt: Statement,
    ) -> Result<Vec<sea_orm::QueryResult>, StoreError> {
        timed(self.timeout, what, async {
            self.tx
                .query_all_raw(stmt)
                .await
                .map_err(|e| map_db_err(what, e))
        })
        .await
    }

    /// The signals `stmt` reads (rows of [`SIGNAL_COLUMNS`]).
    async fn signals(&self, what: &str, stmt: Statement) -> Result<Vec<Signal>, StoreError> {
        self.query(what, stmt)
            .await?
            .iter()
            .map(|r| {
                SignalRecord::from_query_result(r, "")
                    .map_err(|e| map_db_err(what, e))?
                    .into_signal()
            })
            .collect()
    }

    /// Runs `stmt`, which returns a row when the signal it names exists; else `NotFound`.
    async fn found(&self, what: &str, stmt: Statement) -> Result<(), StoreError> {
        if self.query(what, stmt).await?.is_empty() {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn execute(&self, what: &str, stmt: Statement) -> Result<u64, StoreError> {
        timed(self.timeout, what, async {
            self.tx
                .execute_raw(stmt)
                .await
                .map(|r| r.rows_affected())
                .map_err(|e| map_db_err(what, e))
        })
        .await
    }
}
#[async_trait]
impl StoreTransaction for PgTransaction {
    async fn archive(&mut self, entries: &[ArchiveEntry<'_>]) -> Result<Vec<bool>, StoreError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<MessageInsert<'_>> = entries.iter().map(message_insert).collect();
        let firsts = first_deliveries(&rows);
        let batch: Vec<&MessageInsert<'_>> = firsts.iter().map(|(_, r)| *r).collect();
        let param = json_param("archive", &batch)?;
        let stored: HashSet<DeliveryKey> = self
            .query(
                "archive",
                stmt(
                    insert_messages_sql(MessageBatch::Json, ArchiveAnswer::Keys),
                    [param],
                ),
            )
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get::<i64>("", "channel_id")?,
                    r.try_get::<i64>("", "message_id")?,
                    r.try_get::<Option<DateTime<Utc>>>("", "edit_date")?,
                ))
            })
            .collect::<Result<_, sea_orm::DbErr>>()
            .map_err(|e| map_db_err("archive", e))?;
        let mut fresh = vec![false; entries.len()];
        for (i, r) in firsts {
            fresh[i] = stored.contains(&r.delivery_key());
        }
        Ok(fresh)
    }

    async fn signals_for_messages(
        &mut self,
        keys: &[(ChannelId, MessageId)],
    ) -> Result<Vec<Signal>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let channels: Vec<i64> = keys.iter().map(|(c, _)| c.0).collect();
        let messages: Vec<i64> = keys.iter().map(|(_, m)| m.0).collect();
        // Locked in id order so concurrent batches cannot deadlock on each other.
        let sql = format!(
            "SELECT {SIGNAL_COLUMNS} FROM signals.signals s
             WHERE (s.channel_id, s.message_id) IN
               (SELECT k.c, k.m FROM unnest($1::bigint[], $2::bigint[]) AS k(c, m))
             ORDER BY s.id
             FOR UPDATE OF s"
        );
        let values = [channels.into(), messages.into()];
        self.signals("signals_for_messages", stmt(&sql, values))
            .await
    }

    async fn insert_signals(&mut self, signals: &[NewSignal]) -> Result<Vec<SignalId>, StoreError> {
        if signals.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<_> = signals.iter().map(signal_insert).collect();
        let param = json_param("insert_signals", &rows)?;
        let sql = insert_signals_sql(OnLegacyConflict::ReturnIds);
        let ids: HashMap<(i64, i64), i64> = self
            .query("insert_signals", stmt(sql, [param]))
            .await?
            .iter()
            .map(|r| {
                Ok((
                    (
                        r.try_get::<i64>("", "channel_id")?,
                        r.try_get::<i64>("", "message_id")?,
                    ),
                    r.try_get::<i64>("", "id")?,
                ))
            })
            .collect::<Result<_, sea_orm::DbErr>>()
            .map_err(|e| map_db_err("insert_signals", e))?;
        signals
            .iter()
            .map(|s| {
                ids.get(&(s.channel_id.0, s.message_id.0))
                    .map(|id| SignalId(*id))
                    .ok_or_else(|| {
                        StoreError::Internal(format!(
                            "insert_signals: no id returned for {}/{}",
                            s.channel_id, s.message_id
                        ))
                    })
            })
            .collect()
    }

    async fn revise_signal(
        &mut self,
        id: SignalId,
        revision: &NewSignal,
    ) -> Result<(), StoreError> {
        let param = json_param("revise_signal", &signal_insert(revision))?;
        let values = [id.0.into(), param, revision.revision.into()];
        self.found("revise_signal", stmt(&revise_sql(), values))
            .await
    }

    async fn latest_open_signal(
        &mut self,
        channel_id: ChannelId,
        asset: &Ticker,
    ) -> Result<Option<Signal>, StoreError> {
        let sql = format!(
            "SELECT {SIGNAL_COLUMNS} FROM signals.signals s
             WHERE s.channel_id = $1 AND s.asset = $2
               AND s.status IN ('open', 'target_hit') AND s.deleted_at IS NULL
             ORDER BY s.message_date DESC, s.id DESC
             LIMIT 1
             FOR UPDATE OF s"
        );
        let values = [channel_id.0.into(), asset.as_str().into()];
        let signals = self.signals("latest_open_signal", stmt(&sql, values));
        Ok(signals.await?.into_iter().next())
    }

    async fn change_status(
        &mut self,
        id: SignalId,
        change: &StatusChange,
    ) -> Result<(), StoreError> {
        let (status, index) = status_parts(change.status);
        let (channel, message) = change
            .message
            .map_or((None, None), |(c, m)| (Some(c.0), Some(m.0)));
        let values: [Value; 7] = [
            id.0.into(),
            status.into(),
            index.into(),
            micros(change.at).into(),
            channel.into(),
            message.into(),
            without_nul(&change.reason).into_owned().into(),
        ];
        self.found("change_status", stmt(CHANGE_STATUS_SQL, values))
            .await
    }

    async fn mark_deleted(
        &mut self,
        channel_id: ChannelId,
        message_ids: &[MessageId],
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        if message_ids.is_empty() {
            return Ok(0);
        }
        let ids: Vec<i64> = message_ids.iter().map(|m| m.0).collect();
        self.execute(
            "mark_deleted",
            stmt(
                "UPDATE forwarded_messages.messages SET deleted_at = $3
                 WHERE channel_id = $1 AND message_id = ANY($2::bigint[]) AND deleted_at IS NULL",
                [channel_id.0.into(), ids.into(), micros(at).into()],
            ),
        )
        .await
    }

    async fn learn_channel_titles(
        &mut self,
        titles: &[(ChannelId, String)],
    ) -> Result<(), StoreError> {
        if titles.is_empty() {
            return Ok(());
        }
        // In channel order, so concurrent batches lock the rows in one order (no deadlock).
        let mut titles: Vec<&(ChannelId, String)> = titles.iter().collect();
        titles.sort_by_key(|(c, _)| *c);
        titles.dedup_by_key(|(c, _)| *c);
        let channels: Vec<i64> = titles.iter().map(|(c, _)| c.0).collect();
        let labels: Vec<String> = titles
            .iter()
            .map(|(_, t)| without_nul(t).into_owned())
            .collect();
        self.execute(
            "learn_channel_titles",
            stmt(LEARN_TITLES_SQL, [channels.into(), labels.into()]),
        )
        .await?;
        Ok(())
    }

    async fn record_stats(
        &mut self,
        stats: &BatchStats,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let int = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
        let values: [Value; 9] = [
            micros(at).into(),
            int(stats.received).into(),
            int(stats.signals).into(),
            int(stats.updates).into(),
            int(stats.ignored).into(),
            int(stats.rejected).into(),
            int(stats.duplicates).into(),
            int(stats.edits).into(),
            i64::try_from(stats.duration_us).unwrap_or(i64::MAX).into(),
        ];
        self.execute(
            "record_stats",
            stmt(
                "INSERT INTO metrics.processing_stats
                   (recorded_at, received, signals, updates, ignored, rejected, duplicates, edits,
                    duration_us)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                values,
            ),
        )
        .await?;
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        let limit = self.timeout;
        timed(limit, "commit", async {
            self.tx.commit().await.map_err(|e| map_db_err("commit", e))
        })
        .await
    }
}
