//! The signal list, newest first, in time windows. Planning a query over a hypertable costs
//! time for every chunk it may touch (each chunk's indexes are costed): over a year of weekly
//! chunks that was 4–17 ms of planning for well under 1 ms of execution. So a page is read in
//! rounds, each bounded by a time window of whole chunks written as literals, so the planner
//! excludes every other chunk before costing anything. The first window is the block of
//! [`BLOCK_CHUNKS`] chunks holding the page's upper bound (the cursor or `to`), or, bounded by
//! now only, this chunk and the one before; then windows twice as long each, further back, and
//! past [`ROUNDS`] windows the rest. A page that fills in the first window (the usual case) plans
//! a few chunks whatever the table holds, and its statement text is shared by every bound in the
//! block, so PostgreSQL soon reuses a generic plan of those chunks; a sparse filter pays one
//! round per doubling.
//!
//! Within a round, `search` and `kind` cannot be answered by walking an ordered index: a rare
//! term would walk all of it. Those queries first walk a bounded number of the newest rows; when
//! that runs out before the page is full, the matches are rare: bitmap scans of the trigram,
//! kind and channel indexes collect them (up to a cap) and they are sorted; past the cap they are
//! not rare after all: a window of several chunks is read again in halves, newer first (so a page
//! never walks weeks without a match to reach the weeks that hold them), and in one chunk the
//! ordered walk goes on from where the probe stopped.

mod sql;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;

use chrono::{DateTime, Datelike, Duration, Utc};
use domain::ports::{SignalCursor, SignalPage, SignalQuery, SignalRow, StoreError};
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};

use crate::error::map_db_err;
use crate::rows::{SignalLayout, signal_rows};
use crate::search_indexes::indexed_before;
use crate::store::PgStore;
use sql::{
    BITMAP_CAP, BITMAP_ONLY, PROBE_ROWS, Plan, Window, bitmap_statement, list_statement,
    probe_statement, search_term,
};

/// Largest page the store serves.
const MAX_LIMIT: u32 = 1000;

/// The chunk interval of `signals.signals`: windows are whole chunks (TimescaleDB aligns them on
/// multiples of the interval since the Unix epoch).
const CHUNK_SECS: i64 = 7 * 86_400;

/// Chunks per block. A window below a bound the query sets (`to`, a cursor) starts and ends on
/// a multiple of this many chunks since the epoch, so every bound inside one block shares the
/// block's statements: with one text per week, five years of weeks times the filter shapes
/// outgrew the prepared statements each connection keeps, and pages kept planning afresh. A
/// generic plan of four chunks costs about what one of two did (`docs/benchmarks.md`).
const BLOCK_CHUNKS: i64 = 4;

/// Windows before the last round, which reaches back without a bound (or to `from`). After the
/// first, each twice as long as the one before: seven of them cover ten years.
const ROUNDS: u32 = 7;

/// The start of the chunk holding `t`.
fn chunk_start(t: DateTime<Utc>) -> DateTime<Utc> {
    align(t, CHUNK_SECS)
}

/// The start of the block holding `t`.
fn block_start(t: DateTime<Utc>) -> DateTime<Utc> {
    align(t, CHUNK_SECS * BLOCK_CHUNKS)
}

fn align(t: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp().div_euclid(secs) * secs, 0).unwrap_or(t)
}

/// The time windows of a list query, newest first: they tile everything at or below the page's
/// upper bound (the lowest of the cursor, `to` and `now`) down to `from`, or without end (see
/// [`chunk_windows`]). Bounded by `now` only, the first window is open above (rows dated after
/// now are in it). A search splits the first window at [`indexed_before`]: below it the open
/// week has its partial search indexes, above it the last hour or two are scanned.
fn windows(q: &SignalQuery, now: DateTime<Utc>) -> Vec<Window> {
    let mut out = chunk_windows(q, now);
    let split = indexed_before(now);
    if let (Some(_), Some(first)) = (search_term(q), out.first().copied())
        && first.lo.is_some_and(|lo| lo < split)
        && first.hi.is_none_or(|hi| split < hi)
    {
        let below = Window {
            lo: first.lo,
            hi: Some(split),
        };
        let top = upper_bound(q, now).unwrap_or(now);
        if top >= split {
            out.splice(
                0..1,
                [
                    Window {
                        lo: Some(split),
                        hi: first.hi,
                    },
                    below,
                ],
            );
        } else {
            out[0] = below;
        }
    }
    out
}

