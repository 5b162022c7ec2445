//! The api's read side beyond the signal list: the message archive (listing, re-parse reads and
//! re-classification), channels with their activity, statistics from the hourly aggregate, and
//! the change feed behind the live stream's catch-up.
//!
//! Statistics and channel signal counts read `metrics.signals_hourly`. Under the Timescale
//! license it is a real-time continuous aggregate; otherwise it is a materialized view refreshed
//! by the maintenance task, so the recent hours — the last [`LIVE_DAYS`] days, and every hour
//! from the view's newest bucket on — are aggregated from `signals.signals` directly: new,
//! edited and deleted signals count at once. Older hours are as of the last refresh.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::model::{ChannelId, Message, MessageId, Ticker};
use domain::ports::{
    ArchivedMessage, AssetStats, ChangeCursor, ChannelDirectory, ChannelStats, ChannelSummary,
    ChannelUpdate, GroupStats, HourlyCount, MessageArchive, MessageCursor, MessageOutcome,
    MessagePage, MessageQuery, OutcomeCounts, Reclassification, ReparseSelection, SignalChanges,
    SignalRow, SignalStatistics, SignalStats, StatsQuery, StoreError,
};
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, QueryResult, Statement, Value};

use crate::error::{corrupt, map_db_err};
use crate::maintenance::AggregateMode;
use crate::rows::{ROW_EXTRA_COLUMNS, SIGNAL_COLUMNS, parse_kind, signal_row};
use crate::store::PgStore;

/// Largest page the archive serves.
const MAX_LIMIT: u32 = 1000;

/// Days before now that statistics always aggregate live (where late messages, edits and
/// deletions happen), whatever the materialized view holds.
pub const LIVE_DAYS: u32 = 31;

/// SQL text and its parameters, numbered as they are bound.
#[derive(Default)]
struct Sql {
    text: String,
    values: Vec<Value>,
}

impl Sql {
    fn bind(&mut self, v: impl Into<Value>) -> String {
        self.values.push(v.into());
        format!("${}", self.values.len())
    }

    fn push(&mut self, text: &str) {
        self.text.push_str(text);
    }

    fn statement(self) -> Statement {
        Statement::from_sql_and_values(DbBackend::Postgres, self.text, self.values)
    }
}

/// One row of `forwarded_messages.messages`.
#[derive(Debug, FromQueryResult)]
struct MessageRecord {
    id: i64,
    channel_id: i64,
    message_id: i64,
    message_date: DateTime<Utc>,
    edit_date: Option<DateTime<Utc>>,
    text: String,
    media_type: Option<String>,
    source: Option<String>,
    metadata: serde_json::Value,
    outcome: String,
    reason: Option<String>,
    parser_version: String,
    received_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
}

const MESSAGE_COLUMNS: &str = "m.id, m.channel_id, m.message_id, m.message_date, m.edit_date, \
    m.text, m.media_type, m.source, m.metadata, m.outcome, m.reason, m.parser_version, \
    m.received_at, m.deleted_at";

impl MessageRecord {
    fn into_archived(self) -> Result<ArchivedMessage, StoreError> {
        let outcome = MessageOutcome::from_name(&self.outcome)
            .ok_or_else(|| corrupt(format!("message {}: outcome '{}'", self.id, self.outcome)))?;
        Ok(ArchivedMessage {
            id: self.id,
            message: Message {
                channel_id: ChannelId(self.channel_id),
                message_id: MessageId(self.message_id),
                text: self.text,
                date: self.message_date,
                edit_date: self.edit_date,
                media_type: self.media_type,
                source: self.source,
                metadata: self.metadata,
            },
            outcome,
            reason: self.reason,
            parser_version: self.parser_version,
            received_at: self.received_at,
            deleted_at: self.deleted_at,
        })
    }
}

fn outcome_names(outcomes: &[MessageOutcome]) -> Vec<String> {
    outcomes.iter().map(|o| o.as_str().to_owned()).collect()
}

