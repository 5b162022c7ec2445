//! The newest signal of a channel or asset and the newest message of a channel, exact, without
//! planning a probe over every chunk. A `max(message_date)` over the hypertable costs planning
//! for each of its chunks (100 weekly chunks at 2 M signals: 100+ ms for the probes of
//! `/channels`), so these probes read only where the answer is:
//! - signals: the exact rollups (with their pending deltas) name the newest hour in which a group
//!   may hold a live signal — any live signal has a rollup or delta row with a positive count in
//!   its hour, so no newer hour holds one. The probe reads that hour alone, its bounds written as
//!   literals so the planner keeps one chunk; the groups sharing an hour share one probe, planned
//!   once (measured at 2 M signals: 0.6–0.8 ms planning, 0.1–0.6 ms execution in all). When the hour holds no live signal after all (a
//!   deletion whose negative delta is not folded yet), the probe reads everything older instead.
//! - messages: windows of whole daily chunks as literals, newest first, each twice as long as the
//!   one before (as the signal list does), until every channel has its newest message.
//!
//! Both run in the caller's transaction, so they see the snapshot the counts were read in.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{
    Condition, Expr, ExprTrait, Func, Query, QueryStatementBuilder, SelectStatement, UnionType,
};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement, Value};

use crate::error::{corrupt, map_db_err};
use domain::ports::StoreError;

#[cfg(test)]
mod tests;

/// The column a group of signals shares: `channel_id` or `asset`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Group {
    Channel(i64),
    Asset(String),
}

impl Group {
    /// `s.channel_id = <id>` or `s.asset = <asset>`.
    fn condition(&self) -> Expr {
        match self {
            Group::Channel(id) => Expr::col(("s", "channel_id")).eq(*id),
            Group::Asset(asset) => Expr::col(("s", "asset")).eq(asset.as_str()),
        }
    }
}

/// Filters every probe shares: the statistics' channel and asset filters and the lower bound of
/// their window (the upper bound is the candidate hour's end).
#[derive(Debug, Default)]
pub(crate) struct Scope {
    pub(crate) channel: Option<i64>,
    pub(crate) asset: Option<String>,
    pub(crate) from: Option<DateTime<Utc>>,
}

impl Scope {
    /// The live signals of the scope below `before` (an SQL literal), and from `after` when given.
    fn condition(&self, after: Option<&str>, before: &str) -> Condition {
        let date = || Expr::col(("s", "message_date"));
        let mut c = Condition::all();
        if let Some(id) = self.channel {
            c = c.add(Expr::col(("s", "channel_id")).eq(id));
        }
        if let Some(a) = &self.asset {
            c = c.add(Expr::col(("s", "asset")).eq(a.as_str()));
        }
        if let Some(f) = self.from {
            let hour = Expr::cust_with_values("pg_catalog.date_trunc('hour', $1)", [f]);
            c = c.add(date().gte(hour));
        }
        c = c.add(Expr::col(("s", "deleted_at")).is_null());
        if let Some(after) = after {
            c = c.add(date().gte(Expr::cust(after.to_owned())));
        }
        c.add(date().lt(Expr::cust(before.to_owned())))
    }
}

/// The newest `message_date` of the signals `condition` keeps.
fn newest_probe(condition: Condition) -> SelectStatement {
    Query::select()
        .expr(Expr::cust("pg_catalog.max(s.message_date)"))
        .from_as(("signals", "signals"), "s")
        .cond_where(condition)
        .to_owned()
}

/// A time as an SQL literal (computed from the database's own rows, never from input).
fn literal(t: DateTime<Utc>) -> String {
    format!("'{}'::timestamptz", t.format("%Y-%m-%dT%H:%M:%S%.6fZ"))
}

async fn first_column(
    tx: &DatabaseTransaction,
    what: &str,
    stmt: Statement,
) -> Result<Vec<Option<DateTime<Utc>>>, StoreError> {
    tx.query_all_raw(stmt)
        .await
        .map_err(|e| map_db_err(what, e))?
        .iter()
        .map(|r| r.try_get_by_index::<Option<DateTime<Utc>>>(0))
        .collect::<Result<_, _>>()
        .map_err(|e| map_db_err(what, e))
}

/// One branch per hour and kind of group, their union: rows `by_channel, key, at`.
fn probes(groups: &[(Group, DateTime<Utc>)], scope: &Scope) -> Option<SelectStatement> {
    let mut channels: BTreeMap<DateTime<Utc>, Vec<i64>> = BTreeMap::new();
    let mut assets: BTreeMap<DateTime<Utc>, Vec<String>> = BTreeMap::new();
    for (group, hour) in groups {
        match group {
            Group::Channel(id) => channels.entry(*hour).or_default().push(*id),
            Group::Asset(a) => assets.entry(*hour).or_default().push(a.clone()),
        }
    }
    // Literal hour bounds (see the module header): the planner keeps that hour's chunk alone.
    let mut union: Option<SelectStatement> = None;
    let keyed = channels
        .into_iter()
        .map(|(hour, ids)| (hour, true, Value::from(ids)))
        .chain(
            assets
                .into_iter()
                .map(|(hour, names)| (hour, false, Value::from(names))),
        );
    for (hour, by_channel, keys) in keyed {
        let column = if by_channel { "channel_id" } else { "asset" };
        let probe = newest_probe(
            scope
                .condition(Some(&literal(hour)), &literal(hour + Duration::hours(1)))
                .add(Expr::col(("s", column)).equals(("k", "k"))),
        );
        let branch = Query::select()
            .expr_as(
                Expr::cust(if by_channel { "true" } else { "false" }),
                "by_channel",
            )
            .expr_as(Expr::cust("k.k::text"), "key")
            .expr_as(
                Expr::SubQuery(None, Box::new(probe.into_sub_query_statement())),
                "at",
            )
            .from_function(Func::cust("pg_catalog.unnest").arg(Expr::val(keys)), "k")
            .to_owned();
        union = Some(match union {
            None => branch,
            Some(mut u) => u.union(UnionType::All, branch).to_owned(),
        });
    }
    union
}

