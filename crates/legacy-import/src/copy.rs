//! The copy itself: one ordered read of a legacy table feeds batches to several writing
//! connections (the target's index maintenance is the bottleneck, and one backend uses one
//! core). Writers insert concurrently but commit strictly in batch order, each batch together
//! with its checkpoint, so the checkpoint is always the end of a contiguous prefix: a kill loses
//! only uncommitted batches, and a resume re-reads from the checkpoint. Replays are harmless:
//! inserts are `ON CONFLICT DO NOTHING` on the natural key.
//!
//! Two open transactions can still need the same lock (a new hypertable chunk, a unique key):
//! a later batch that blocks an earlier one rolls back and redoes its batch after it, and rows
//! sharing a target unique key are never split across batches.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use futures_util::future::try_join_all;
use sea_orm::sqlx::postgres::PgRow;
use sea_orm::sqlx::{AssertSqlSafe, Connection, PgConnection};
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use super::error::{LegacyError, SqlContext};
use super::mapping::{
    ChannelResolution, LegacyMessage, LegacySignal, MappedMessage, MappedSignal, Skip, TimeBounds,
    map_message, map_signal,
};
use super::progress::Progress;
use super::shape::{LegacyShape, MessagesShape, SignalsShape};
use super::source;
use super::target::{self, Batch, Table, Written};

/// What every copy needs.
#[derive(Debug)]
pub struct CopyContext<'a> {
    /// The legacy schema.
    pub shape: &'a LegacyShape,
    /// Resolved channels.
    pub channels: &'a HashMap<String, ChannelResolution>,
    /// Plausible message times.
    pub bounds: TimeBounds,
    /// Rows per batch.
    pub batch_size: usize,
    /// The run.
    pub import_id: Uuid,
}

/// What [`Staged::place`] says of a legacy row.
type Placed<T> = (Vec<String>, Vec<String>, Result<T, (String, Skip)>);

/// Batches read ahead of the writers.
const READ_AHEAD: usize = 4;

/// A writer waiting longer than this for a lock is stuck (never expected): fail, then resume.
const LOCK_WAIT: Duration = Duration::from_secs(120);

/// Rows of one target table and the legacy rows they come from.
trait Staged: Sized {
    const TABLE: Table;
    /// A legacy row as read.
    type Legacy;
    /// The plural noun of the legacy rows, for error contexts.
    const NOUN: &'static str;
    fn decode(row: &PgRow) -> Result<Self::Legacy, LegacyError>;
    /// The group a legacy row never leaves (see [`Batcher`]), its checkpoint key, and the row it
    /// maps to or why it is skipped.
    fn place(legacy: &Self::Legacy, ctx: &CopyContext<'_>) -> Placed<Self>;
    /// A legacy row the ordered read cannot reach (a key column is NULL), as a skip.
    fn keyless(legacy: Self::Legacy) -> (String, Skip);
    fn stage<'a>(
        conn: &'a mut PgConnection,
        import_id: Uuid,
        batch: &'a Batch<Self>,
    ) -> impl Future<Output = Result<Written, LegacyError>> + 'a;
}

impl Staged for MappedSignal {
    const TABLE: Table = Table::Signals;
    type Legacy = LegacySignal;
    const NOUN: &'static str = "signals";
    fn decode(row: &PgRow) -> Result<LegacySignal, LegacyError> {
        source::decode_signal(row)
    }
    fn place(legacy: &LegacySignal, ctx: &CopyContext<'_>) -> Placed<Self> {
        let key = vec![legacy.ts_key.clone(), legacy.id.clone()];
        let mapped =
            map_signal(legacy, ctx.channels, &ctx.bounds).map_err(|s| (legacy.id.clone(), s));
        (key.clone(), key, mapped)
    }
    fn keyless(legacy: LegacySignal) -> (String, Skip) {
        let code = if legacy.ts.is_none() {
            "ts_missing"
        } else {
            "id_missing"
        };
        let key = if legacy.id.is_empty() {
            "NULL".to_owned()
        } else {
            legacy.id
        };
        (
            key,
            Skip {
                code,
                detail: "id or ts is NULL".to_owned(),
            },
        )
    }
    fn stage<'a>(
        conn: &'a mut PgConnection,
        import_id: Uuid,
        batch: &'a Batch<Self>,
    ) -> impl Future<Output = Result<Written, LegacyError>> + 'a {
        target::stage_signals(conn, import_id, batch)
    }
}

