//! [`SignalStore`]: one [`StoreTransaction`] per ingest batch. Every method is one statement
//! whatever the batch size: batches travel as binary arrays, one per column, expanded by
//! `unnest`. New signals and archived messages go through the inserts the legacy importer
//! shares (`crate::signal_insert`, `crate::message_insert`).

mod params;

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::model::{ChannelId, MessageId, Signal, SignalId, StatusChange, Ticker, without_nul};
use domain::ports::{
    ArchiveEntry, BatchStats, DateWindow, NewSignal, SignalStore, StoreError, StoreTransaction,
};
use sea_orm::QueryResult;
use sea_orm::sqlx::postgres::{PgArguments, PgRow, Postgres};
use sea_orm::sqlx::query::Query;
use sea_orm::sqlx::{self, Row};

use crate::error::map_sqlx;
use crate::message_insert::{
    ArchiveAnswer, DeliveryKey, MessageArrays, MessageInsert, first_deliveries, insert_messages_sql,
};
use crate::rows::{SIGNAL_COLUMNS, SignalLayout};
use crate::signal_insert::{OnLegacyConflict, SignalArrays, insert_signals_sql, micros};
use crate::store::{PgStore, timed};
use params::{
    CHANGE_STATUS_SQL, LEARN_TITLES_SQL, message_insert, revise_sql, signal_insert, status_parts,
};

type PgQuery<'q> = Query<'q, Postgres, PgArguments>;

#[async_trait]
impl SignalStore for PgStore {
    async fn begin(&self) -> Result<Box<dyn StoreTransaction>, StoreError> {
        let limit = self.opts.acquire_timeout + self.opts.connect_timeout;
        // BEGIN runs in a task of its own. Cancelled between sending BEGIN and reading its
        // answer, it left the pooled connection inside a transaction nobody tracked (the next
        // user's BEGIN warned "there is already a transaction in progress"); abandoned at the
        // deadline instead, the task completes and its drop rolls the transaction back.
        let pool = self.db.get_postgres_connection_pool().clone();
        let started = tokio::spawn(async move { pool.begin().await });
        let tx = timed(limit, "begin", async {
            started
                .await
                .map_err(|e| StoreError::Internal(format!("begin: {e}")))?
                .map_err(|e| map_sqlx("begin", &e))
        })
        .await?;
        Ok(Box::new(PgTransaction {
            tx,
            timeout: self.opts.operation_timeout,
        }))
    }
}

/// An open transaction, on sqlx directly so the batch inserts bind binary arrays with NULLs in
/// them (sea-orm's values cannot); dropping it without commit rolls back.
struct PgTransaction {
    tx: sqlx::Transaction<'static, Postgres>,
    timeout: std::time::Duration,
}

impl PgTransaction {
    async fn query(&mut self, what: &str, query: PgQuery<'_>) -> Result<Vec<PgRow>, StoreError> {
        let conn = &mut *self.tx;
        timed(self.timeout, what, async {
            query
                .fetch_all(&mut *conn)
                .await
                .map_err(|e| map_sqlx(what, &e))
        })
        .await
    }

    /// The signals `query` reads (rows of [`SIGNAL_COLUMNS`]).
    async fn signals(&mut self, what: &str, query: PgQuery<'_>) -> Result<Vec<Signal>, StoreError> {
        let rows: Vec<QueryResult> = self
            .query(what, query)
            .await?
            .into_iter()
            .map(QueryResult::from)
            .collect();
        let Some(layout) = SignalLayout::of(&rows, false)? else {
            return Ok(Vec::new());
        };
        rows.iter()
            .map(|r| layout.record(r)?.into_signal())
            .collect()
    }

    /// Runs `query`, which returns a row when the signal it names exists; else `NotFound`.
    async fn found(&mut self, what: &str, query: PgQuery<'_>) -> Result<(), StoreError> {
        if self.query(what, query).await?.is_empty() {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn execute(&mut self, what: &str, query: PgQuery<'_>) -> Result<u64, StoreError> {
        let conn = &mut *self.tx;
        timed(self.timeout, what, async {
            query
                .execute(&mut *conn)
                .await
                .map(|r| r.rows_affected())
                .map_err(|e| map_sqlx(what, &e))
        })
        .await
    }
}

/// A column of a row the statement itself returns.
fn column<'r, T>(what: &str, row: &'r PgRow, name: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    row.try_get(name).map_err(|e| map_sqlx(what, &e))
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
        let what = "archive";
        let query =
            MessageArrays::of(&batch).bind(sqlx::query(insert_messages_sql(ArchiveAnswer::Keys)));
        let stored: HashSet<DeliveryKey> = self
            .query(what, query)
            .await?
            .iter()
            .map(|r| {
                Ok((
                    column(what, r, "channel_id")?,
                    column(what, r, "message_id")?,
                    column(what, r, "edit_date")?,
                ))
            })
            .collect::<Result<_, StoreError>>()?;
        let mut fresh = vec![false; entries.len()];
        for (i, r) in firsts {
            fresh[i] = stored.contains(&r.delivery_key());
        }
        Ok(fresh)
    }

