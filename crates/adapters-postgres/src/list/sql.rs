//! The SQL of the signal list. Each shape of the dashboard's query (the filters present) is its
//! own statement text, so it gets a plan that fits; every filter is in SQL before the `LIMIT`,
//! and the order `(message_date DESC, id DESC)` is the keyset of every index. Every statement of
//! a round carries that round's time window as plain bounds, so the planner expands only the
//! chunks the window covers (see the module above).

use chrono::{DateTime, Utc};
use domain::model::SignalKind;
use domain::ports::SignalQuery;
use sea_orm::{DbBackend, Statement, Value};

use crate::rows::{ROW_EXTRA_COLUMNS, ROW_EXTRA_COLUMNS_PER_ROW, SIGNAL_COLUMNS};

/// SQL text and its parameters, numbered as they are pushed.
#[derive(Default)]
pub(super) struct Sql {
    pub(super) text: String,
    pub(super) values: Vec<Value>,
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

    pub(super) fn statement(self) -> Statement {
        Statement::from_sql_and_values(DbBackend::Postgres, self.text, self.values)
    }
}

/// `%term%` for `ILIKE`, with the pattern characters of `term` taken literally.
pub(super) fn contains_pattern(term: &str) -> String {
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

/// Whether `ILIKE` on `term` may compare ASCII letters only (`COLLATE "C"`: no lowercase copy
/// of each row's text, a quarter of a walking search's time) with the same answer as the
/// database's Unicode case mapping. It may when `term` is ASCII without `i` or `k`: the only
/// characters beyond ASCII that lower to ASCII are `İ` (to `i`) and the Kelvin sign (to `k`),
/// and an ASCII byte never occurs inside a multi-byte UTF-8 character.
pub(super) fn ascii_case_is_exact(term: &str) -> bool {
    term.is_ascii() && !term.contains(['i', 'I', 'k', 'K'])
}

/// How a statement reaches its rows: walking an ordered index (every condition is a filter) or
/// collecting them with bitmap scans (the search must match the trigram indexes' collation).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scan {
    Walk,
    Bitmap,
}

/// A list query ready for SQL: the channel resolved to ids, the round's time window, and where
/// to continue after the probe.
pub(super) struct Plan<'a> {
    pub(super) q: &'a SignalQuery,
    /// `None` without a channel filter.
    pub(super) channels: Option<&'a [i64]>,
    /// The time window of the current round.
    pub(super) window: Window,
    /// Strictly older than this row (the last row the probe examined).
    pub(super) after_probe: Option<(DateTime<Utc>, i64)>,
}

/// A round's time range: `message_date >= lo` and `message_date < hi`, each when present; the
/// bounds are chunk boundaries, so a window's statement text repeats and its plan is reused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Window {
    pub(super) lo: Option<DateTime<Utc>>,
    pub(super) hi: Option<DateTime<Utc>>,
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