impl Staged for MappedMessage {
    const TABLE: Table = Table::Messages;
    type Legacy = LegacyMessage;
    const NOUN: &'static str = "messages";
    fn decode(row: &PgRow) -> Result<LegacyMessage, LegacyError> {
        source::decode_message(row)
    }
    fn place(legacy: &LegacyMessage, ctx: &CopyContext<'_>) -> Placed<Self> {
        let mapped = map_message(legacy, &ctx.bounds).map_err(|s| (legacy.key.join("/"), s));
        (legacy.key[..2].to_vec(), legacy.key.to_vec(), mapped)
    }
    fn keyless(legacy: LegacyMessage) -> (String, Skip) {
        let key = legacy
            .key
            .iter()
            .map(|k| if k.is_empty() { "NULL" } else { k.as_str() })
            .collect::<Vec<_>>()
            .join("/");
        let detail = "channel_id, message_id or original_timestamp is NULL".to_owned();
        (
            key,
            Skip {
                code: "key_missing",
                detail,
            },
        )
    }
    fn stage<'a>(
        conn: &'a mut PgConnection,
        import_id: Uuid,
        batch: &'a Batch<Self>,
    ) -> impl Future<Output = Result<Written, LegacyError>> + 'a {
        target::stage_messages(conn, import_id, batch)
    }
}

/// Cuts the ordered stream into batches of about `n` rows, never between rows of the same
/// group (rows that would claim the same target key).
struct Batcher<T> {
    n: usize,
    seq: u64,
    current: Batch<T>,
    group: Option<Vec<String>>,
}

impl<T> Batcher<T> {
    fn new(n: usize) -> Self {
        Self {
            n,
            seq: 0,
            current: Batch::new(0, n),
            group: None,
        }
    }

    /// The full batch to send before a row of `group`, if any.
    fn before(&mut self, group: &[String]) -> Option<Batch<T>> {
        let full = self.current.read as usize >= self.n && self.group.as_deref() != Some(group);
        full.then(|| {
            self.seq += 1;
            std::mem::replace(&mut self.current, Batch::new(self.seq, self.n))
        })
    }

    /// Adds a row of `group` whose legacy key (the checkpoint) is `key`.
    fn push(&mut self, group: Vec<String>, key: Vec<String>, row: Result<T, (String, Skip)>) {
        self.current.read += 1;
        match row {
            Ok(r) => self.current.rows.push(r),
            Err(s) => self.current.skipped.push(s),
        }
        self.current.last_key = Some(key);
        self.group = Some(group);
    }

    fn rest(self) -> Option<Batch<T>> {
        (self.current.read > 0).then_some(self.current)
    }
}

fn add(total: &mut Written, w: Written) {
    total.read += w.read;
    total.inserted += w.inserted;
    total.skipped += w.skipped;
}

/// What the writers share.
struct Shared<'p, T> {
    rx: tokio::sync::Mutex<mpsc::Receiver<Batch<T>>>,
    turn: watch::Sender<u64>,
    /// Backend pid of the writer holding each uncommitted batch.
    in_flight: Mutex<BTreeMap<u64, i32>>,
    last_commit: Mutex<Instant>,
    progress: Mutex<&'p mut Progress>,
    import_id: Uuid,
}

/// How often a writer waiting for its turn checks whether it blocks an earlier batch.
const YIELD_CHECK: Duration = Duration::from_millis(100);

/// Waits until `seq` may commit. Returns false when this transaction blocks an earlier,
/// uncommitted batch (say it created the hypertable chunk both need): it must roll back and
/// redo its batch after the earlier one, or both would wait forever.
async fn wait_for_turn<T>(
    tx: &mut PgConnection,
    turn: &mut watch::Receiver<u64>,
    seq: u64,
    me: i32,
    shared: &Shared<'_, T>,
) -> Result<bool, LegacyError> {
    loop {
        match tokio::time::timeout(YIELD_CHECK, turn.wait_for(|next| *next == seq)).await {
            Ok(Ok(_)) => return Ok(true),
            Ok(Err(_)) => {
                return Err(LegacyError::Database {
                    context: "waiting for the commit turn".into(),
                    detail: "the other writers stopped".into(),
                });
            }
            Err(_) => {
                let earlier: Vec<i32> = shared
                    .in_flight
                    .lock()
                    .map(|m| m.range(..seq).map(|(_, pid)| *pid).collect())
                    .unwrap_or_default();
                if earlier.is_empty() {
                    continue;
                }
                let blocks: bool = sea_orm::sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM unnest($2::int[]) AS p(pid) \
                     WHERE $1 = ANY (pg_catalog.pg_blocking_pids(p.pid)))",
                )
                .bind(me)
                .bind(earlier)
                .fetch_one(&mut *tx)
                .await
                .ctx("checking lock waits")?;
                if blocks {
                    return Ok(false);
                }
            }
        }
    }
}

