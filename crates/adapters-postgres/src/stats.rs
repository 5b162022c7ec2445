//! Channels with their activity and the signal statistics, read from the exact rollups of
//! migration `m20251207_000013_exact_rollups` plus their pending deltas: triggers keep both in
//! the transaction of every write, so each answer equals a direct count at once, on every
//! edition. The newest signal or message of a group is read where the rollups say it is
//! (`crate::newest`), in the same snapshot as the counts.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::model::{ChannelId, Ticker};
use domain::ports::{
    AssetStats, ChannelDirectory, ChannelStats, ChannelSummary, ChannelUpdate, GroupStats,
    HourlyCount, OutcomeCounts, SignalStatistics, SignalStats, StatsQuery, StoreError,
};
use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseTransaction, DbBackend, IsolationLevel, Statement,
    TransactionTrait,
};

use crate::call::parse_kind;
use crate::error::{corrupt, map_db_err};
use crate::newest::{Group, Scope, newest_messages, newest_signals};
use crate::reads::Sql;
use crate::store::PgStore;

/// The hourly rollup rows and pending deltas in the window as a `hourly` CTE.
fn hourly_cte(
    sql: &mut Sql,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    channel: Option<ChannelId>,
    asset: Option<&Ticker>,
) {
    let mut filter = String::new();
    if let Some(from) = from {
        let f = sql.bind(from);
        filter.push_str(&format!(
            " AND bucket >= pg_catalog.date_trunc('hour', {f})"
        ));
    }
    if let Some(to) = to {
        let t = sql.bind(to);
        filter.push_str(&format!(" AND bucket <= {t}"));
    }
    if let Some(channel) = channel {
        let c = sql.bind(channel.0);
        filter.push_str(&format!(" AND channel_id = {c}"));
    }
    if let Some(asset) = asset {
        let a = sql.bind(asset.as_str().to_owned());
        filter.push_str(&format!(" AND asset = {a}"));
    }
    const COLUMNS: &str = "bucket, channel_id, asset, signal_count, range_sum, range_n, \
                           upside_sum, upside_n, downside_sum, downside_n";
    sql.push(&format!(
        "WITH hourly AS (
           SELECT {COLUMNS} FROM metrics.signal_rollup WHERE TRUE{filter}
           UNION ALL
           SELECT {COLUMNS} FROM metrics.signal_rollup_delta WHERE TRUE{filter}
         )"
    ));
}

/// The newest hour a group of `hourly` rows counts a live signal in, or a later one: an upper
/// bound of its newest signal's hour (`crate::newest`).
const NEWEST_HOUR: &str = "pg_catalog.max(bucket) FILTER (WHERE signal_count > 0) AS newest_hour";

/// Count and averages of a group of `hourly` rows (percentages for upside and downside).
const MEASURES: &str = "pg_catalog.sum(signal_count)::bigint AS n,
    (pg_catalog.sum(range_sum) / NULLIF(pg_catalog.sum(range_n), 0))::float8 AS avg_range,
    (pg_catalog.sum(upside_sum) / NULLIF(pg_catalog.sum(upside_n), 0) * 100)::float8 AS avg_upside_pct,
    (pg_catalog.sum(downside_sum) / NULLIF(pg_catalog.sum(downside_n), 0) * 100)::float8 AS avg_downside_pct";

