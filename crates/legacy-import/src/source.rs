//! The legacy (shared) database: a read-only session, the queries that read it in key order
//! with every conversion spelled out in SQL, and the decoding of their rows. Prices are read as
//! text, never as floating point.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sqlx::postgres::{PgConnectOptions, PgRow};
use sea_orm::sqlx::{AssertSqlSafe, ConnectOptions, Executor, PgConnection, Row};

use super::error::{LegacyError, SqlContext};
use super::mapping::{INTEGER_PATTERN, LegacyMessage, LegacySignal, TelegramChannel};
use super::shape::{
    CHANNELS_TABLE, Col, LegacyShape, MESSAGES_TABLE, MessagesShape, SIGNALS_TABLE, SignalsShape,
    literal,
};
use crate::redact_url;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens a session for `url` with UTC times and ISO dates (so times read back as text compare
/// exactly), named `application`.
pub async fn connect(
    url: &str,
    application: &str,
    read_only: bool,
) -> Result<PgConnection, LegacyError> {
    let failed = |detail: String| LegacyError::Connect {
        url: redact_url(url),
        detail,
    };
    let mut options = PgConnectOptions::from_str(url)
        .map_err(|e| failed(e.to_string()))?
        .application_name(application)
        .options([("TimeZone", "UTC"), ("DateStyle", "ISO, YMD")])
        .disable_statement_logging();
    if read_only {
        // Never writes; sorts the ordered reads in memory; not cut short by the shared server's
        // role defaults (the copy streams one long query inside one snapshot).
        options = options.options([
            ("default_transaction_read_only", "on"),
            ("work_mem", "256MB"),
            ("statement_timeout", "0"),
            ("idle_in_transaction_session_timeout", "0"),
        ]);
    }
    match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(failed(e.to_string())),
        Err(_) => Err(failed(format!("no answer within {CONNECT_TIMEOUT:?}"))),
    }
}

/// The server's `server_version_num`.
pub async fn server_version(conn: &mut PgConnection) -> Result<i32, LegacyError> {
    let row = conn
        .fetch_one("SELECT current_setting('server_version_num')::int AS v")
        .await
        .ctx("reading the server version")?;
    row.try_get("v").ctx("reading the server version")
}

/// Starts the snapshot every read of a run shares (backup, copy, validation).
pub async fn begin_snapshot(conn: &mut PgConnection) -> Result<(), LegacyError> {
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .ctx("starting the read-only snapshot on the legacy database")?;
    Ok(())
}

/// Ends it.
pub async fn end_snapshot(conn: &mut PgConnection) -> Result<(), LegacyError> {
    conn.execute("COMMIT")
        .await
        .ctx("ending the snapshot on the legacy database")?;
    Ok(())
}

fn opt_text(col: Option<&Col>, f: impl Fn(&Col) -> String) -> String {
    col.map_or_else(|| "NULL::text".to_owned(), f)
}

/// The select list of a legacy signal (see [`decode_signal`]), table alias `s`.
fn signal_columns(sh: &SignalsShape) -> String {
    let time = |t: Option<&super::shape::TimeCol>| {
        t.map_or_else(|| "NULL::timestamptz".to_owned(), |t| t.fetch("s"))
    };
    let mut cols = vec![
        sh.id.text("s"),
        sh.ts.fetch("s"),
        sh.channel.trimmed("s"),
        opt_text(sh.signal_type.as_ref(), |c| c.trimmed("s")),
        sh.asset.text("s"),
    ];
    cols.extend(
        sh.prices
            .iter()
            .map(|p| opt_text(p.as_ref(), |c| c.trimmed("s"))),
    );
    cols.push(opt_text(sh.raw_message.as_ref(), |c| c.text("s")));
    cols.push(opt_text(sh.source.as_ref(), |c| c.text("s")));
    cols.push(time(sh.ingested_at.as_ref()));
    cols.push(time(sh.created_at.as_ref()));
    cols.push(time(sh.updated_at.as_ref()));
    cols.push(sh.ts.col.text("s"));
    cols.push(sh.legacy_uuid("s"));
    cols.join(", ")
}

/// Both key columns are present.
fn signals_key_present(sh: &SignalsShape) -> String {
    format!(
        "{} IS NOT NULL AND {} IS NOT NULL",
        sh.ts.col.at("s"),
        sh.id.at("s")
    )
}

/// The signals with a key, past the checkpoint with `after` (`$1`, `$2`: the native text of
/// `ts` and `id`).
fn signals_where(sh: &SignalsShape, after: bool) -> String {
    let resume = if after {
        format!(
            " AND ({}, {}) > ($1::{}, $2::{})",
            sh.ts.col.at("s"),
            sh.id.at("s"),
            sh.ts.col.sql_type,
            sh.id.sql_type
        )
    } else {
        String::new()
    };
    format!("{}{resume}", signals_key_present(sh))
}