impl PgStore {
    pub(crate) async fn rows(
        &self,
        what: &str,
        stmt: Statement,
    ) -> Result<Vec<QueryResult>, StoreError> {
        self.timed(what, async {
            self.db
                .query_all_raw(stmt)
                .await
                .map_err(|e| map_db_err(what, e))
        })
        .await
    }

    async fn messages(&self, what: &str, sql: Sql) -> Result<Vec<ArchivedMessage>, StoreError> {
        self.rows(what, sql.statement())
            .await?
            .iter()
            .map(|r| {
                MessageRecord::from_query_result(r, "")
                    .map_err(|e| map_db_err(what, e))?
                    .into_archived()
            })
            .collect()
    }

    /// The hourly rows (`bucket, channel_id, asset, signal_count, avg_range, avg_upside_pct,
    /// avg_downside_pct, last_signal_at`) as a `hourly` CTE, real-time in every mode, with the
    /// filters pushed into each branch.
    async fn hourly_cte(
        &self,
        sql: &mut Sql,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        channel: Option<ChannelId>,
        asset: Option<&Ticker>,
    ) -> Result<(), StoreError> {
        let mode = self.capabilities().await?.aggregate;
        let mut view_filter = String::new();
        let mut raw_filter = String::new();
        if let Some(from) = from {
            let f = sql.bind(from);
            view_filter.push_str(&format!(
                " AND h.bucket >= pg_catalog.date_trunc('hour', {f})"
            ));
            raw_filter.push_str(&format!(
                " AND s.message_date >= pg_catalog.date_trunc('hour', {f})"
            ));
        }
        if let Some(to) = to {
            let t = sql.bind(to);
            view_filter.push_str(&format!(" AND h.bucket <= {t}"));
            raw_filter.push_str(&format!(
                " AND s.message_date < pg_catalog.date_trunc('hour', {t}) + INTERVAL '1 hour'"
            ));
        }
        if let Some(channel) = channel {
            let c = sql.bind(channel.0);
            view_filter.push_str(&format!(" AND h.channel_id = {c}"));
            raw_filter.push_str(&format!(" AND s.channel_id = {c}"));
        }
        if let Some(asset) = asset {
            let a = sql.bind(asset.as_str().to_owned());
            view_filter.push_str(&format!(" AND h.asset = {a}"));
            raw_filter.push_str(&format!(" AND s.asset = {a}"));
        }
        let view = format!(
            "SELECT h.bucket, h.channel_id, h.asset, h.signal_count::bigint AS signal_count,
                    h.avg_range::float8 AS avg_range, h.avg_upside_pct::float8 AS avg_upside_pct,
                    h.avg_downside_pct::float8 AS avg_downside_pct, h.last_signal_at
             FROM metrics.signals_hourly h WHERE TRUE{view_filter}"
        );
        let cte = match mode {
            AggregateMode::ContinuousAggregate => format!("WITH hourly AS ({view})"),
            AggregateMode::MaterializedView => format!(
                "WITH mark AS (
                   SELECT LEAST(
                            COALESCE(pg_catalog.max(bucket), '-infinity'::timestamptz),
                            pg_catalog.date_trunc('hour', pg_catalog.now() - INTERVAL '{LIVE_DAYS} days')
                          ) AS bucket
                   FROM metrics.signals_hourly
                 ),
                 hourly AS (
                   {view} AND h.bucket < (SELECT bucket FROM mark)
                   UNION ALL
                   SELECT pg_catalog.date_trunc('hour', s.message_date AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
                          s.channel_id, s.asset, pg_catalog.count(*)::bigint,
                          pg_catalog.avg(s.entry_max - s.entry_min)::float8,
                          (pg_catalog.avg(CASE WHEN s.direction = 'long'
                               THEN (s.target_final - s.entry_max) / NULLIF(s.entry_max, 0)
                               ELSE (s.entry_min - s.target_final) / NULLIF(s.entry_min, 0) END) * 100)::float8,
                          (pg_catalog.avg(CASE WHEN s.direction = 'long'
                               THEN (s.entry_min - s.stop) / NULLIF(s.entry_min, 0)
                               ELSE (s.stop - s.entry_max) / NULLIF(s.entry_max, 0) END) * 100)::float8,
                          pg_catalog.max(s.message_date)
                   FROM signals.signals s
                   WHERE s.deleted_at IS NULL AND s.message_date >= (SELECT bucket FROM mark){raw_filter}
                   GROUP BY 1, 2, 3
                 )"
            ),
        };
        sql.push(&cte);
        Ok(())
    }

