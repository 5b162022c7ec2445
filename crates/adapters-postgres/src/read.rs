//! The read side. The signal list is built from only the filters present, so each shape of the
//! dashboard's query is its own prepared statement with a plan that fits; every filter is in SQL
//! before the `LIMIT`, and the order `(message_date DESC, id DESC)` is the keyset of every index.
//!
//! `search` and `kind` cannot be answered by walking an ordered index: a rare term would walk
//! all of it. Those queries first walk a bounded window of the newest rows; when the window runs
//! out before the page is full, the matches are rare: bitmap scans of the trigram, kind and
//! channel indexes collect them (up to a cap) and they are sorted; past the cap they are not
//! rare after all, and the ordered walk goes on from where the window stopped.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::model::{SignalId, SignalKind};
use domain::ports::{
    SignalCursor, SignalDetail, SignalPage, SignalQueries, SignalQuery, SignalRow, StoreError,
};
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement, TransactionTrait, Value};

use crate::error::map_db_err;
use crate::rows::{
    ROW_EXTRA_COLUMNS, RevisionRecord, SIGNAL_COLUMNS, StatusEventRecord, signal_row,
};
use crate::store::{PgStore, timed};

/// Largest page the store serves.
const MAX_LIMIT: u32 = 1000;

/// SQL text and its parameters, numbered as they are pushed.
#[derive(Default)]
struct Sql {
    text: String,
    values: Vec<Value>,
}