/// The lowest of the cursor and `to`, when it is not after `now`.
fn upper_bound(q: &SignalQuery, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    [q.cursor.map(|c| c.message_date), q.to]
        .into_iter()
        .flatten()
        .min()
        .filter(|b| *b <= now)
}

/// [`windows`] before the search's split: the block of a bound the query sets, else this chunk
/// and the one before, open above (rows dated after now are in it); then windows of whole
/// blocks, each twice as long as the last, down to `from`'s block or without end.
fn chunk_windows(q: &SignalQuery, now: DateTime<Utc>) -> Vec<Window> {
    // A bound before year 1 cannot be written as a literal (PostgreSQL has no year 0): the window
    // is then open below, and `from` (a parameter) still bounds the rows exactly.
    let writable = |t: &DateTime<Utc>| t.year() >= 1;
    let floor = q.from.map(block_start).filter(writable);
    let block = Duration::seconds(CHUNK_SECS * BLOCK_CHUNKS);
    let (mut lo, mut hi) = match upper_bound(q, now) {
        Some(bound) => (block_start(bound), Some(block_start(bound) + block)),
        None => (chunk_start(now) - Duration::seconds(CHUNK_SECS), None),
    };
    let mut out = Vec::with_capacity(ROUNDS as usize + 1);
    for round in 0..ROUNDS {
        if floor.is_some_and(|f| f >= lo) || !writable(&lo) {
            out.push(Window { lo: floor, hi });
            return out;
        }
        out.push(Window { lo: Some(lo), hi });
        hi = Some(lo);
        lo -= block * (1 << round);
    }
    out.push(Window { lo: floor, hi });
    out
}

/// The newer and the older half of `w` at a chunk boundary; `None` for a window of one chunk, or
/// one open above or below.
fn halves(w: Window) -> Option<(Window, Window)> {
    let (lo, hi) = (w.lo?, w.hi?);
    let chunks = (hi - lo).num_seconds() / CHUNK_SECS;
    if chunks < 2 {
        return None;
    }
    let mid = lo + Duration::seconds(CHUNK_SECS * (chunks / 2));
    Some((
        Window {
            lo: Some(mid),
            hi: Some(hi),
        },
        Window {
            lo: Some(lo),
            hi: Some(mid),
        },
    ))
}

/// What one round of a `search` or `kind` filter found.
enum Round {
    /// Rows of the window, newest first, and whether its matches were rare (collected by the
    /// bitmap strategy).
    Rows(Vec<SignalRow>, bool),
    /// What the probe found, where it stopped, and that the window holds more matches than the
    /// bitmap strategy collects: read its halves.
    Dense(Vec<SignalRow>, Option<(DateTime<Utc>, i64)>),
}

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

