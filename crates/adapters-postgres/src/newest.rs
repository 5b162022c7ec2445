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
use sea_orm::{ConnectionTrait, DatabaseTransaction, Value};

use crate::error::{corrupt, map_db_err};
use crate::reads::Sql;
use domain::ports::StoreError;

/// The column a group of signals shares: `channel_id` or `asset`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Group {
    Channel(i64),
    Asset(String),
}

impl Group {
    fn condition(&self, sql: &mut Sql) -> String {
        match self {
            Group::Channel(id) => format!("s.channel_id = {}", sql.bind(*id)),
            Group::Asset(asset) => format!("s.asset = {}", sql.bind(asset.clone())),
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
    fn conditions(&self, sql: &mut Sql) -> String {
        let mut out = String::new();
        if let Some(c) = self.channel {
            out.push_str(&format!(" AND s.channel_id = {}", sql.bind(c)));
        }
        if let Some(a) = &self.asset {
            out.push_str(&format!(" AND s.asset = {}", sql.bind(a.clone())));
        }
        if let Some(f) = self.from {
            out.push_str(&format!(
                " AND s.message_date >= pg_catalog.date_trunc('hour', {})",
                sql.bind(f)
            ));
        }
        out
    }
}

/// A time as an SQL literal (computed from the database's own rows, never from input).
fn literal(t: DateTime<Utc>) -> String {
    format!("'{}'::timestamptz", t.format("%Y-%m-%dT%H:%M:%S%.6fZ"))
}

async fn first_column(
    tx: &DatabaseTransaction,
    what: &str,
    sql: Sql,
) -> Result<Vec<Option<DateTime<Utc>>>, StoreError> {
    tx.query_all_raw(sql.statement())
        .await
        .map_err(|e| map_db_err(what, e))?
        .iter()
        .map(|r| r.try_get_by_index::<Option<DateTime<Utc>>>(0))
        .collect::<Result<_, _>>()
        .map_err(|e| map_db_err(what, e))
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
    let mut channels: BTreeMap<DateTime<Utc>, Vec<i64>> = BTreeMap::new();
    let mut assets: BTreeMap<DateTime<Utc>, Vec<String>> = BTreeMap::new();
    for (group, hour) in groups {
        match group {
            Group::Channel(id) => channels.entry(*hour).or_default().push(*id),
            Group::Asset(a) => assets.entry(*hour).or_default().push(a.clone()),
        }
    }
    let mut sql = Sql::default();
    let mut branches = Vec::with_capacity(channels.len() + assets.len());
    let keyed = channels
        .into_iter()
        .map(|(hour, ids)| (hour, true, Value::from(ids)))
        .chain(
            assets
                .into_iter()
                .map(|(hour, names)| (hour, false, Value::from(names))),
        );
    for (hour, by_channel, keys) in keyed {
        let (column, cast) = if by_channel {
            ("channel_id", "bigint")
        } else {
            ("asset", "text")
        };
        let keys = sql.bind(keys);
        let rest = scope.conditions(&mut sql);
        branches.push(format!(
            "SELECT {by_channel} AS by_channel, k.key::text AS key,
                    (SELECT pg_catalog.max(s.message_date) FROM signals.signals s
                     WHERE s.{column} = k.key{rest} AND s.deleted_at IS NULL
                       AND s.message_date >= {lo} AND s.message_date < {hi}) AS at
             FROM pg_catalog.unnest({keys}::{cast}[]) AS k(key)",
            lo = literal(hour),
            hi = literal(hour + Duration::hours(1)),
        ));
    }
    sql.push(&branches.join("\nUNION ALL\n"));
    let rows = tx
        .query_all_raw(sql.statement())
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
        let mut sql = Sql::default();
        let key = group.condition(&mut sql);
        let rest = scope.conditions(&mut sql);
        sql.push(&format!(
            "SELECT pg_catalog.max(s.message_date) FROM signals.signals s
             WHERE {key}{rest} AND s.deleted_at IS NULL AND s.message_date < {}",
            literal(*hour)
        ));
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
        let mut sql = Sql::default();
        let ids = sql.bind(Value::from(left.clone()));
        sql.push(&format!(
            "SELECT (SELECT pg_catalog.max(m.message_date) FROM forwarded_messages.messages m
                     WHERE m.channel_id = c.id{bounds}) AS at
             FROM pg_catalog.unnest({ids}::bigint[]) WITH ORDINALITY AS c(id, n) ORDER BY c.n"
        ));
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