impl Sql {
    /// Appends `v` and returns its placeholder.
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

/// `%term%` for `ILIKE`, with the pattern characters of `term` taken literally.
fn contains_pattern(term: &str) -> String {
    let mut p = String::with_capacity(term.len() + 2);
    p.push('%');
    for ch in term.chars() {
        if matches!(ch, '\\' | '%' | '_') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

/// A list query ready for SQL: the channel resolved to ids, and where to continue after the
/// window strategy.
struct Plan<'a> {
    q: &'a SignalQuery,
    /// `None` without a channel filter.
    channels: Option<&'a [i64]>,
    /// Strictly older than this row (the last row the window examined).
    after_window: Option<(DateTime<Utc>, i64)>,
}

/// The `WHERE` conditions of a list query, by the kind of index that can answer them:
/// keyset bounds (the cursor) that only the ordered index serves, equality and time-range
/// conditions on indexed columns, and the selective conditions (`search`, effective `kind`) an
/// ordered scan can only filter by.
struct Conditions {
    keyset: Vec<String>,
    indexed: Vec<String>,
    selective: Vec<String>,
}

impl Conditions {
    fn ordered(&self) -> impl Iterator<Item = &String> {
        self.keyset.iter().chain(&self.indexed)
    }
}

fn conditions(plan: &Plan<'_>, sql: &mut Sql) -> Conditions {
    let q = plan.q;
    let mut keyset = Vec::new();
    let mut indexed = vec!["s.deleted_at IS NULL".to_owned()];
    let mut selective = Vec::new();
    for (date, id) in q
        .cursor
        .map(|c| (c.message_date, c.id.0))
        .into_iter()
        .chain(plan.after_window)
    {
        let d = sql.bind(date);
        let id = sql.bind(id);
        // The plain bound lets TimescaleDB exclude newer chunks; the row comparison is the seek.
        keyset.push(format!(
            "s.message_date <= {d} AND (s.message_date, s.id) < ({d}, {id})"
        ));
    }
    let ordered = &mut indexed;
    match plan.channels {
        Some([one]) => ordered.push(format!("s.channel_id = {}", sql.bind(*one))),
        Some(many) => ordered.push(format!(
            "s.channel_id = ANY({}::bigint[])",
            sql.bind(many.to_vec())
        )),
        None => {}
    }
    if let Some(asset) = &q.asset {
        ordered.push(format!("s.asset = {}", sql.bind(asset.as_str().to_owned())));
    }
    if let Some(status) = q.status.as_deref() {
        ordered.push(format!("s.status = {}", sql.bind(status.to_owned())));
    }
    if let Some(from) = q.from {
        ordered.push(format!("s.message_date >= {}", sql.bind(from)));
    }
    if let Some(to) = q.to {
        ordered.push(format!("s.message_date <= {}", sql.bind(to)));
    }
    if let Some(kind) = q.kind {
        // COALESCE(s.kind, channel default, 'swing_trade') = kind, written so that indexes on
        // kind and on channel_id can answer it.
        let k = sql.bind(kind.as_str());
        selective.push(if kind == SignalKind::SwingTrade {
            format!(
                "(s.kind = {k} OR (s.kind IS NULL AND s.channel_id <> ALL(ARRAY(\
                 SELECT ch.channel_id FROM signals.channels ch \
                 WHERE ch.default_kind IS NOT NULL AND ch.default_kind <> {k}))))"
            )
        } else {
            format!(
                "(s.kind = {k} OR (s.kind IS NULL AND s.channel_id = ANY(ARRAY(\
                 SELECT ch.channel_id FROM signals.channels ch WHERE ch.default_kind = {k}))))"
            )
        });
    }
    if let Some(term) = search_term(q) {
        let p = sql.bind(contains_pattern(term));
        selective.push(format!("(s.asset ILIKE {p} OR s.raw_message ILIKE {p})"));
    }
    Conditions {
        keyset,
        indexed,
        selective,
    }
}

fn search_term(q: &SignalQuery) -> Option<&str> {
    q.search.as_deref().map(str::trim).filter(|t| !t.is_empty())
}

const FROM_SIGNALS: &str =
    "FROM signals.signals s\nLEFT JOIN signals.channels c ON c.channel_id = s.channel_id";
const NEWEST_FIRST: &str = "ORDER BY s.message_date DESC, s.id DESC";

/// Every condition in `WHERE`, newest first, `LIMIT fetch`.
fn list_statement(plan: &Plan<'_>, fetch: usize) -> Sql {
    let mut sql = Sql::default();
    let c = conditions(plan, &mut sql);
    let all: Vec<&str> = c
        .ordered()
        .chain(&c.selective)
        .map(String::as_str)
        .collect();
    let limit = sql.bind(i64::try_from(fetch).unwrap_or(i64::MAX));
    sql.push(&format!(
        "SELECT {SIGNAL_COLUMNS}, {ROW_EXTRA_COLUMNS}\n{FROM_SIGNALS}\nWHERE {}\n{NEWEST_FIRST}\nLIMIT {limit}",
        all.join("\n  AND ")
    ));
    sql
}

/// How many rows, newest first, the window strategy examines before it gives up.
const PROBE_WINDOW: i64 = 2000;

/// The window strategy for selective filters: walk the ordered index over at most
/// [`PROBE_WINDOW`] rows matching the indexed conditions, flag the rows that also match the
/// selective ones, and stop at `fetch` hits. The row numbered `PROBE_WINDOW` comes back as a
/// sentinel when the window was used up first.
fn probe_statement(plan: &Plan<'_>, fetch: usize) -> Sql {
    let mut sql = Sql::default();
    let c = conditions(plan, &mut sql);
    let window = sql.bind(PROBE_WINDOW);
    let limit = sql.bind(i64::try_from(fetch).unwrap_or(i64::MAX) + 1);
    sql.push(&format!(
        "SELECT w.* FROM (
  SELECT {SIGNAL_COLUMNS}, {ROW_EXTRA_COLUMNS},
         (({hit}) IS TRUE) AS probe_hit,
         row_number() OVER ({NEWEST_FIRST}) AS probe_rn
  {FROM_SIGNALS}
  WHERE {ordered}
  {NEWEST_FIRST}
  LIMIT {window}
) w
WHERE w.probe_hit OR w.probe_rn = {window}
LIMIT {limit}",
        hit = c.selective.join(" AND "),
        ordered = c.ordered().cloned().collect::<Vec<_>>().join("\n    AND "),
    ));
    sql
}

/// The most matches the bitmap strategy collects before it decides the matches are not rare.
const BITMAP_CAP: i64 = 2000;

/// The bitmap strategy for rare matches: collect every row matching the selective and the
/// indexed conditions (bitmap scans of the trigram, kind and channel indexes; the keyset bounds
/// stay out, they would only add a scan of the time index), up to [`BITMAP_CAP`] + 1, then
/// sort them. Always one row back: `bitmap_matches` counts the collected rows, the signal
/// columns are NULL when no match is left after the cursor.
fn bitmap_statement(plan: &Plan<'_>, fetch: usize) -> Sql {
    let mut sql = Sql::default();
    let c = conditions(plan, &mut sql);
    let cap = sql.bind(BITMAP_CAP + 1);
    let limit = sql.bind(i64::try_from(fetch).unwrap_or(i64::MAX));
    let collect: Vec<&String> = c.indexed.iter().chain(&c.selective).collect();
    let keyset: Vec<String> = c.keyset.iter().map(|k| realias(k)).collect();
    let columns = realias(SIGNAL_COLUMNS);
    let extra = realias(ROW_EXTRA_COLUMNS);
    sql.push(&format!(
        "WITH m AS MATERIALIZED (
  SELECT s.* FROM signals.signals s
  WHERE {collect}
  LIMIT {cap}
)
SELECT k.bitmap_matches, r.* FROM (SELECT count(*) AS bitmap_matches FROM m) k
LEFT JOIN LATERAL (
  SELECT {columns}, {extra}
  FROM m LEFT JOIN signals.channels c ON c.channel_id = m.channel_id
  WHERE {keyset}
  ORDER BY m.message_date DESC, m.id DESC
  LIMIT {limit}
) r ON TRUE",
        collect = collect
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join("\n    AND "),
        keyset = if keyset.is_empty() {
            "TRUE".to_owned()
        } else {
            keyset.join(" AND ")
        },
    ));
    sql
}