/// Every legacy signal with a key, in key order (`ts`, `id`: the target then receives rows in
/// time order); with `after`, only those past the checkpoint.
pub fn signals_query(shape: &LegacyShape, sh: &SignalsShape, after: bool) -> String {
    format!(
        "SELECT {} FROM {} s WHERE {} ORDER BY {}, {}",
        signal_columns(sh),
        shape.table(SIGNALS_TABLE),
        signals_where(sh, after),
        sh.ts.col.at("s"),
        sh.id.at("s")
    )
}

/// `SELECT` of every legacy signal column (see [`decode_signal`]) from the table as `s`, for
/// a caller's `WHERE`.
pub fn signals_select(shape: &LegacyShape, sh: &SignalsShape) -> String {
    format!(
        "SELECT {} FROM {} s",
        signal_columns(sh),
        shape.table(SIGNALS_TABLE)
    )
}

/// The signals the ordered read cannot reach (`ts` or `id` is NULL; recorded as skipped).
pub fn signals_without_key_query(shape: &LegacyShape, sh: &SignalsShape) -> String {
    format!(
        "SELECT {} FROM {} s WHERE NOT ({})",
        signal_columns(sh),
        shape.table(SIGNALS_TABLE),
        signals_key_present(sh)
    )
}

/// `n` random legacy signals, for the field-by-field comparison.
pub fn signals_sample_query(shape: &LegacyShape, sh: &SignalsShape) -> String {
    format!(
        "SELECT {} FROM {} s WHERE {} IS NOT NULL ORDER BY random() LIMIT $1",
        signal_columns(sh),
        shape.table(SIGNALS_TABLE),
        sh.id.at("s")
    )
}

/// Decodes a row of [`signals_query`].
pub fn decode_signal(row: &PgRow) -> Result<LegacySignal, LegacyError> {
    let get_text = |i: usize| row.try_get::<Option<String>, _>(i);
    let get_time = |i: usize| row.try_get::<Option<DateTime<Utc>>, _>(i);
    let decode = || -> Result<LegacySignal, sea_orm::sqlx::Error> {
        Ok(LegacySignal {
            id: get_text(0)?.unwrap_or_default(),
            ts: get_time(1)?,
            channel: get_text(2)?,
            signal_type: get_text(3)?,
            asset: get_text(4)?,
            prices: [
                get_text(5)?,
                get_text(6)?,
                get_text(7)?,
                get_text(8)?,
                get_text(9)?,
                get_text(10)?,
            ],
            raw_message: get_text(11)?,
            source: get_text(12)?,
            ingested_at: get_time(13)?,
            created_at: get_time(14)?,
            updated_at: get_time(15)?,
            ts_key: get_text(16)?.unwrap_or_default(),
            legacy_uuid: get_text(17)?,
        })
    };
    decode().ctx("decoding a legacy signal")
}

/// The order of the archive: its key, then a tie-break so the first of duplicate deliveries is
/// always the same row (the one the import keeps).
pub fn messages_order(mh: &MessagesShape) -> String {
    let mut order = vec![
        mh.channel_id.at("m"),
        mh.message_id.at("m"),
        mh.ts.col.at("m"),
    ];
    if let Some(r) = &mh.received_at {
        order.push(format!("{} NULLS LAST", r.col.at("m")));
    }
    if let Some(t) = &mh.text {
        order.push(format!("{} NULLS LAST", t.at("m")));
    }
    order.join(", ")
}

/// The key columns are all present.
pub fn messages_key_present(mh: &MessagesShape) -> String {
    format!(
        "{} IS NOT NULL AND {} IS NOT NULL AND {} IS NOT NULL",
        mh.channel_id.at("m"),
        mh.message_id.at("m"),
        mh.ts.col.at("m")
    )
}

/// A message is importable (the SQL twin of `mapping::map_message`'s checks; `$lo`/`$hi` are
/// the time bounds).
pub fn messages_valid(mh: &MessagesShape, lo: &str, hi: &str) -> String {
    let pattern = literal(INTEGER_PATTERN);
    format!(
        "{key} AND {c} ~ {pattern} AND {m} ~ {pattern} AND {ts} >= {lo} AND {ts} < {hi}",
        key = messages_key_present(mh),
        c = mh.channel_id.trimmed("m"),
        m = mh.message_id.trimmed("m"),
        ts = mh.ts.fetch("m"),
    )
}

/// `to_jsonb(photos)::text`, or NULL.
pub fn photos_json(mh: &MessagesShape) -> String {
    mh.photos.as_ref().map_or_else(
        || "NULL::text".to_owned(),
        |p| format!("to_jsonb({})::text", p.at("m")),
    )
}