    async fn signals_for_messages(
        &mut self,
        keys: &[(ChannelId, MessageId)],
        dated: Option<DateWindow>,
    ) -> Result<Vec<Signal>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let channels: Vec<i64> = keys.iter().map(|(c, _)| c.0).collect();
        let messages: Vec<i64> = keys.iter().map(|(_, m)| m.0).collect();
        // Locked in id order so concurrent batches cannot deadlock on each other. The date bounds
        // exclude chunks when the (generic) plan starts; without them every chunk is probed.
        fn sql(dated: &str) -> String {
            format!(
                "SELECT {SIGNAL_COLUMNS} FROM signals.signals s
                 WHERE (s.channel_id, s.message_id) IN
                   (SELECT k.c, k.m FROM unnest($1::bigint[], $2::bigint[]) AS k(c, m)){dated}
                 ORDER BY s.id
                 FOR UPDATE OF s"
            )
        }
        static ANY_DATE: LazyLock<String> = LazyLock::new(|| sql(""));
        static DATED: LazyLock<String> =
            LazyLock::new(|| sql("\n                   AND s.message_date BETWEEN $3 AND $4"));
        let query = match dated {
            None => sqlx::query(ANY_DATE.as_str()).bind(channels).bind(messages),
            Some(w) => sqlx::query(DATED.as_str())
                .bind(channels)
                .bind(messages)
                .bind(w.from)
                .bind(w.to),
        };
        self.signals("signals_for_messages", query).await
    }

    async fn insert_signals(&mut self, signals: &[NewSignal]) -> Result<Vec<SignalId>, StoreError> {
        if signals.is_empty() {
            return Ok(Vec::new());
        }
        let what = "insert_signals";
        let rows: Vec<_> = signals.iter().map(signal_insert).collect();
        let query = SignalArrays::of(&rows)
            .bind(sqlx::query(insert_signals_sql(OnLegacyConflict::ReturnIds)));
        let ids: HashMap<(i64, i64), i64> = self
            .query(what, query)
            .await?
            .iter()
            .map(|r| {
                Ok((
                    (
                        column(what, r, "channel_id")?,
                        column(what, r, "message_id")?,
                    ),
                    column(what, r, "id")?,
                ))
            })
            .collect::<Result<_, StoreError>>()?;
        signals
            .iter()
            .map(|s| {
                ids.get(&(s.channel_id.0, s.message_id.0))
                    .map(|id| SignalId(*id))
                    .ok_or_else(|| {
                        StoreError::Internal(format!(
                            "{what}: no id returned for {}/{}",
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
        static SQL: LazyLock<String> = LazyLock::new(revise_sql);
        let row = [signal_insert(revision)];
        let query = SignalArrays::of(&row)
            .bind(sqlx::query(SQL.as_str()))
            .bind(id.0)
            .bind(revision.revision);
        self.found("revise_signal", query).await
    }

    async fn latest_open_signal(
        &mut self,
        channel_id: ChannelId,
        asset: &Ticker,
    ) -> Result<Option<Signal>, StoreError> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT {SIGNAL_COLUMNS} FROM signals.signals s
                 WHERE s.channel_id = $1 AND s.asset = $2
                   AND s.status IN ('open', 'target_hit') AND s.deleted_at IS NULL
                 ORDER BY s.message_date DESC, s.id DESC
                 LIMIT 1
                 FOR UPDATE OF s"
            )
        });
        let query = sqlx::query(SQL.as_str())
            .bind(channel_id.0)
            .bind(asset.as_str());
        let signals = self.signals("latest_open_signal", query).await?;
        Ok(signals.into_iter().next())
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
        let query = sqlx::query(CHANGE_STATUS_SQL)
            .bind(id.0)
            .bind(status)
            .bind(index)
            .bind(micros(change.at))
            .bind(channel)
            .bind(message)
            .bind(without_nul(&change.reason).into_owned());
        self.found("change_status", query).await
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
        let query = sqlx::query(
            "UPDATE forwarded_messages.messages SET deleted_at = $3
             WHERE channel_id = $1 AND message_id = ANY($2::bigint[]) AND deleted_at IS NULL",
        )
        .bind(channel_id.0)
        .bind(ids)
        .bind(micros(at));
        self.execute("mark_deleted", query).await
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
        let query = sqlx::query(LEARN_TITLES_SQL).bind(channels).bind(labels);
        self.execute("learn_channel_titles", query).await?;
        Ok(())
    }

    async fn record_stats(
        &mut self,
        stats: &BatchStats,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let int = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
        let query = sqlx::query(
            "INSERT INTO metrics.processing_stats
               (recorded_at, received, signals, updates, ignored, rejected, duplicates, edits,
                duration_us)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(micros(at))
        .bind(int(stats.received))
        .bind(int(stats.signals))
        .bind(int(stats.updates))
        .bind(int(stats.ignored))
        .bind(int(stats.rejected))
        .bind(int(stats.duplicates))
        .bind(int(stats.edits))
        .bind(i64::try_from(stats.duration_us).unwrap_or(i64::MAX));
        self.execute("record_stats", query).await?;
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        let limit = self.timeout;
        timed(limit, "commit", async {
            self.tx.commit().await.map_err(|e| map_sqlx("commit", &e))
        })
        .await
    }
}