    async fn channel_summaries(
        &self,
        channel: Option<ChannelId>,
    ) -> Result<Vec<ChannelSummary>, StoreError> {
        let mut sql = Sql::default();
        self.hourly_cte(&mut sql, None, None, channel, None).await?;
        let (msg_filter, settings_filter, outer_filter) = match channel {
            Some(c) => {
                let p = sql.bind(c.0);
                (
                    format!(" WHERE m.channel_id = {p}"),
                    format!(" WHERE ch.channel_id = {p}"),
                    format!(" WHERE ids.channel_id = {p}"),
                )
            }
            None => Default::default(),
        };
        sql.push(&format!(
            ",
             sig AS (
               SELECT channel_id, pg_catalog.sum(signal_count)::bigint AS signal_count,
                      pg_catalog.max(last_signal_at) AS last_signal_at
               FROM hourly GROUP BY channel_id
             ),
             msg AS (
               SELECT m.channel_id,
                      pg_catalog.count(*) FILTER (WHERE m.outcome = 'signal') AS n_signal,
                      pg_catalog.count(*) FILTER (WHERE m.outcome = 'update') AS n_update,
                      pg_catalog.count(*) FILTER (WHERE m.outcome = 'ignored') AS n_ignored,
                      pg_catalog.count(*) FILTER (WHERE m.outcome = 'rejected') AS n_rejected,
                      pg_catalog.max(m.message_date) AS last_message_at
               FROM forwarded_messages.messages m{msg_filter}
               GROUP BY m.channel_id
             ),
             ids AS (
               SELECT ch.channel_id FROM signals.channels ch{settings_filter}
               UNION SELECT channel_id FROM sig
               UNION SELECT channel_id FROM msg
             )
             SELECT ids.channel_id, c.label, c.default_kind,
                    COALESCE(sig.signal_count, 0) AS signal_count, sig.last_signal_at,
                    COALESCE(msg.n_signal, 0) AS n_signal, COALESCE(msg.n_update, 0) AS n_update,
                    COALESCE(msg.n_ignored, 0) AS n_ignored, COALESCE(msg.n_rejected, 0) AS n_rejected,
                    msg.last_message_at
             FROM ids
             LEFT JOIN signals.channels c ON c.channel_id = ids.channel_id
             LEFT JOIN sig ON sig.channel_id = ids.channel_id
             LEFT JOIN msg ON msg.channel_id = ids.channel_id{outer_filter}
             ORDER BY ids.channel_id"
        ));
        let what = "list_channels";
        self.rows(what, sql.statement())
            .await?
            .iter()
            .map(|r| {
                let get_i64 = |c: &str| r.try_get::<i64>("", c).map_err(|e| map_db_err(what, e));
                let count = |c: &str| get_i64(c).map(|n| u64::try_from(n).unwrap_or(0));
                let channel_id = get_i64("channel_id")?;
                let default_kind: Option<String> = r
                    .try_get("", "default_kind")
                    .map_err(|e| map_db_err(what, e))?;
                Ok(ChannelSummary {
                    channel_id: ChannelId(channel_id),
                    label: r.try_get("", "label").map_err(|e| map_db_err(what, e))?,
                    default_kind: default_kind
                        .map(|k| parse_kind(&format!("channel {channel_id}"), &k))
                        .transpose()?,
                    signal_count: count("signal_count")?,
                    last_signal_at: r
                        .try_get("", "last_signal_at")
                        .map_err(|e| map_db_err(what, e))?,
                    messages: OutcomeCounts {
                        signal: count("n_signal")?,
                        update: count("n_update")?,
                        ignored: count("n_ignored")?,
                        rejected: count("n_rejected")?,
                    },
                    last_message_at: r
                        .try_get("", "last_message_at")
                        .map_err(|e| map_db_err(what, e))?,
                })
            })
            .collect()
    }
}

