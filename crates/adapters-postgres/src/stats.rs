//! [`SignalStatistics`]: the signal statistics, read from the exact rollups of migration
//! `m20251207_000013_exact_rollups` plus their pending deltas (triggers keep both in the
//! transaction of every write, so each answer equals a direct count at once, on every edition),
//! and the live signals per status. The newest signal of a group is read where the rollups say
//! it is (`crate::newest`), in the same snapshot as the counts.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::model::{ChannelId, SignalStatus, Ticker};
use domain::ports::{
    AssetStats, ChannelStats, GroupStats, HourlyCount, SignalStatistics, SignalStats, StatsQuery,
    StoreError,
};
use sea_orm::sea_query::{
    CommonTableExpression, Condition, Expr, ExprTrait, Query, UnionType, WithClause,
};
use sea_orm::{DbBackend, Statement};

use crate::error::{corrupt, map_db_err};
use crate::newest::{Group, Scope, newest_signals};
use crate::store::PgStore;

/// The hourly rollup rows and pending deltas in the window and scope of `q`: the `hourly` CTE.
fn hourly(q: &StatsQuery) -> CommonTableExpression {
    let mut scope = Condition::all();
    if let Some(from) = q.from {
        let hour = Expr::cust_with_values("pg_catalog.date_trunc('hour', $1)", [from]);
        scope = scope.add(Expr::col("bucket").gte(hour));
    }
    if let Some(to) = q.to {
        scope = scope.add(Expr::col("bucket").lte(to));
    }
    if let Some(channel) = q.channel {
        scope = scope.add(Expr::col("channel_id").eq(channel.0));
    }
    if let Some(asset) = &q.asset {
        scope = scope.add(Expr::col("asset").eq(asset.as_str()));
    }
    let rows = |table: &'static str| {
        Query::select()
            .columns(HOURLY_COLUMNS)
            .from(("metrics", table))
            .cond_where(scope.clone())
            .to_owned()
    };
    let union = rows("signal_rollup")
        .union(UnionType::All, rows("signal_rollup_delta"))
        .to_owned();
    CommonTableExpression::new()
        .query(union)
        .table_name("hourly")
        .to_owned()
}

const HOURLY_COLUMNS: [&str; 10] = [
    "bucket",
    "channel_id",
    "asset",
    "signal_count",
    "range_sum",
    "range_n",
    "upside_sum",
    "upside_n",
    "downside_sum",
    "downside_n",
];

/// The newest hour a group of `hourly` rows counts a live signal in, or a later one: an upper
/// bound of its newest signal's hour (`crate::newest`).
const NEWEST_HOUR: &str = "pg_catalog.max(bucket) FILTER (WHERE signal_count > 0) AS newest_hour";

/// Count and averages of a group of `hourly` rows (percentages for upside and downside).
const MEASURES: &str = "pg_catalog.sum(signal_count)::bigint AS n,
    (pg_catalog.sum(range_sum) / NULLIF(pg_catalog.sum(range_n), 0))::float8 AS avg_range,
    (pg_catalog.sum(upside_sum) / NULLIF(pg_catalog.sum(upside_n), 0) * 100)::float8 AS avg_upside_pct,
    (pg_catalog.sum(downside_sum) / NULLIF(pg_catalog.sum(downside_n), 0) * 100)::float8 AS avg_downside_pct";

/// Signals per hour.
const BY_HOUR: &str = "(SELECT COALESCE(pg_catalog.json_agg(pg_catalog.json_build_object('bucket', bucket, 'n', n) ORDER BY bucket), '[]')
    FROM (SELECT bucket, pg_catalog.sum(signal_count)::bigint AS n FROM hourly
          GROUP BY bucket HAVING pg_catalog.sum(signal_count) > 0) x)";

/// The `$1` most signalled assets.
fn by_asset() -> String {
    format!(
        "(SELECT COALESCE(pg_catalog.json_agg(pg_catalog.row_to_json(x) ORDER BY x.n DESC, x.asset), '[]')
    FROM (SELECT asset, {MEASURES}, {NEWEST_HOUR} FROM hourly GROUP BY asset
          HAVING pg_catalog.sum(signal_count) > 0
          ORDER BY n DESC, asset LIMIT $1) x)"
    )
}

/// Every channel with signals, with its label.
fn by_channel() -> String {
    format!(
        "(SELECT COALESCE(pg_catalog.json_agg(pg_catalog.row_to_json(y) ORDER BY y.n DESC, y.channel_id), '[]')
    FROM (SELECT x.*, c.label
          FROM (SELECT channel_id, {MEASURES}, {NEWEST_HOUR} FROM hourly GROUP BY channel_id
                HAVING pg_catalog.sum(signal_count) > 0) x
          LEFT JOIN signals.channels c ON c.channel_id = x.channel_id) y)"
    )
}

#[async_trait]
impl SignalStatistics for PgStore {
    async fn count_by_status(&self) -> Result<Vec<(&'static str, u64)>, StoreError> {
        let what = "count_by_status";
        let stmt = Statement::from_string(
            DbBackend::Postgres,
            "SELECT status, pg_catalog.sum(n)::bigint AS n FROM (
               SELECT status, n FROM metrics.signal_status_totals
               UNION ALL SELECT status, n FROM metrics.signal_status_delta) x
             GROUP BY status",
        );
        let rows = self.query_all(what, stmt).await?;
        let mut counts: Vec<(&'static str, u64)> = SignalStatus::NAMES.map(|n| (n, 0)).to_vec();
        for row in rows {
            let status: String = row.try_get("", "status").map_err(|e| map_db_err(what, e))?;
            let n: i64 = row.try_get("", "n").map_err(|e| map_db_err(what, e))?;
            if let Some(entry) = counts.iter_mut().find(|(name, _)| *name == status) {
                entry.1 = u64::try_from(n).unwrap_or(0);
            }
        }
        Ok(counts)
    }

    async fn signal_stats(&self, q: &StatsQuery) -> Result<SignalStats, StoreError> {
        let top = i64::from(std::cmp::max(q.top_assets, 1));
        // The aggregates over `hourly` stay SQL text (json_agg per grouping); sea-query builds
        // the filtered CTE and binds every value.
        let select = Query::select()
            .expr_as(Expr::cust(BY_HOUR), "by_hour")
            .expr_as(Expr::cust_with_values(by_asset(), [top]), "by_asset")
            .expr_as(Expr::cust(by_channel()), "by_channel")
            .to_owned();
        let sql =
            DbBackend::Postgres.build(&select.with(WithClause::new().cte(hourly(q)).to_owned()));
        let what = "signal_stats";
        self.timed(what, async {
            let (tx, rows) = self.snapshot_query(what, sql).await?;
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