fn conditions(plan: &Plan<'_>, sql: &mut Sql, scan: Scan) -> Conditions {
    let q = plan.q;
    let mut keyset = Vec::new();
    let mut indexed = vec!["s.deleted_at IS NULL".to_owned()];
    let mut selective = Vec::new();
    for (date, id) in q
        .cursor
        .map(|c| (c.message_date, c.id.0))
        .into_iter()
        .chain(plan.after_probe)
    {
        let d = sql.bind(date);
        let id = sql.bind(id);
        // The plain bound lets TimescaleDB exclude newer chunks (and bounds the bitmap scans);
        // the row comparison is the seek.
        indexed.push(format!("s.message_date <= {d}"));
        keyset.push(format!("(s.message_date, s.id) < ({d}, {id})"));
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
    // Literals, not parameters: a cached generic plan then still holds only the window's chunks
    // (a parameter would leave every chunk in it, excluded at each execution's start).
    if let Some(lo) = plan.window.lo {
        ordered.push(format!("s.message_date >= {}", literal(lo)));
    }
    if let Some(hi) = plan.window.hi {
        ordered.push(format!("s.message_date < {}", literal(hi)));
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
        let c = match scan == Scan::Walk && ascii_case_is_exact(term) {
            true => " COLLATE \"C\"",
            false => "",
        };
        selective.push(format!(
            "(s.asset{c} ILIKE {p} OR s.raw_message{c} ILIKE {p})"
        ));
    }
    Conditions {
        keyset,
        indexed,
        selective,
    }
}

/// A time as an SQL literal (a window bound: computed here, never from input).
pub(super) fn literal(t: DateTime<Utc>) -> String {
    format!("'{}'::timestamptz", t.format("%Y-%m-%dT%H:%M:%S%.6fZ"))
}

pub(super) fn search_term(q: &SignalQuery) -> Option<&str> {
    q.search.as_deref().map(str::trim).filter(|t| !t.is_empty())
}

const FROM_SIGNALS: &str =
    "FROM signals.signals s\nLEFT JOIN signals.channels c ON c.channel_id = s.channel_id";
const NEWEST_FIRST: &str = "ORDER BY s.message_date DESC, s.id DESC";

/// Every condition in `WHERE`, newest first, `LIMIT fetch`.
pub(super) fn list_statement(plan: &Plan<'_>, fetch: usize) -> Sql {
    let mut sql = Sql::default();
    let c = conditions(plan, &mut sql, Scan::Walk);
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

/// How many rows, newest first, the probe examines before it gives up.
pub(super) const PROBE_ROWS: i64 = 2000;

/// The probe for selective filters: walk the ordered index over at most [`PROBE_ROWS`] rows
/// matching the indexed conditions and return the first `fetch` of them that also match the
/// selective ones (`probe_hit`). When fewer match, a second branch returns the row numbered
/// [`PROBE_ROWS`] (`probe_rn`, not a hit) as a sentinel, if the window holds that many: the
/// probe was used up there. That branch runs only then, and the walk carries no window function
/// or join: the hits alone read their channel (numbering and joining every row walked was a
/// third of the probe's time).
pub(super) fn probe_statement(plan: &Plan<'_>, fetch: usize) -> Sql {
    let mut sql = Sql::default();
    let c = conditions(plan, &mut sql, Scan::Walk);
    let probe = sql.bind(PROBE_ROWS);
    let limit = sql.bind(i64::try_from(fetch).unwrap_or(i64::MAX));
    sql.push(&format!(
        "(SELECT {SIGNAL_COLUMNS}, {ROW_EXTRA_COLUMNS_PER_ROW}, TRUE AS probe_hit, NULL::bigint AS probe_rn
  FROM (
    SELECT s.* FROM signals.signals s
    WHERE {ordered}
    {NEWEST_FIRST}
    LIMIT {probe}
  ) s
  WHERE {hit}
  LIMIT {limit})
UNION ALL
(SELECT {SIGNAL_COLUMNS}, NULL, NULL, FALSE, {probe}
  FROM signals.signals s
  WHERE {ordered}
  {NEWEST_FIRST}
  OFFSET {probe} - 1 LIMIT 1)
LIMIT {limit}",
        hit = c.selective.join(" AND "),
        ordered = c.ordered().cloned().collect::<Vec<_>>().join("\n    AND "),
    ));
    sql
}

/// The most matches the bitmap strategy collects before it decides the matches are not rare.
pub(super) const BITMAP_CAP: i64 = 2000;

/// The bitmap strategy for rare matches: collect every row matching the selective and the
/// indexed conditions (bitmap scans of the trigram, kind and channel indexes; the keyset bounds
/// stay out, they would only add a scan of the time index), up to [`BITMAP_CAP`] + 1, then
/// sort them. Always one row back: `bitmap_matches` counts the collected rows, the signal
/// columns are NULL when no match is left after the cursor.
pub(super) fn bitmap_statement(plan: &Plan<'_>, fetch: usize) -> Sql {
    let mut sql = Sql::default();
    let c = conditions(plan, &mut sql, Scan::Bitmap);
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
pub(super) fn realias(sql: &str) -> String {
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
pub(super) const BITMAP_ONLY: &str = "SET LOCAL enable_indexscan = off; \
    SET LOCAL enable_indexonlyscan = off; SET LOCAL enable_seqscan = off";