#[async_trait]
impl MessageArchive for PgStore {
    async fn list_messages(&self, q: &MessageQuery) -> Result<MessagePage, StoreError> {
        let limit = q.limit.clamp(1, MAX_LIMIT);
        let mut sql = Sql::default();
        sql.push(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM forwarded_messages.messages m WHERE TRUE"
        ));
        if let Some(c) = &q.cursor {
            let d = sql.bind(c.message_date);
            let id = sql.bind(c.id);
            sql.push(&format!(
                " AND m.message_date <= {d} AND (m.message_date, m.id) < ({d}, {id})"
            ));
        }
        if !q.outcomes.is_empty() {
            let o = sql.bind(outcome_names(&q.outcomes));
            sql.push(&format!(" AND m.outcome = ANY({o}::text[])"));
        }
        if let Some(c) = q.channel {
            let c = sql.bind(c.0);
            sql.push(&format!(" AND m.channel_id = {c}"));
        }
        if let Some(f) = q.from {
            let f = sql.bind(f);
            sql.push(&format!(" AND m.message_date >= {f}"));
        }
        if let Some(t) = q.to {
            let t = sql.bind(t);
            sql.push(&format!(" AND m.message_date <= {t}"));
        }
        let l = sql.bind(i64::from(limit) + 1);
        sql.push(&format!(
            " ORDER BY m.message_date DESC, m.id DESC LIMIT {l}"
        ));
        let mut rows = self.messages("list_messages", sql).await?;
        let next_cursor = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|r| MessageCursor {
                message_date: r.message.date,
                id: r.id,
            })
        } else {
            None
        };
        Ok(MessagePage { rows, next_cursor })
    }

    async fn messages_to_reparse(
        &self,
        selection: &ReparseSelection,
        after: Option<MessageCursor>,
        limit: u32,
    ) -> Result<Vec<ArchivedMessage>, StoreError> {
        let mut sql = Sql::default();
        sql.push(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM forwarded_messages.messages m WHERE TRUE"
        ));
        if let Some(c) = after {
            let d = sql.bind(c.message_date);
            let id = sql.bind(c.id);
            sql.push(&format!(
                " AND m.message_date >= {d} AND (m.message_date, m.id) > ({d}, {id})"
            ));
        }
        if !selection.outcomes.is_empty() {
            let o = sql.bind(outcome_names(&selection.outcomes));
            sql.push(&format!(" AND m.outcome = ANY({o}::text[])"));
        }
        if let Some(c) = selection.channel {
            let c = sql.bind(c.0);
            sql.push(&format!(" AND m.channel_id = {c}"));
        }
        if let Some(f) = selection.from {
            let f = sql.bind(f);
            sql.push(&format!(" AND m.message_date >= {f}"));
        }
        if let Some(t) = selection.to {
            let t = sql.bind(t);
            sql.push(&format!(" AND m.message_date <= {t}"));
        }
        let l = sql.bind(i64::from(limit.max(1)));
        sql.push(&format!(" ORDER BY m.message_date, m.id LIMIT {l}"));
        self.messages("messages_to_reparse", sql).await
    }

    async fn reclassify(&self, changes: &[Reclassification]) -> Result<u64, StoreError> {
        if changes.is_empty() {
            return Ok(0);
        }
        let rows: Vec<serde_json::Value> = changes
            .iter()
            .map(|c| {
                serde_json::json!({
                    "id": c.id,
                    "message_date": c.message_date,
                    "outcome": c.outcome.as_str(),
                    "reason": c.reason,
                    "parser_version": c.parser_version,
                })
            })
            .collect();
        let stmt = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE forwarded_messages.messages m
             SET outcome = x.outcome, reason = x.reason, parser_version = x.parser_version
             FROM pg_catalog.jsonb_to_recordset($1::jsonb)
                  AS x(id bigint, message_date timestamptz, outcome text, reason text, parser_version text)
             WHERE m.id = x.id AND m.message_date = x.message_date",
            [Value::from(serde_json::Value::Array(rows))],
        );
        self.timed("reclassify", async {
            self.db
                .execute_raw(stmt)
                .await
                .map(|r| r.rows_affected())
                .map_err(|e| map_db_err("reclassify", e))
        })
        .await
    }
}

