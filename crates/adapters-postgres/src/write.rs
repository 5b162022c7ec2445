//! The write side: one [`StoreTransaction`] per ingest batch. Every method is one statement
//! whatever the batch size: batches travel as one JSON parameter expanded by
//! `jsonb_to_recordset`, which keeps NULLs, exact decimals (as strings) and microsecond times.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use domain::model::{
    ChannelId, MessageId, Price, Signal, SignalId, SignalStatus, StatusChange, Ticker, TradeCall,
};
use domain::ports::{
    ArchiveEntry, BatchStats, NewSignal, SignalStore, StoreError, StoreTransaction,
};
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, FromQueryResult, Statement, TransactionTrait,
    Value,
};
use serde::Serialize;

use crate::error::map_db_err;
use crate::rows::{SIGNAL_COLUMNS, SignalRecord};
use crate::store::{PgStore, timed};

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

fn stmt(sql: &str, values: impl IntoIterator<Item = Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// PostgreSQL keeps microseconds: every time is truncated to them before it is sent, so the
/// values returned compare equal to the ones sent.
fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

fn ts(t: DateTime<Utc>) -> String {
    micros(t).format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// PostgreSQL text and jsonb cannot hold NUL; it becomes U+FFFD rather than failing the batch
/// forever on every retry.
fn clean(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

fn clean_json(v: &serde_json::Value) -> Cow<'_, serde_json::Value> {
    fn has_nul(v: &serde_json::Value) -> bool {
        match v {
            serde_json::Value::String(s) => s.contains('\0'),
            serde_json::Value::Array(a) => a.iter().any(has_nul),
            serde_json::Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
            _ => false,
        }
    }
    fn scrub(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::String(s) => serde_json::Value::String(clean(s).into_owned()),
            serde_json::Value::Array(a) => a.iter().map(scrub).collect(),
            serde_json::Value::Object(o) => o
                .iter()
                .map(|(k, v)| (clean(k).into_owned(), scrub(v)))
                .collect(),
            other => other.clone(),
        }
    }
    if has_nul(v) {
        Cow::Owned(scrub(v))
    } else {
        Cow::Borrowed(v)
    }
}

fn json_param<T: Serialize>(what: &str, rows: &T) -> Result<Value, StoreError> {
    serde_json::to_string(rows)
        .map(Value::from)
        .map_err(|e| StoreError::Internal(format!("{what}: encoding the batch: {e}")))
}

#[derive(Serialize)]
struct ArchiveRow<'a> {
    channel_id: i64,
    message_id: i64,
    message_date: String,
    edit_date: Option<String>,
    text: Cow<'a, str>,
    media_type: Option<Cow<'a, str>>,
    source: Option<Cow<'a, str>>,
    metadata: Cow<'a, serde_json::Value>,
    outcome: &'a str,
    reason: Option<Cow<'a, str>>,
    parser_version: &'a str,
}

type DeliveryKey = (i64, i64, Option<DateTime<Utc>>);

const ARCHIVE_SQL: &str = "\
WITH x AS (
  SELECT * FROM jsonb_to_recordset($1::text::jsonb) AS x(
    channel_id bigint, message_id bigint, message_date timestamptz, edit_date timestamptz,
    text text, media_type text, source text, metadata jsonb, outcome text, reason text,
    parser_version text)
), claimed AS (
  INSERT INTO forwarded_messages.delivery_keys AS k (channel_id, message_id, edit_date)
  SELECT channel_id, message_id, edit_date FROM x
  ON CONFLICT DO NOTHING
  RETURNING k.channel_id, k.message_id, k.edit_date
)
INSERT INTO forwarded_messages.messages AS m
  (channel_id, message_id, message_date, edit_date, text, media_type, source, metadata,
   outcome, reason, parser_version)
SELECT x.channel_id, x.message_id, x.message_date, x.edit_date, x.text, x.media_type, x.source,
       COALESCE(x.metadata, '{}'::jsonb), x.outcome, x.reason, x.parser_version
FROM x JOIN claimed c ON c.channel_id = x.channel_id AND c.message_id = x.message_id
                     AND c.edit_date IS NOT DISTINCT FROM x.edit_date
ON CONFLICT (channel_id, message_id, edit_date, message_date) DO NOTHING
RETURNING m.channel_id, m.message_id, m.edit_date";

/// A call as the JSON batch carries it: prices as exact decimal strings.
#[derive(Serialize)]
struct CallJson<'a> {
    asset: &'a str,
    kind: Option<&'static str>,
    direction: &'static str,
    entry_min: Option<String>,
    entry_max: Option<String>,
    targets: Vec<String>,
    target_final: Option<String>,
    stop: Option<String>,
    valid_until: Option<String>,
    warnings: Vec<Cow<'a, str>>,
}