/// The newest live signal of each group, given the newest hour the rollups count one in for it
/// (groups without such an hour hold no live signal and are left out). One branch per hour and
/// kind of group: its probe is planned once over that hour's chunk and run for each group.
pub(crate) async fn newest_signals(
    tx: &DatabaseTransaction,
    groups: &[(Group, DateTime<Utc>)],
    scope: &Scope,
) -> Result<HashMap<Group, DateTime<Utc>>, StoreError> {
    let what = "newest signal";
    let mut out = HashMap::with_capacity(groups.len());
    if groups.is_empty() {
        return Ok(out);
    }
    let Some(union) = probes(groups, scope) else {
        return Ok(out);
    };
    let rows = tx
        .query_all_raw(DbBackend::Postgres.build(&union))
        .await
        .map_err(|e| map_db_err(what, e))?;
    for r in &rows {
        let read = |e| map_db_err(what, e);
        let key: String = r.try_get("", "key").map_err(read)?;
        let group = if r.try_get::<bool>("", "by_channel").map_err(read)? {
            Group::Channel(
                key.parse()
                    .map_err(|_| corrupt(format!("{what}: key {key}")))?,
            )
        } else {
            Group::Asset(key)
        };
        if let Some(at) = r.try_get::<Option<DateTime<Utc>>>("", "at").map_err(read)? {
            out.insert(group, at);
        }
    }
    for (group, hour) in groups {
        if out.contains_key(group) {
            continue;
        }
        // The hour's live signals are gone (a deletion not folded yet): read what is older.
        let probe = newest_probe(
            scope
                .condition(None, &literal(*hour))
                .add(group.condition()),
        );
        let sql = DbBackend::Postgres.build(&probe);
        if let Some(at) = first_column(tx, what, sql)
            .await?
            .into_iter()
            .flatten()
            .next()
        {
            out.insert(group.clone(), at);
        }
    }
    Ok(out)
}

/// The chunk interval of `forwarded_messages.messages` (`m20251101_000003_message_archive`).
const MESSAGE_CHUNK_SECS: i64 = 86_400;

/// Message windows before the last, which has no lower bound: 2 days, then 2, 4, … 256 more.
const MESSAGE_ROUNDS: u32 = 9;

/// The newest archived message of each channel in `channels` (those known to hold messages).
pub(crate) async fn newest_messages(
    tx: &DatabaseTransaction,
    channels: &[i64],
    now: DateTime<Utc>,
) -> Result<HashMap<i64, DateTime<Utc>>, StoreError> {
    let what = "newest message";
    let mut out = HashMap::with_capacity(channels.len());
    let mut left: Vec<i64> = channels.to_vec();
    let day = now.timestamp().div_euclid(MESSAGE_CHUNK_SECS) * MESSAGE_CHUNK_SECS;
    let mut lo = DateTime::from_timestamp(day - MESSAGE_CHUNK_SECS, 0).unwrap_or(now);
    let mut hi: Option<DateTime<Utc>> = None;
    for round in 0..=MESSAGE_ROUNDS {
        if left.is_empty() {
            break;
        }
        let last = round == MESSAGE_ROUNDS;
        let mut bounds = String::new();
        if !last {
            bounds.push_str(&format!(" AND m.message_date >= {}", literal(lo)));
        }
        if let Some(hi) = hi {
            bounds.push_str(&format!(" AND m.message_date < {}", literal(hi)));
        }
        // Raw SQL: `WITH ORDINALITY` keeps the channels' order, the literal windows the plan.
        let sql = Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT (SELECT pg_catalog.max(m.message_date) FROM forwarded_messages.messages m
                         WHERE m.channel_id = c.id{bounds}) AS at
                 FROM pg_catalog.unnest($1::bigint[]) WITH ORDINALITY AS c(id, n) ORDER BY c.n"
            ),
            [Value::from(left.clone())],
        );
        let found = first_column(tx, what, sql).await?;
        let mut still = Vec::with_capacity(left.len());
        for (id, at) in left.iter().zip(found) {
            match at {
                Some(at) => {
                    out.insert(*id, at);
                }
                None => still.push(*id),
            }
        }
        left = still;
        hi = Some(lo);
        lo -= Duration::seconds(MESSAGE_CHUNK_SECS << (round + 1));
    }
    Ok(out)
}