fn message_columns(mh: &MessagesShape) -> String {
    [
        mh.channel_id.trimmed("m"),
        mh.message_id.trimmed("m"),
        mh.ts.fetch("m"),
        opt_text(mh.text.as_ref(), |c| c.text("m")),
        photos_json(mh),
        mh.received_at
            .as_ref()
            .map_or_else(|| "NULL::timestamptz".to_owned(), |r| r.fetch("m")),
        mh.channel_id.text("m"),
        mh.message_id.text("m"),
        mh.ts.col.text("m"),
    ]
    .join(", ")
}

fn messages_where(mh: &MessagesShape, after: bool) -> String {
    let resume = if after {
        format!(
            " AND ({}, {}, {}) > ($1::{}, $2::{}, $3::{})",
            mh.channel_id.at("m"),
            mh.message_id.at("m"),
            mh.ts.col.at("m"),
            mh.channel_id.sql_type,
            mh.message_id.sql_type,
            mh.ts.col.sql_type
        )
    } else {
        String::new()
    };
    format!("{}{resume}", messages_key_present(mh))
}

/// Every archived message with a complete key, in archive order; with `after`, only those past
/// the checkpoint (`$1`, `$2`, `$3`: the native text of the three key columns).
pub fn messages_query(shape: &LegacyShape, mh: &MessagesShape, after: bool) -> String {
    format!(
        "SELECT {} FROM {} m WHERE {} ORDER BY {}",
        message_columns(mh),
        shape.table(MESSAGES_TABLE),
        messages_where(mh, after),
        messages_order(mh)
    )
}

/// The messages whose key is incomplete (never in [`messages_query`]; recorded as skipped).
pub fn messages_without_key_query(shape: &LegacyShape, mh: &MessagesShape) -> String {
    format!(
        "SELECT {} FROM {} m WHERE NOT ({})",
        message_columns(mh),
        shape.table(MESSAGES_TABLE),
        messages_key_present(mh)
    )
}

/// `n` random archived messages among first deliveries (a repeated delivery of the same
/// `channel_id`, `message_id` is represented by its first, the one the import keeps).
pub fn messages_sample_query(shape: &LegacyShape, mh: &MessagesShape) -> String {
    format!(
        "SELECT * FROM (SELECT DISTINCT ON ({c}, {m}) {cols} FROM {table} m WHERE {key} \
         ORDER BY {order}) d ORDER BY random() LIMIT $1",
        c = mh.channel_id.at("m"),
        m = mh.message_id.at("m"),
        cols = message_columns(mh),
        table = shape.table(MESSAGES_TABLE),
        key = messages_key_present(mh),
        order = messages_order(mh),
    )
}

/// Decodes a row of [`messages_query`].
pub fn decode_message(row: &PgRow) -> Result<LegacyMessage, LegacyError> {
    let decode = || -> Result<LegacyMessage, sea_orm::sqlx::Error> {
        let text = |i: usize| row.try_get::<Option<String>, _>(i);
        Ok(LegacyMessage {
            channel_id: text(0)?.unwrap_or_default(),
            message_id: text(1)?.unwrap_or_default(),
            message_date: row.try_get(2)?,
            text: text(3)?,
            photos: text(4)?,
            received_at: row.try_get(5)?,
            key: [
                text(6)?.unwrap_or_default(),
                text(7)?.unwrap_or_default(),
                text(8)?.unwrap_or_default(),
            ],
        })
    };
    decode().ctx("decoding a legacy message")
}

/// Counts of one legacy table.
pub async fn count(conn: &mut PgConnection, sql: String) -> Result<i64, LegacyError> {
    let row = conn
        .fetch_one(AssertSqlSafe(sql))
        .await
        .ctx("counting legacy rows")?;
    row.try_get(0).ctx("counting legacy rows")
}

/// Legacy signals with a key past `checkpoint` (all of them without one).
pub async fn count_signals_after(
    conn: &mut PgConnection,
    shape: &LegacyShape,
    sh: &SignalsShape,
    checkpoint: Option<&[String]>,
) -> Result<i64, LegacyError> {
    let sql = format!(
        "SELECT count(*) FROM {} s WHERE {}",
        shape.table(SIGNALS_TABLE),
        signals_where(sh, checkpoint.is_some())
    );
    let mut query = sea_orm::sqlx::query(AssertSqlSafe(sql));
    for k in checkpoint.into_iter().flatten() {
        query = query.bind(k.clone());
    }
    let row = query
        .fetch_one(&mut *conn)
        .await
        .ctx("counting legacy signals")?;
    row.try_get(0).ctx("counting legacy signals")
}