impl<'a> CallJson<'a> {
    fn new(call: &'a TradeCall) -> Self {
        let p = |p: Price| p.value().to_string();
        Self {
            asset: call.asset.as_str(),
            kind: call.kind.map(|k| k.as_str()),
            direction: match call.direction {
                domain::model::Direction::Long => "long",
                domain::model::Direction::Short => "short",
            },
            entry_min: call.entry.map(|e| p(e.min())),
            entry_max: call.entry.map(|e| p(e.max())),
            targets: call.targets.iter().copied().map(p).collect(),
            target_final: call.target_final.map(p),
            stop: call.stop.map(p),
            valid_until: call.valid_until.map(|d| d.format("%Y-%m-%d").to_string()),
            warnings: call.warnings.iter().map(|w| clean(w)).collect(),
        }
    }
}

#[derive(Serialize)]
struct SignalJson<'a> {
    channel_id: i64,
    message_id: i64,
    message_date: String,
    edit_date: Option<String>,
    revision: i32,
    #[serde(flatten)]
    call: CallJson<'a>,
    raw_message: Cow<'a, str>,
    parser_version: &'a str,
    source: Option<Cow<'a, str>>,
    recorded_at: String,
}

impl<'a> SignalJson<'a> {
    fn new(s: &'a NewSignal) -> Self {
        Self {
            channel_id: s.channel_id.0,
            message_id: s.message_id.0,
            message_date: ts(s.message_date),
            edit_date: s.edit_date.map(ts),
            revision: s.revision,
            call: CallJson::new(&s.call),
            raw_message: clean(&s.raw_message),
            parser_version: &s.parser_version,
            source: s.source.as_deref().map(clean),
            recorded_at: ts(s.recorded_at),
        }
    }
}

/// The column list of a call inside `jsonb_to_recordset`.
const CALL_RECORD: &str = "asset text, kind text, direction text, entry_min numeric, \
    entry_max numeric, targets numeric[], target_final numeric, stop numeric, valid_until date, \
    warnings jsonb";

fn insert_signals_sql() -> String {
    format!(
        "INSERT INTO signals.signals AS s
  (channel_id, message_id, message_date, edit_date, revision, asset, kind, direction, entry_min,
   entry_max, targets, target_final, stop, valid_until, status, raw_message, parser_version,
   warnings, source, created_at, updated_at)
SELECT x.channel_id, x.message_id, x.message_date, x.edit_date, 1, x.asset, x.kind, x.direction,
       x.entry_min, x.entry_max, COALESCE(x.targets, '{{}}'), x.target_final, x.stop,
       x.valid_until, 'open', x.raw_message, x.parser_version, COALESCE(x.warnings, '[]'),
       x.source, x.recorded_at, x.recorded_at
FROM jsonb_to_recordset($1::text::jsonb) AS x(
  channel_id bigint, message_id bigint, message_date timestamptz, edit_date timestamptz,
  {CALL_RECORD}, raw_message text, parser_version text, source text, recorded_at timestamptz)
RETURNING s.id, s.channel_id, s.message_id"
    )
}

/// Keeps the current revision in the history, then replaces it; one statement, the row locked.
fn revise_sql() -> String {
    format!(
        "WITH cur AS (
  SELECT * FROM signals.signals WHERE id = $1 FOR UPDATE
), saved AS (
  INSERT INTO signals.signal_revisions
    (signal_id, revision, edit_date, asset, kind, direction, entry_min, entry_max, targets,
     target_final, stop, valid_until, warnings, raw_message, parser_version, recorded_at)
  SELECT id, revision, edit_date, asset, kind, direction, entry_min, entry_max, targets,
         target_final, stop, valid_until, warnings, raw_message, parser_version,
         COALESCE(revised_at, created_at)
  FROM cur
  ON CONFLICT (signal_id, revision) DO NOTHING
)
UPDATE signals.signals AS s
SET revision = x.revision, edit_date = x.edit_date, asset = x.asset, kind = x.kind,
    direction = x.direction, entry_min = x.entry_min, entry_max = x.entry_max,
    targets = COALESCE(x.targets, '{{}}'), target_final = x.target_final, stop = x.stop,
    valid_until = x.valid_until, warnings = COALESCE(x.warnings, '[]'),
    raw_message = x.raw_message, parser_version = x.parser_version,
    updated_at = x.recorded_at, revised_at = x.recorded_at
FROM cur, jsonb_to_record($2::text::jsonb) AS x(
  revision integer, edit_date timestamptz, {CALL_RECORD}, raw_message text,
  parser_version text, recorded_at timestamptz)
WHERE s.id = cur.id AND s.message_date = cur.message_date
RETURNING s.id"
    )
}