impl PgStore {
    /// One page of the signal list (the [`domain::ports::SignalQueries::list_signals`] port).
    pub(crate) async fn signal_page(&self, query: &SignalQuery) -> Result<SignalPage, StoreError> {
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
        let selective = query.kind.is_some() || search_term(query).is_some();
        let mut found = Vec::with_capacity(fetch);
        let mut rare = false;
        let mut after_probe = None;
        let mut pending = VecDeque::from(windows(query, Utc::now()));
        while let Some(window) = pending.pop_front() {
            let mut plan = Plan {
                q: query,
                channels: channels.as_deref(),
                window,
                after_probe,
            };
            let need = fetch - found.len();
            let rows = if selective {
                match self.selective_rows(&mut plan, need, rare).await? {
                    Round::Rows(rows, was_rare) => {
                        rare = was_rare;
                        rows
                    }
                    Round::Dense(rows, probe_end) => {
                        if let Some((newer, older)) = halves(window) {
                            pending.push_front(older);
                            pending.push_front(newer);
                        }
                        // The probe read the newest rows of both halves: they skip it.
                        after_probe = probe_end.or(after_probe);
                        rare = true;
                        rows
                    }
                }
            } else {
                let rows = self
                    .query_all("list_signals", list_statement(&plan, need).statement())
                    .await?;
                signal_rows(&rows)?
            };
            found.extend(rows);
            if found.len() >= fetch {
                break;
            }
        }
        found.truncate(fetch);
        Ok(page(found, limit))
    }

    /// Up to `fetch` rows of one window matching a `search` or `kind` filter, newest first, and
    /// whether the window's matches were rare (collected by the bitmap strategy); or, for a
    /// window of several chunks with more matches than that collects, [`Round::Dense`]. After a
    /// rare window (`rare`) the next one skips the probe: a term missing from the newest weeks
    /// would otherwise pay a 2,000-row walk in every window.
    async fn selective_rows(
        &self,
        plan: &mut Plan<'_>,
        fetch: usize,
        rare: bool,
    ) -> Result<Round, StoreError> {
        let mut found = Vec::with_capacity(fetch);
        let mut probe_end = None;
        // Dense matches: the newest rows of the ordered index hold them.
        let probed = if rare {
            Vec::new()
        } else {
            self.query_all("list_signals", probe_statement(plan, fetch).statement())
                .await?
        };
        let layout = SignalLayout::of(&probed, true)?;
        for r in &probed {
            let read = |e| map_db_err("list_signals", e);
            let hit = r.try_get::<bool>("", "probe_hit").map_err(read)?;
            if r.try_get::<Option<i64>>("", "probe_rn").map_err(read)? == Some(PROBE_ROWS) {
                let date = r
                    .try_get::<DateTime<Utc>>("", "message_date")
                    .map_err(read)?;
                probe_end = Some((date, r.try_get::<i64>("", "id").map_err(read)?));
            }
            if let (true, Some(layout)) = (hit, layout) {
                found.push(layout.row(r)?);
            }
        }
        if found.len() >= fetch || (!rare && probe_end.is_none()) {
            found.truncate(fetch);
            return Ok(Round::Rows(found, false));
        }
        // Rare matches: collect them all through bitmap scans and sort them.
        let collected = self
            .timed("list_signals", async {
                let what = "list_signals (bitmap)";
                let tx = self.db.begin().await.map_err(|e| map_db_err(what, e))?;
                tx.execute_unprepared(BITMAP_ONLY)
                    .await
                    .map_err(|e| map_db_err(what, e))?;
                let rows = tx
                    .query_all_raw(bitmap_statement(plan, fetch).statement())
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
            let layout = SignalLayout::of(&collected, true)?;
            for r in &collected {
                if let (Some(_), Some(layout)) =
                    (r.try_get::<Option<i64>>("", "id").map_err(read)?, layout)
                {
                    rows.push(layout.row(r)?);
                }
            }
            return Ok(Round::Rows(rows, true));
        }
        if halves(plan.window).is_some() {
            return Ok(Round::Dense(found, probe_end));
        }
        // Many matches in one chunk, all older than the probe: walk on in order from where it
        // stopped (from the window's top, or below an earlier probe, when none ran).
        plan.after_probe = probe_end.or(plan.after_probe);
        let rows = self
            .query_all(
                "list_signals",
                list_statement(plan, fetch - found.len()).statement(),
            )
            .await?;
        found.extend(signal_rows(&rows)?);
        Ok(Round::Rows(found, false))
    }

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
}