/// One writer: takes the next batch, inserts it, waits for its turn, commits it with its
/// checkpoint.
async fn writer<T: Staged>(
    conn: &mut PgConnection,
    shared: &Shared<'_, T>,
) -> Result<Written, LegacyError> {
    let me: i32 = sea_orm::sqlx::query_scalar("SELECT pg_catalog.pg_backend_pid()")
        .fetch_one(&mut *conn)
        .await
        .ctx("reading the backend pid")?;
    let mut total = Written::default();
    let mut turn = shared.turn.subscribe();
    loop {
        let next = shared.rx.lock().await.recv().await;
        let Some(batch) = next else {
            return Ok(total);
        };
        if let Ok(mut m) = shared.in_flight.lock() {
            m.insert(batch.seq, me);
        }
        let mut tx = conn.begin().await.ctx("starting a batch")?;
        let mut written = T::stage(&mut tx, shared.import_id, &batch).await?;
        if !wait_for_turn(&mut tx, &mut turn, batch.seq, me, shared).await? {
            tx.rollback().await.ctx("yielding a batch")?;
            tracing::debug!(
                seq = batch.seq,
                "batch yields to an earlier one and is redone"
            );
            turn.wait_for(|next| *next == batch.seq)
                .await
                .map_err(|_| LegacyError::Database {
                    context: "waiting for the commit turn".into(),
                    detail: "the other writers stopped".into(),
                })?;
            tx = conn.begin().await.ctx("starting a batch")?;
            written = T::stage(&mut tx, shared.import_id, &batch).await?;
        }
        let seconds = shared.last_commit.lock().map_or(0.0, |mut at| {
            let s = at.elapsed().as_secs_f64();
            *at = Instant::now();
            s
        });
        target::checkpoint(
            &mut tx,
            shared.import_id,
            T::TABLE,
            batch.last_key.as_deref(),
            written,
            seconds,
        )
        .await?;
        tx.commit().await.ctx("committing a batch")?;
        if let Ok(mut m) = shared.in_flight.lock() {
            m.remove(&batch.seq);
        }
        shared.turn.send_replace(batch.seq + 1);
        if let Ok(mut p) = shared.progress.lock() {
            p.advance(written.read);
        }
        add(&mut total, written);
    }
}

/// Writes what arrives on `rx` through every connection of `writers`, committing in order.
async fn write_all<T: Staged>(
    writers: &mut [&mut PgConnection],
    rx: mpsc::Receiver<Batch<T>>,
    import_id: Uuid,
    progress: &mut Progress,
) -> Result<Written, LegacyError> {
    let shared = Shared {
        rx: tokio::sync::Mutex::new(rx),
        turn: watch::channel(0u64).0,
        in_flight: Mutex::new(BTreeMap::new()),
        last_commit: Mutex::new(Instant::now()),
        progress: Mutex::new(progress),
        import_id,
    };
    let totals = try_join_all(writers.iter_mut().map(|c| writer(c, &shared))).await?;
    let mut total = Written::default();
    for t in totals {
        add(&mut total, t);
    }
    Ok(total)
}

/// Sets the lock wait of every writer.
pub async fn prepare_writers(writers: &mut [&mut PgConnection]) -> Result<(), LegacyError> {
    for w in writers.iter_mut() {
        target::tune_writer(w).await?;
        sea_orm::sqlx::query(AssertSqlSafe(format!(
            "SET lock_timeout = '{}s'",
            LOCK_WAIT.as_secs()
        )))
        .execute(&mut **w)
        .await
        .ctx("configuring a writer")?;
    }
    Ok(())
}

/// Copies the legacy signals past `checkpoint`, then records the ones without a key.
pub async fn signals(
    src: &mut PgConnection,
    writers: &mut [&mut PgConnection],
    ctx: &CopyContext<'_>,
    sh: &SignalsShape,
    checkpoint: Option<Vec<String>>,
    progress: &mut Progress,
) -> Result<Written, LegacyError> {
    let read = source::signals_query(ctx.shape, sh, checkpoint.is_some());
    let keyless = source::signals_without_key_query(ctx.shape, sh);
    copy::<MappedSignal>(src, writers, ctx, [read, keyless], checkpoint, progress).await
}

