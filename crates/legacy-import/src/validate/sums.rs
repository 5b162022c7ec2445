//! The per-day and per-channel counts and checksums, in SQL on each side.

use std::collections::BTreeMap;

use sea_orm::sqlx::{PgConnection, Row};

use super::{Bucket, TableCheck};
use crate::error::{LegacyError, SqlContext};
use crate::shape::{LegacyShape, MESSAGES_TABLE, MessagesShape, SIGNALS_TABLE, SignalsShape};
use crate::source;

/// Per bucket: rows, of which skipped, checksum of the others.
pub(super) type Sums = BTreeMap<(&'static str, String), (i64, i64, String)>;

/// Groups `r (day, channel_id, skipped, line)` per day and per channel.
pub(super) const GROUPED: &str = "SELECT coalesce(day::text, 'no day') AS day, \
    coalesce(channel_id::text, 'no channel') AS channel, \
    GROUPING(day, channel_id) AS g, count(*) AS n, count(*) FILTER (WHERE skipped) AS skipped, \
    coalesce(sum(('x' || substr(md5(line), 1, 16))::bit(64)::bigint) FILTER (WHERE NOT skipped), 0)::text AS h \
    FROM r GROUP BY GROUPING SETS ((day), (channel_id))";

pub(super) async fn sums(
    conn: &mut PgConnection,
    query: sea_orm::sqlx::query::Query<
        '_,
        sea_orm::sqlx::Postgres,
        sea_orm::sqlx::postgres::PgArguments,
    >,
    what: &str,
) -> Result<Sums, LegacyError> {
    let rows = query.fetch_all(&mut *conn).await.ctx(what)?;
    let mut out = Sums::new();
    for r in rows {
        let g: i32 = r.try_get("g").ctx(what)?;
        let key = if g == 1 {
            ("day", r.try_get::<String, _>("day").ctx(what)?)
        } else {
            ("channel", r.try_get::<String, _>("channel").ctx(what)?)
        };
        out.insert(
            key,
            (
                r.try_get("n").ctx(what)?,
                r.try_get("skipped").ctx(what)?,
                r.try_get("h").ctx(what)?,
            ),
        );
    }
    Ok(out)
}

pub(super) fn compare(table: &'static str, legacy: Sums, target: Sums) -> TableCheck {
    let mut keys: Vec<_> = legacy.keys().chain(target.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    let none = (0, 0, "0".to_owned());
    let buckets: Vec<Bucket> = keys
        .into_iter()
        .map(|k| {
            let l = legacy.get(&k).unwrap_or(&none);
            let t = target.get(&k).unwrap_or(&none);
            Bucket {
                dimension: k.0,
                bucket: k.1,
                source_rows: l.0,
                skipped_rows: l.1,
                legacy_rows: l.0 - l.1,
                target_rows: t.0,
                legacy_checksum: l.2.clone(),
                target_checksum: t.2.clone(),
            }
        })
        .collect();
    let count = |m: &[Bucket], side: fn(&Bucket) -> i64| {
        m.iter()
            .filter(|b| b.dimension == "day")
            .map(side)
            .sum::<i64>()
    };
    TableCheck {
        table,
        source_rows: count(&buckets, |b| b.source_rows),
        skipped_rows: count(&buckets, |b| b.skipped_rows),
        legacy_rows: count(&buckets, |b| b.legacy_rows),
        target_rows: count(&buckets, |b| b.target_rows),
        mismatched_buckets: buckets.iter().filter(|b| !b.matches()).count(),
        buckets,
    }
}

fn norm(expr: Option<String>) -> String {
    expr.map_or_else(
        || "'\\N'".to_owned(),
        |e| format!("coalesce(trim_scale(btrim({e})::numeric)::text, '\\N')"),
    )
}

/// Legacy-side signal sums over every legacy row: those recorded as skipped (`$5`, their keys)
/// counted apart, the others mapped in SQL and summed.
pub(super) fn legacy_signals_sql(shape: &LegacyShape, sh: &SignalsShape) -> String {
    let p = |i: usize| sh.prices[i].as_ref().map(|c| c.text("s"));
    let target = |i: usize| {
        p(i).map_or_else(
            || "NULL".to_owned(),
            |e| format!("trim_scale(btrim({e})::numeric)::text"),
        )
    };
    let kind_join = sh.signal_type.as_ref().map_or_else(
        || "LEFT JOIN km ON FALSE".to_owned(),
        |c| format!("LEFT JOIN km ON km.signal_type = {}", c.trimmed("s")),
    );
    format!(
        "WITH cm(channel, channel_id) AS (SELECT * FROM unnest($1::text[], $2::bigint[])), \
         km(signal_type, kind) AS (SELECT * FROM unnest($3::text[], $4::text[])), \
         sk(k) AS (SELECT DISTINCT * FROM unnest($5::text[])), \
         r AS (SELECT {day} AS day, cm.channel_id, sk.k IS NOT NULL AS skipped, \
                 concat_ws('|', {uuid}, {micros}, cm.channel_id::text, \
                 upper(btrim({asset})), coalesce(km.kind, '-'), {bmin}, {bmax}, \
                 concat_ws(',', {t1}, {t2}), {tf}, {stop}, coalesce({raw}, ''), coalesce({src}, '\\N')) AS line \
               FROM {table} s LEFT JOIN cm ON cm.channel = {channel} {kind_join} \
               LEFT JOIN sk ON sk.k = coalesce({id}, 'NULL')) \
         {GROUPED}",
        id = sh.id.text("s"),
        uuid = sh.legacy_uuid("s"),
        day = sh.ts.day("s"),
        micros = sh.ts.micros("s"),
        asset = sh.asset.text("s"),
        bmin = norm(p(0)),
        bmax = norm(p(1)),
        t1 = target(2),
        t2 = target(3),
        tf = norm(p(4)),
        stop = norm(p(5)),
        raw = sh
            .raw_message
            .as_ref()
            .map_or_else(|| "NULL::text".to_owned(), |c| c.text("s")),
        src = sh
            .source
            .as_ref()
            .map_or_else(|| "NULL::text".to_owned(), |c| c.text("s")),
        table = shape.table(SIGNALS_TABLE),
        channel = sh.channel.trimmed("s"),
    )
}

/// Target-side signal rows of the live imports (`$1`).
pub(super) const TARGET_SIGNALS: &str = "WITH r AS (SELECT (s.message_date AT TIME ZONE 'UTC')::date AS day, \
    s.channel_id, false AS skipped, concat_ws('|', s.legacy_id::text, \
      (extract(epoch FROM s.message_date) * 1000000)::bigint::text, s.channel_id::text, s.asset, \
      coalesce(s.kind, '-'), coalesce(trim_scale(s.entry_min)::text, '\\N'), \
      coalesce(trim_scale(s.entry_max)::text, '\\N'), \
      coalesce((SELECT string_agg(trim_scale(t)::text, ',' ORDER BY o) \
                FROM unnest(s.targets) WITH ORDINALITY AS u(t, o)), ''), \
      coalesce(trim_scale(s.target_final)::text, '\\N'), coalesce(trim_scale(s.stop)::text, '\\N'), \
      s.raw_message, coalesce(s.source, '\\N')) AS line \
    FROM signals.signals s WHERE s.import_id = ANY($1) AND s.legacy_id IS NOT NULL) ";

/// Legacy-side message sums: the first delivery of each valid message (`$1`, `$2`: time bounds).
pub(super) fn legacy_messages_sql(shape: &LegacyShape, mh: &MessagesShape) -> String {
    let ts_micros = mh.ts.micros("m");
    let received = mh.received_at.as_ref().map_or_else(
        || ts_micros.clone(),
        |r| format!("coalesce({}, {ts_micros})", r.micros("m")),
    );
    format!(
        "WITH r AS (SELECT DISTINCT ON ({c}, {m}) {day} AS day, {ci}::bigint AS channel_id, false AS skipped, \
           concat_ws('|', {ci}::bigint::text, {mi}::bigint::text, {ts_micros}, coalesce({text}, ''), \
             coalesce({photos}, '\\N'), {received}) AS line \
         FROM {table} m WHERE {valid} ORDER BY {order}) {GROUPED}",
        c = mh.channel_id.at("m"),
        m = mh.message_id.at("m"),
        day = mh.ts.day("m"),
        ci = mh.channel_id.trimmed("m"),
        mi = mh.message_id.trimmed("m"),
        text = mh
            .text
            .as_ref()
            .map_or_else(|| "NULL::text".to_owned(), |c| c.text("m")),
        photos = source::photos_json(mh),
        table = shape.table(MESSAGES_TABLE),
        valid = source::messages_valid(mh, "$1", "$2"),
        order = source::messages_order(mh),
    )
}

/// Target-side archive rows of the live imports (`$1`).
pub(super) const TARGET_MESSAGES: &str = "WITH r AS (SELECT (m.message_date AT TIME ZONE 'UTC')::date AS day, \
    m.channel_id, false AS skipped, concat_ws('|', m.channel_id::text, m.message_id::text, \
      (extract(epoch FROM m.message_date) * 1000000)::bigint::text, m.text, \
      coalesce((m.metadata -> 'legacy_photos')::text, '\\N'), \
      (extract(epoch FROM m.received_at) * 1000000)::bigint::text) AS line \
    FROM forwarded_messages.messages m WHERE m.import_id = ANY($1)) ";