/// `sql` with the signal alias `s.` turned into the collected rows' alias `m.`.
fn realias(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut prev = ' ';
    let mut chars = sql.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch == 's'
            && chars.peek() == Some(&'.')
            && !(prev.is_ascii_alphanumeric() || prev == '_' || prev == '.')
        {
            out.push('m');
        } else {
            out.push(ch);
        }
        prev = ch;
    }
    out
}

/// Planner settings of the bitmap strategy: no ordered index walk, no sequential scan.
const BITMAP_ONLY: &str = "SET LOCAL enable_indexscan = off; \
    SET LOCAL enable_indexonlyscan = off; SET LOCAL enable_seqscan = off";

fn page(mut rows: Vec<SignalRow>, limit: u32) -> SignalPage {
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|r| SignalCursor {
            message_date: r.signal.message_date,
            id: r.signal.id,
        })
    } else {
        None
    };
    SignalPage { rows, next_cursor }
}

fn rows_of(results: &[sea_orm::QueryResult]) -> Result<Vec<SignalRow>, StoreError> {
    results.iter().map(signal_row).collect()
}

impl PgStore {
    /// The channels a `channel` filter names: its id when numeric, and every channel whose label
    /// matches case-insensitively. Resolved first so the list filters on plain ids, which the
    /// `(channel_id, message_date, id)` index serves in order.
    async fn channel_ids(&self, channel: &str) -> Result<Vec<i64>, StoreError> {
        let rows = self
            .query_all(
                "list_signals: channel",
                Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT channel_id FROM signals.channels WHERE lower(label) = lower($1)",
                    [channel.into()],
                ),
            )
            .await?;
        let mut ids = rows
            .iter()
            .map(|r| r.try_get_by_index::<i64>(0))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| map_db_err("list_signals: channel", e))?;
        if let Ok(id) = channel.parse::<i64>() {
            ids.push(id);
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    async fn query_all(
        &self,
        what: &str,
        stmt: Statement,
    ) -> Result<Vec<sea_orm::QueryResult>, StoreError> {
        self.timed(what, async {
            self.db
                .query_all_raw(stmt)
                .await
                .map_err(|e| map_db_err(what, e))
        })
        .await
    }
}