/// Archived messages with a key past `checkpoint`.
pub async fn count_messages_after(
    conn: &mut PgConnection,
    shape: &LegacyShape,
    mh: &MessagesShape,
    checkpoint: Option<&[String]>,
) -> Result<i64, LegacyError> {
    let q = format!(
        "SELECT count(*) FROM {} m WHERE {}",
        shape.table(MESSAGES_TABLE),
        messages_where(mh, checkpoint.is_some())
    );
    let mut query = sea_orm::sqlx::query(AssertSqlSafe(q));
    if let Some(cp) = checkpoint {
        for k in cp {
            query = query.bind(k.clone());
        }
    }
    let row = query
        .fetch_one(&mut *conn)
        .await
        .ctx("counting legacy messages")?;
    row.try_get(0).ctx("counting legacy messages")
}

/// Archived messages with a complete key that repeat an earlier delivery of the same
/// `channel_id`, `message_id`.
pub async fn count_message_duplicates(
    conn: &mut PgConnection,
    shape: &LegacyShape,
    mh: &MessagesShape,
) -> Result<i64, LegacyError> {
    count(
        conn,
        format!(
            "SELECT count(*) - count(DISTINCT ({}, {})) FROM {} m WHERE {}",
            mh.channel_id.at("m"),
            mh.message_id.at("m"),
            shape.table(MESSAGES_TABLE),
            messages_key_present(mh)
        ),
    )
    .await
}

/// Every distinct trimmed value of a column with its row count (NULL included as `None`).
pub async fn distinct_values(
    conn: &mut PgConnection,
    shape: &LegacyShape,
    table: &str,
    col: &Col,
) -> Result<Vec<(Option<String>, i64)>, LegacyError> {
    let q = format!(
        "SELECT {v} AS v, count(*) AS n FROM {t} s GROUP BY 1 ORDER BY 2 DESC, 1",
        v = col.trimmed("s"),
        t = shape.table(table)
    );
    let rows = conn
        .fetch_all(AssertSqlSafe(q))
        .await
        .ctx("reading distinct legacy values")?;
    rows.iter()
        .map(|r| Ok((r.try_get("v")?, r.try_get("n")?)))
        .collect::<Result<_, sea_orm::sqlx::Error>>()
        .ctx("reading distinct legacy values")
}

/// `channel_id` and `label` of every legacy channel: the only columns of that table ever read.
pub async fn telegram_channels(
    conn: &mut PgConnection,
    shape: &LegacyShape,
) -> Result<Vec<TelegramChannel>, LegacyError> {
    let Some(ch) = &shape.channels else {
        return Ok(Vec::new());
    };
    let q = format!(
        "SELECT {} AS channel_id, {} AS label FROM {} s",
        ch.channel_id.trimmed("s"),
        opt_text(ch.label.as_ref(), |c| c.text("s")),
        shape.table(CHANNELS_TABLE)
    );
    let rows = conn
        .fetch_all(AssertSqlSafe(q))
        .await
        .ctx("reading legacy channels")?;
    rows.iter()
        .map(|r| {
            Ok(TelegramChannel {
                channel_id: r.try_get("channel_id")?,
                label: r.try_get("label")?,
            })
        })
        .collect::<Result<_, sea_orm::sqlx::Error>>()
        .ctx("reading legacy channels")
}

/// The on-disk size of each legacy table (an upper bound for its uncompressed backup): its own
/// heap plus its children's (a TimescaleDB hypertable keeps its rows in chunks, a partitioned
/// table in partitions), and for a view, the tables it reads.
pub async fn table_bytes(conn: &mut PgConnection, shape: &LegacyShape) -> Result<i64, LegacyError> {
    let mut total = 0;
    for (table, _) in &shape.all_columns {
        let row = sea_orm::sqlx::query(
            "WITH RECURSIVE rel(oid) AS ( \
               SELECT pg_catalog.to_regclass($1)::oid \
               UNION \
               SELECT x.oid FROM rel, LATERAL ( \
                 SELECT i.inhrelid AS oid FROM pg_catalog.pg_inherits i WHERE i.inhparent = rel.oid \
                 UNION ALL \
                 SELECT d.refobjid FROM pg_catalog.pg_rewrite w \
                 JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass \
                   AND d.objid = w.oid AND d.refclassid = 'pg_catalog.pg_class'::regclass \
                 WHERE w.ev_class = rel.oid AND d.refobjid <> rel.oid) x) \
             SELECT COALESCE(sum(pg_catalog.pg_relation_size(oid)), 0)::bigint FROM rel \
             WHERE oid IS NOT NULL",
        )
        .bind(shape.table(table))
        .fetch_one(&mut *conn)
        .await
        .ctx("reading legacy table sizes")?;
        total += row.try_get::<i64, _>(0).ctx("reading legacy table sizes")?;
    }
    Ok(total)
}