impl PgStore {
    async fn channel_summaries(
        &self,
        channel: Option<ChannelId>,
    ) -> Result<Vec<ChannelSummary>, StoreError> {
        let mut sql = Sql::default();
        let (filter, settings_filter) = match channel {
            Some(c) => {
                let p = sql.bind(c.0);
                (
                    format!(" WHERE channel_id = {p}"),
                    format!(" WHERE ch.channel_id = {p}"),
                )
            }
            None => Default::default(),
        };
        sql.push(&format!(
            "WITH sig AS (
               SELECT channel_id, pg_catalog.sum(signal_count)::bigint AS signal_count,
                      pg_catalog.max(hour) AS delta_hour
               FROM (SELECT channel_id, signal_count, NULL::timestamptz AS hour
                     FROM metrics.channel_signal_totals{filter}
                     UNION ALL
                     SELECT channel_id, signal_count, CASE WHEN signal_count > 0 THEN bucket END
                     FROM metrics.signal_rollup_delta{filter}) x
               GROUP BY channel_id HAVING pg_catalog.sum(signal_count) <> 0
             ),
             msg AS (
               SELECT channel_id,
                      pg_catalog.sum(n) FILTER (WHERE outcome = 'signal')::bigint AS n_signal,
                      pg_catalog.sum(n) FILTER (WHERE outcome = 'update')::bigint AS n_update,
                      pg_catalog.sum(n) FILTER (WHERE outcome = 'ignored')::bigint AS n_ignored,
                      pg_catalog.sum(n) FILTER (WHERE outcome = 'rejected')::bigint AS n_rejected
               FROM (SELECT channel_id, outcome, n FROM metrics.channel_message_totals{filter}
                     UNION ALL
                     SELECT channel_id, outcome, n FROM metrics.channel_message_delta{filter}) x
               GROUP BY channel_id HAVING pg_catalog.sum(n) <> 0
             ),
             ids AS (
               SELECT ch.channel_id FROM signals.channels ch{settings_filter}
               UNION SELECT channel_id FROM sig
               UNION SELECT channel_id FROM msg
             )
             SELECT ids.channel_id, c.label, c.default_kind,
                    COALESCE(sig.signal_count, 0) AS signal_count,
                    CASE WHEN sig.signal_count > 0 THEN GREATEST(sig.delta_hour,
                      (SELECT r.bucket FROM metrics.signal_rollup r
                       WHERE r.channel_id = ids.channel_id AND r.signal_count > 0
                       ORDER BY r.bucket DESC LIMIT 1)) END AS newest_hour,
                    COALESCE(msg.n_signal, 0) AS n_signal, COALESCE(msg.n_update, 0) AS n_update,
                    COALESCE(msg.n_ignored, 0) AS n_ignored, COALESCE(msg.n_rejected, 0) AS n_rejected
             FROM ids
             LEFT JOIN signals.channels c ON c.channel_id = ids.channel_id
             LEFT JOIN sig ON sig.channel_id = ids.channel_id
             LEFT JOIN msg ON msg.channel_id = ids.channel_id
             ORDER BY ids.channel_id"
        ));
        let what = "list_channels";
        self.timed(what, async {
            let tx = snapshot(self, what).await?;
            let rows = tx
                .query_all_raw(sql.statement())
                .await
                .map_err(|e| map_db_err(what, e))?;
            let mut summaries = Vec::with_capacity(rows.len());
            let mut hours = Vec::new();
            let mut with_messages = Vec::new();
            for r in &rows {
                let get_i64 = |c: &str| r.try_get::<i64>("", c).map_err(|e| map_db_err(what, e));
                let count = |c: &str| get_i64(c).map(|n| u64::try_from(n).unwrap_or(0));
                let channel_id = get_i64("channel_id")?;
                let default_kind: Option<String> = r
                    .try_get("", "default_kind")
                    .map_err(|e| map_db_err(what, e))?;
                let newest_hour: Option<DateTime<Utc>> = r
                    .try_get("", "newest_hour")
                    .map_err(|e| map_db_err(what, e))?;
                if let Some(hour) = newest_hour {
                    hours.push((Group::Channel(channel_id), hour));
                }
                let messages = OutcomeCounts {
                    signal: count("n_signal")?,
                    update: count("n_update")?,
                    ignored: count("n_ignored")?,
                    rejected: count("n_rejected")?,
                };
                if messages.signal + messages.update + messages.ignored + messages.rejected > 0 {
                    with_messages.push(channel_id);
                }
                summaries.push(ChannelSummary {
                    channel_id: ChannelId(channel_id),
                    label: r.try_get("", "label").map_err(|e| map_db_err(what, e))?,
                    default_kind: default_kind
                        .map(|k| parse_kind(&format!("channel {channel_id}"), &k))
                        .transpose()?,
                    signal_count: count("signal_count")?,
                    last_signal_at: None,
                    messages,
                    last_message_at: None,
                });
            }
            let signals = newest_signals(&tx, &hours, &Scope::default()).await?;
            let messages = newest_messages(&tx, &with_messages, Utc::now()).await?;
            tx.commit().await.map_err(|e| map_db_err(what, e))?;
            for s in &mut summaries {
                s.last_signal_at = signals.get(&Group::Channel(s.channel_id.0)).copied();
                s.last_message_at = messages.get(&s.channel_id.0).copied();
            }
            Ok(summaries)
        })
        .await
    }
}