#[async_trait]
impl ChannelDirectory for PgStore {
    async fn list_channels(&self) -> Result<Vec<ChannelSummary>, StoreError> {
        self.channel_summaries(None).await
    }

    async fn update_channel(
        &self,
        channel_id: ChannelId,
        update: &ChannelUpdate,
        at: DateTime<Utc>,
    ) -> Result<ChannelSummary, StoreError> {
        let (set_label, label) = match &update.label {
            Some(l) => (true, l.clone()),
            None => (false, None),
        };
        let (set_kind, kind) = match update.default_kind {
            Some(k) => (true, k.map(|k| k.as_str().to_owned())),
            None => (false, None),
        };
        let stmt = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO signals.channels AS ch (channel_id, label, default_kind, created_at, updated_at)
             VALUES ($1, CASE WHEN $2 THEN $3::text END, CASE WHEN $4 THEN $5::text END, $6, $6)
             ON CONFLICT (channel_id) DO UPDATE SET
               label = CASE WHEN $2 THEN $3::text ELSE ch.label END,
               label_learned = CASE WHEN $2 THEN false ELSE ch.label_learned END,
               default_kind = CASE WHEN $4 THEN $5::text ELSE ch.default_kind END,
               updated_at = $6",
            [
                channel_id.0.into(),
                set_label.into(),
                label.into(),
                set_kind.into(),
                kind.into(),
                at.into(),
            ],
        );
        self.timed("update_channel", async {
            self.db
                .execute_raw(stmt)
                .await
                .map(|_| ())
                .map_err(|e| map_db_err("update_channel", e))
        })
        .await?;
        self.channel_summaries(Some(channel_id))
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::Internal(format!("channel {channel_id} vanished")))
    }
}

/// `SUM(x * n) / SUM(n)` over the hourly rows where `x` is known: the average of `x` over the
/// group's signals, from hourly averages.
fn weighted(column: &str) -> String {
    format!(
        "(pg_catalog.sum({column} * signal_count) / NULLIF(pg_catalog.sum(signal_count) FILTER (WHERE {column} IS NOT NULL), 0))::float8"
    )
}

#[async_trait]
impl SignalStatistics for PgStore {
    async fn count_by_status(&self) -> Result<Vec<(&'static str, u64)>, StoreError> {
        crate::status_counts::count_by_status(self).await
    }