const CHANGE_STATUS_SQL: &str = "\
WITH changed AS (
  UPDATE signals.signals SET status = $2, target_index = $3, updated_at = $4
  WHERE id = $1
  RETURNING id
)
INSERT INTO signals.status_events (signal_id, status, target_index, at, channel_id, message_id, reason)
SELECT id, $2, $3, $4, $5, $6, $7 FROM changed
RETURNING signal_id";

/// A learned title replaces no label an operator set, and writes nothing when unchanged.
const LEARN_TITLES_SQL: &str = "\
INSERT INTO signals.channels AS ch (channel_id, label, label_learned)
SELECT x.channel_id, x.label, true
FROM unnest($1::bigint[], $2::text[]) AS x(channel_id, label)
ON CONFLICT (channel_id) DO UPDATE SET label = EXCLUDED.label, label_learned = true,
  updated_at = pg_catalog.now()
WHERE (ch.label IS NULL OR ch.label_learned) AND ch.label IS DISTINCT FROM EXCLUDED.label";

fn status_parts(status: SignalStatus) -> (String, Option<i16>) {
    (
        status.as_str().to_owned(),
        status.target_index().map(i16::from),
    )
}

#[async_trait]
impl StoreTransaction for PgTransaction {
    async fn archive(&mut self, entries: &[ArchiveEntry<'_>]) -> Result<Vec<bool>, StoreError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let key = |e: &ArchiveEntry<'_>| -> DeliveryKey {
            let m = e.message;
            (m.channel_id.0, m.message_id.0, m.edit_date.map(micros))
        };
        // Only the first delivery of a key within the call is sent; rows go in key order so
        // concurrent batches wait on each other in one order (no deadlock).
        let mut seen = HashSet::with_capacity(entries.len());
        let mut firsts: Vec<(usize, &ArchiveEntry<'_>)> = entries
            .iter()
            .enumerate()
            .filter(|(_, e)| seen.insert(key(e)))
            .collect();
        firsts.sort_by_key(|(_, e)| key(e));
        let rows: Vec<ArchiveRow<'_>> = firsts
            .iter()
            .map(|(_, e)| {
                let m = e.message;
                ArchiveRow {
                    channel_id: m.channel_id.0,
                    message_id: m.message_id.0,
                    message_date: ts(m.date),
                    edit_date: m.edit_date.map(ts),
                    text: clean(&m.text),
                    media_type: m.media_type.as_deref().map(clean),
                    source: m.source.as_deref().map(clean),
                    metadata: clean_json(&m.metadata),
                    outcome: e.outcome,
                    reason: e.reason.map(clean),
                    parser_version: e.parser_version,
                }
            })
            .collect();
        let param = json_param("archive", &rows)?;
        let stored: HashSet<DeliveryKey> = self
            .query("archive", stmt(ARCHIVE_SQL, [param]))
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
        for (i, e) in firsts {
            fresh[i] = stored.contains(&key(e));
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
        let rows = self
            .query(
                "signals_for_messages",
                stmt(&sql, [channels.into(), messages.into()]),
            )
            .await?;
        rows.iter()
            .map(|r| {
                SignalRecord::from_query_result(r, "")
                    .map_err(|e| map_db_err("signals_for_messages", e))?
                    .into_signal()
            })
            .collect()
    }

    async fn insert_signals(&mut self, signals: &[NewSignal]) -> Result<Vec<SignalId>, StoreError> {
        if signals.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<SignalJson<'_>> = signals.iter().map(SignalJson::new).collect();
        let param = json_param("insert_signals", &rows)?;
        let ids: HashMap<(i64, i64), i64> = self
            .query("insert_signals", stmt(&insert_signals_sql(), [param]))
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
        let param = json_param("revise_signal", &SignalJson::new(revision))?;
        let rows = self
            .query("revise_signal", stmt(&revise_sql(), [id.0.into(), param]))
            .await?;
        if rows.is_empty() {
            return Err(StoreError::NotFound);
        }
        Ok(())
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
        let rows = self
            .query(
                "latest_open_signal",
                stmt(&sql, [channel_id.0.into(), asset.as_str().into()]),
            )
            .await?;
        rows.first()
            .map(|r| {
                SignalRecord::from_query_result(r, "")
                    .map_err(|e| map_db_err("latest_open_signal", e))?
                    .into_signal()
            })
            .transpose()
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
            clean(&change.reason).into_owned().into(),
        ];
        let rows = self
            .query("change_status", stmt(CHANGE_STATUS_SQL, values))
            .await?;
        if rows.is_empty() {
            return Err(StoreError::NotFound);
        }
        Ok(())
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
        let labels: Vec<String> = titles.iter().map(|(_, t)| clean(t).into_owned()).collect();
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