#[async_trait]
impl SignalQueries for PgStore {
    async fn list_signals(&self, query: &SignalQuery) -> Result<SignalPage, StoreError> {
        let limit = query.limit.clamp(1, MAX_LIMIT);
        let fetch = limit as usize + 1;
        let channels = match query.channel.as_deref().map(str::trim) {
            Some(channel) if !channel.is_empty() => {
                let ids = self.channel_ids(channel).await?;
                if ids.is_empty() {
                    return Ok(page(Vec::new(), limit));
                }
                Some(ids)
            }
            _ => None,
        };
        let mut plan = Plan {
            q: query,
            channels: channels.as_deref(),
            after_window: None,
        };
        if query.kind.is_none() && search_term(query).is_none() {
            let rows = self
                .query_all("list_signals", list_statement(&plan, fetch).statement())
                .await?;
            return Ok(page(rows_of(&rows)?, limit));
        }
        // Dense matches: the newest window of the ordered index holds them.
        let probed = self
            .query_all("list_signals", probe_statement(&plan, fetch).statement())
            .await?;
        let mut found = Vec::with_capacity(fetch);
        let mut window_end = None;
        for r in &probed {
            let read = |e| map_db_err("list_signals", e);
            let hit = r.try_get::<bool>("", "probe_hit").map_err(read)?;
            if r.try_get::<i64>("", "probe_rn").map_err(read)? == PROBE_WINDOW {
                let date = r
                    .try_get::<DateTime<Utc>>("", "message_date")
                    .map_err(read)?;
                window_end = Some((date, r.try_get::<i64>("", "id").map_err(read)?));
            }
            if hit {
                found.push(signal_row(r)?);
            }
        }
        let Some(window_end) = window_end.filter(|_| found.len() < fetch) else {
            found.truncate(fetch);
            return Ok(page(found, limit));
        };
        // Rare matches: collect them all through bitmap scans and sort them.
        let collected = self
            .timed("list_signals", async {
                let what = "list_signals (bitmap)";
                let tx = self.db.begin().await.map_err(|e| map_db_err(what, e))?;
                tx.execute_unprepared(BITMAP_ONLY)
                    .await
                    .map_err(|e| map_db_err(what, e))?;
                let rows = tx
                    .query_all_raw(bitmap_statement(&plan, fetch).statement())
                    .await
                    .map_err(|e| map_db_err(what, e))?;
                tx.commit().await.map_err(|e| map_db_err(what, e))?;
                Ok(rows)
            })
            .await?;
        let read = |e| map_db_err("list_signals (bitmap)", e);
        let matches = match collected.first() {
            Some(r) => r.try_get::<i64>("", "bitmap_matches").map_err(read)?,
            None => 0,
        };
        if matches <= BITMAP_CAP {
            let mut rows = Vec::with_capacity(collected.len());
            for r in &collected {
                if r.try_get::<Option<i64>>("", "id").map_err(read)?.is_some() {
                    rows.push(signal_row(r)?);
                }
            }
            return Ok(page(rows, limit));
        }
        // Many matches, all older than the window: walk on in order from where it stopped.
        plan.after_window = Some(window_end);
        let rows = self
            .query_all(
                "list_signals",
                list_statement(&plan, fetch - found.len()).statement(),
            )
            .await?;
        found.extend(rows_of(&rows)?);
        Ok(page(found, limit))
    }