    async fn signal_stats(&self, q: &StatsQuery) -> Result<SignalStats, StoreError> {
        let mut sql = Sql::default();
        self.hourly_cte(&mut sql, q.from, q.to, q.channel, q.asset.as_ref())
            .await?;
        let top = sql.bind(i64::from(q.top_assets.max(1)));
        let measures = format!(
            "pg_catalog.sum(signal_count)::bigint AS n, {} AS avg_range, {} AS avg_upside_pct, {} AS avg_downside_pct, pg_catalog.max(last_signal_at) AS last_signal_at",
            weighted("avg_range"),
            weighted("avg_upside_pct"),
            weighted("avg_downside_pct"),
        );
        sql.push(&format!(
            "
             SELECT
               (SELECT COALESCE(pg_catalog.json_agg(pg_catalog.json_build_object('bucket', bucket, 'n', n) ORDER BY bucket), '[]')
                FROM (SELECT bucket, pg_catalog.sum(signal_count)::bigint AS n FROM hourly GROUP BY bucket) x) AS by_hour,
               (SELECT COALESCE(pg_catalog.json_agg(pg_catalog.row_to_json(x) ORDER BY x.n DESC, x.asset), '[]')
                FROM (SELECT asset, {measures} FROM hourly GROUP BY asset
                      ORDER BY n DESC, asset LIMIT {top}) x) AS by_asset,
               (SELECT COALESCE(pg_catalog.json_agg(pg_catalog.row_to_json(x) ORDER BY x.n DESC, x.channel_id), '[]')
                FROM (SELECT h.channel_id, c.label, {measures}
                      FROM hourly h LEFT JOIN signals.channels c ON c.channel_id = h.channel_id
                      GROUP BY h.channel_id, c.label) x) AS by_channel"
        ));
        let what = "signal_stats";
        let rows = self.rows(what, sql.statement()).await?;
        let row = rows
            .first()
            .ok_or_else(|| StoreError::Internal(format!("{what}: no row")))?;
        let json = |c: &str| -> Result<serde_json::Value, StoreError> {
            row.try_get::<serde_json::Value>("", c)
                .map_err(|e| map_db_err(what, e))
        };
        let by_hour: Vec<HourlyCount> = json("by_hour")?
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|h| {
                Ok(HourlyCount {
                    bucket: timestamp(&h["bucket"])
                        .ok_or_else(|| corrupt(format!("{what}: bucket {}", h["bucket"])))?,
                    signal_count: h["n"].as_u64().unwrap_or(0),
                })
            })
            .collect::<Result<_, StoreError>>()?;
        let by_asset = json("by_asset")?
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|a| {
                Some(AssetStats {
                    asset: Ticker::parse(a["asset"].as_str()?)?,
                    stats: group(a),
                })
            })
            .collect();
        let by_channel = json("by_channel")?
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|c| {
                Some(ChannelStats {
                    channel_id: ChannelId(c["channel_id"].as_i64()?),
                    label: c["label"].as_str().map(str::to_owned),
                    stats: group(c),
                })
            })
            .collect();
        Ok(SignalStats {
            total: by_hour.iter().map(|h| h.signal_count).sum(),
            by_hour,
            by_asset,
            by_channel,
        })
    }
}

fn timestamp(v: &serde_json::Value) -> Option<DateTime<Utc>> {
    let text = v.as_str()?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
        .or_else(|| {
            // json_build_object writes `2025-10-20T13:00:00+00:00`; accept the short offset too.
            DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%#z")
                .ok()
                .map(|t| t.with_timezone(&Utc))
        })
}

fn group(v: &serde_json::Value) -> GroupStats {
    GroupStats {
        signal_count: v["n"].as_u64().unwrap_or(0),
        avg_range: v["avg_range"].as_f64(),
        avg_upside_pct: v["avg_upside_pct"].as_f64(),
        avg_downside_pct: v["avg_downside_pct"].as_f64(),
        last_signal_at: timestamp(&v["last_signal_at"]),
    }
}

#[async_trait]
impl SignalChanges for PgStore {
    async fn changed_since(
        &self,
        after: ChangeCursor,
        limit: u32,
    ) -> Result<Vec<SignalRow>, StoreError> {
        let sql = format!(
            "SELECT {SIGNAL_COLUMNS}, {ROW_EXTRA_COLUMNS}
             FROM signals.signals s
             LEFT JOIN signals.channels c ON c.channel_id = s.channel_id
             WHERE s.updated_at >= $1 AND (s.updated_at, s.id) > ($1, $2)
             ORDER BY s.updated_at, s.id
             LIMIT $3"
        );
        let stmt = Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [
                after.at.into(),
                after.id.0.into(),
                i64::from(limit.clamp(1, MAX_LIMIT)).into(),
            ],
        );
        self.rows("changed_since", stmt)
            .await?
            .iter()
            .map(signal_row)
            .collect()
    }
}