/// Copies the legacy archive past `checkpoint`, then records the rows without a key.
pub async fn messages(
    src: &mut PgConnection,
    writers: &mut [&mut PgConnection],
    ctx: &CopyContext<'_>,
    mh: &MessagesShape,
    checkpoint: Option<Vec<String>>,
    progress: &mut Progress,
) -> Result<Written, LegacyError> {
    let read = source::messages_query(ctx.shape, mh, checkpoint.is_some());
    let keyless = source::messages_without_key_query(ctx.shape, mh);
    copy::<MappedMessage>(src, writers, ctx, [read, keyless], checkpoint, progress).await
}

/// Copies one legacy table: the ordered read `sql` past `checkpoint` into batches for the
/// writers, then the rows the read cannot reach (`keyless_sql`) recorded as skipped.
async fn copy<T: Staged + Send>(
    src: &mut PgConnection,
    writers: &mut [&mut PgConnection],
    ctx: &CopyContext<'_>,
    [sql, keyless_sql]: [String; 2],
    checkpoint: Option<Vec<String>>,
    progress: &mut Progress,
) -> Result<Written, LegacyError> {
    let (tx, rx) = mpsc::channel::<Batch<T>>(READ_AHEAD);
    let reading = format!("reading legacy {}", T::NOUN);
    let reader = async {
        let mut query = sea_orm::sqlx::query(AssertSqlSafe(sql));
        for k in checkpoint.into_iter().flatten() {
            query = query.bind(k);
        }
        let mut rows = query.fetch(&mut *src);
        let mut batcher = Batcher::new(ctx.batch_size);
        while let Some(row) = rows.try_next().await.ctx(&reading)? {
            let (group, key, mapped) = T::place(&T::decode(&row)?, ctx);
            if let Some(full) = batcher.before(&group)
                && tx.send(full).await.is_err()
            {
                return Ok(());
            }
            batcher.push(group, key, mapped);
        }
        if let Some(rest) = batcher.rest() {
            let _ = tx.send(rest).await;
        }
        drop(tx);
        Ok::<(), LegacyError>(())
    };
    let ((), mut total) =
        tokio::try_join!(reader, write_all(writers, rx, ctx.import_id, progress))?;

    let rows = sea_orm::sqlx::query(AssertSqlSafe(keyless_sql))
        .fetch_all(&mut *src)
        .await
        .ctx(&format!("{reading} without a key"))?;
    let keyless = rows
        .iter()
        .map(|row| T::decode(row).map(T::keyless))
        .collect::<Result<Vec<_>, _>>()?;
    finish(
        writers,
        T::TABLE,
        ctx.import_id,
        keyless,
        &mut total,
        progress,
    )
    .await?;
    Ok(total)
}

async fn finish(
    writers: &mut [&mut PgConnection],
    table: Table,
    import_id: Uuid,
    keyless: Vec<(String, Skip)>,
    total: &mut Written,
    progress: &mut Progress,
) -> Result<(), LegacyError> {
    let Some(conn) = writers.first_mut() else {
        return Err(LegacyError::Database {
            context: "copying".into(),
            detail: "no writer connection".into(),
        });
    };
    target::table_done(conn, import_id, table, &keyless).await?;
    total.read += keyless.len() as u64;
    total.skipped += keyless.len() as u64;
    progress.advance(keyless.len() as u64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_never_split_equal_keys() {
        let mut b: Batcher<u32> = Batcher::new(2);
        let k = |s: &str| vec![s.to_owned()];
        let mut sent = Vec::new();
        for (i, key) in ["a", "b", "b", "b", "c", "d", "e"].iter().enumerate() {
            if let Some(full) = b.before(&k(key)) {
                sent.push(full);
            }
            b.push(k(key), k(&format!("{key}{i}")), Ok(0));
        }
        sent.extend(b.rest());
        let sizes: Vec<(u64, u64)> = sent.iter().map(|b| (b.seq, b.read)).collect();
        assert_eq!(sizes, [(0, 4), (1, 2), (2, 1)]);
        assert_eq!(sent[0].last_key, Some(k("b3")));
    }
}