    async fn signal_detail(&self, id: SignalId) -> Result<SignalDetail, StoreError> {
        let row_sql = format!(
            "SELECT {SIGNAL_COLUMNS}, {ROW_EXTRA_COLUMNS}
             FROM signals.signals s
             LEFT JOIN signals.channels c ON c.channel_id = s.channel_id
             WHERE s.id = $1 AND s.deleted_at IS NULL"
        );
        let stmt = |sql: &str| {
            Statement::from_sql_and_values(DbBackend::Postgres, sql, [Value::from(id.0)])
        };
        let rows = self.query_all("signal_detail", stmt(&row_sql)).await?;
        let row = signal_row(rows.first().ok_or(StoreError::NotFound)?)?;
        let revisions = self
            .query_all(
                "signal_detail: revisions",
                stmt(
                    "SELECT signal_id, revision, asset, kind, direction, entry_min, entry_max,
                            targets, target_final, stop, valid_until, warnings, raw_message,
                            recorded_at
                     FROM signals.signal_revisions WHERE signal_id = $1 ORDER BY revision",
                ),
            )
            .await?
            .iter()
            .map(|r| {
                RevisionRecord::from_query_result(r, "")
                    .map_err(|e| map_db_err("signal_detail: revisions", e))?
                    .into_revision()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let status_history = self
            .query_all(
                "signal_detail: status history",
                stmt(
                    "SELECT signal_id, status, target_index, at, channel_id, message_id, reason
                     FROM signals.status_events WHERE signal_id = $1 ORDER BY at, id",
                ),
            )
            .await?
            .iter()
            .map(|r| {
                StatusEventRecord::from_query_result(r, "")
                    .map_err(|e| map_db_err("signal_detail: status history", e))?
                    .into_change()
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SignalDetail {
            row,
            revisions,
            status_history,
        })
    }

    async fn soft_delete(&self, id: SignalId, at: DateTime<Utc>) -> Result<(), StoreError> {
        let stmt = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE signals.signals SET deleted_at = $2, updated_at = $2
             WHERE id = $1 AND deleted_at IS NULL",
            [id.0.into(), at.into()],
        );
        let affected = self
            .timed("soft_delete", async {
                self.db
                    .execute_raw(stmt)
                    .await
                    .map(|r| r.rows_affected())
                    .map_err(|e| map_db_err("soft_delete", e))
            })
            .await?;
        if affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let limit = self.opts.acquire_timeout + self.opts.connect_timeout;
        timed(limit, "ping", async {
            self.db
                .query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT 1"))
                .await
                .map(|_| ())
                .map_err(|e| map_db_err("ping", e))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::model::Ticker;

    #[test]
    fn search_terms_are_literal() {
        assert_eq!(contains_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }

    fn plan<'a>(q: &'a SignalQuery, channels: Option<&'a [i64]>) -> Plan<'a> {
        Plan {
            q,
            channels,
            after_window: None,
        }
    }

    #[test]
    fn only_present_filters_reach_the_sql() {
        let bare_q = SignalQuery {
            limit: 50,
            ..SignalQuery::default()
        };
        let bare = list_statement(&plan(&bare_q, None), 51);
        assert_eq!(bare.values.len(), 1);
        assert!(!bare.text.contains("ILIKE"));
        let full_q = SignalQuery {
            limit: 50,
            cursor: Some(SignalCursor {
                message_date: Utc::now(),
                id: SignalId(7),
            }),
            channel: Some("-100123".into()),
            asset: Ticker::parse("PETR4"),
            kind: Some(SignalKind::DayTrade),
            status: Some("open".into()),
            search: Some("alvo".into()),
            from: Some(Utc::now()),
            to: Some(Utc::now()),
        };
        let full = list_statement(&plan(&full_q, Some(&[-100123])), 51);
        assert_eq!(full.values.len(), 10);
        assert!(full.text.contains("s.channel_id = $3\n"));
        assert!(
            full.text
                .ends_with("ORDER BY s.message_date DESC, s.id DESC\nLIMIT $10")
        );
        let many = list_statement(&plan(&full_q, Some(&[1, 2])), 51);
        assert!(many.text.contains("s.channel_id = ANY($3::bigint[])"));
    }

    #[test]
    fn realias_touches_only_the_alias() {
        assert_eq!(
            realias("s.id, COALESCE(s.kind, c.kind), signals.s.x (s.a)"),
            "m.id, COALESCE(m.kind, c.kind), signals.s.x (m.a)"
        );
    }

    #[test]
    fn the_probe_flags_selective_matches_inside_a_bounded_window() {
        let q = SignalQuery {
            limit: 50,
            search: Some("alvo".into()),
            ..SignalQuery::default()
        };
        let probe = probe_statement(&plan(&q, None), 51);
        assert!(
            probe
                .text
                .contains("(((s.asset ILIKE $1 OR s.raw_message ILIKE $1)) IS TRUE) AS probe_hit")
        );
        assert!(
            probe
                .text
                .contains("LIMIT $2\n) w\nWHERE w.probe_hit OR w.probe_rn = $2\nLIMIT $3")
        );
    }
}