/// A read-only transaction on one snapshot: the counts and the newest-time probes after them
/// see the same rows.
async fn snapshot(store: &PgStore, what: &str) -> Result<DatabaseTransaction, StoreError> {
    store
        .db
        .begin_with_config(
            Some(IsolationLevel::RepeatableRead),
            Some(AccessMode::ReadOnly),
        )
        .await
        .map_err(|e| map_db_err(what, e))
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

#[async_trait]
impl SignalStatistics for PgStore {
    async fn count_by_status(&self) -> Result<Vec<(&'static str, u64)>, StoreError> {
        crate::status_counts::count_by_status(self).await
    }

    async fn signal_stats(&self, q: &StatsQuery) -> Result<SignalStats, StoreError> {
        let mut sql = Sql::default();
        hourly_cte(&mut sql, q.from, q.to, q.channel, q.asset.as_ref());
        let top = sql.bind(i64::from(q.top_assets.max(1)));
        sql.push(&format!(
            "
             SELECT
               (SELECT COALESCE(pg_catalog.json_agg(pg_catalog.json_build_object('bucket', bucket, 'n', n) ORDER BY bucket), '[]')
                FROM (SELECT bucket, pg_catalog.sum(signal_count)::bigint AS n FROM hourly
                      GROUP BY bucket HAVING pg_catalog.sum(signal_count) > 0) x) AS by_hour,
               (SELECT COALESCE(pg_catalog.json_agg(pg_catalog.row_to_json(x) ORDER BY x.n DESC, x.asset), '[]')
                FROM (SELECT asset, {MEASURES}, {NEWEST_HOUR} FROM hourly GROUP BY asset
                      HAVING pg_catalog.sum(signal_count) > 0
                      ORDER BY n DESC, asset LIMIT {top}) x) AS by_asset,
               (SELECT COALESCE(pg_catalog.json_agg(pg_catalog.row_to_json(y) ORDER BY y.n DESC, y.channel_id), '[]')
                FROM (SELECT x.*, c.label
                      FROM (SELECT channel_id, {MEASURES}, {NEWEST_HOUR} FROM hourly GROUP BY channel_id
                            HAVING pg_catalog.sum(signal_count) > 0) x
                      LEFT JOIN signals.channels c ON c.channel_id = x.channel_id) y) AS by_channel",
        ));
        let what = "signal_stats";
        self.timed(what, async {
            let tx = snapshot(self, what).await?;
            let rows = tx
                .query_all_raw(sql.statement())
                .await
                .map_err(|e| map_db_err(what, e))?;
            let row = rows
                .first()
                .ok_or_else(|| StoreError::Internal(format!("{what}: no row")))?;
            let json = |c: &str| -> Result<Vec<serde_json::Value>, StoreError> {
                let v = row
                    .try_get::<serde_json::Value>("", c)
                    .map_err(|e| map_db_err(what, e))?;
                Ok(v.as_array().cloned().unwrap_or_default())
            };
            let by_hour: Vec<HourlyCount> = json("by_hour")?
                .iter()
                .map(|h| {
                    Ok(HourlyCount {
                        bucket: timestamp(&h["bucket"])
                            .ok_or_else(|| corrupt(format!("{what}: bucket {}", h["bucket"])))?,
                        signal_count: h["n"].as_u64().unwrap_or(0),
                    })
                })
                .collect::<Result<_, StoreError>>()?;
            let mut hours = Vec::new();
            let mut by_asset: Vec<AssetStats> = json("by_asset")?
                .iter()
                .filter_map(|a| {
                    let asset = Ticker::parse(a["asset"].as_str()?)?;
                    if let Some(hour) = timestamp(&a["newest_hour"]) {
                        hours.push((Group::Asset(asset.as_str().to_owned()), hour));
                    }
                    Some(AssetStats {
                        asset,
                        stats: group(a),
                    })
                })
                .collect();
            let mut by_channel: Vec<ChannelStats> = json("by_channel")?
                .iter()
                .filter_map(|c| {
                    let channel_id = c["channel_id"].as_i64()?;
                    if let Some(hour) = timestamp(&c["newest_hour"]) {
                        hours.push((Group::Channel(channel_id), hour));
                    }
                    Some(ChannelStats {
                        channel_id: ChannelId(channel_id),
                        label: c["label"].as_str().map(str::to_owned),
                        stats: group(c),
                    })
                })
                .collect();
            let scope = Scope {
                channel: q.channel.map(|c| c.0),
                asset: q.asset.as_ref().map(|a| a.as_str().to_owned()),
                from: q.from,
            };
            let newest = newest_signals(&tx, &hours, &scope).await?;
            tx.commit().await.map_err(|e| map_db_err(what, e))?;
            for a in &mut by_asset {
                a.stats.last_signal_at = newest
                    .get(&Group::Asset(a.asset.as_str().to_owned()))
                    .copied();
            }
            for c in &mut by_channel {
                c.stats.last_signal_at = newest.get(&Group::Channel(c.channel_id.0)).copied();
            }
            Ok(SignalStats {
                total: by_hour.iter().map(|h| h.signal_count).sum(),
                by_hour,
                by_asset,
                by_channel,
            })
        })
        .await
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
        last_signal_at: None,
    }
}
