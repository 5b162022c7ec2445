//! Proof that the target holds what the legacy database holds: per-day and per-channel row
//! counts and checksums computed in SQL on each side from each side's own columns (the legacy
//! side re-derives the mapping declaratively, so a wrong conversion in the copy shows up as a
//! mismatch), plus random rows compared field by field.
//!
//! A bucket's checksum is the sum of the first 64 bits of `md5(normalised row text)` over its
//! rows: independent of row order, constant memory (no giant `string_agg`), and a single changed
//! field changes it with probability 1 - 2^-64.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::sqlx::{AssertSqlSafe, PgConnection, Row};
use serde::Serialize;
use uuid::Uuid;

use super::error::{LegacyError, SqlContext};
use super::mapping::{
    self, ChannelResolution, PARSER_VERSION, TimeBounds, kind_of, map_message, map_signal,
};
use super::shape::{LegacyShape, MESSAGES_TABLE, MessagesShape, SIGNALS_TABLE, SignalsShape};
use super::source;

/// One bucket on both sides.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Bucket {
    /// `day` or `channel`.
    pub dimension: &'static str,
    /// The day (`YYYY-MM-DD`) or the channel id.
    pub bucket: String,
    /// Legacy rows.
    pub legacy_rows: i64,
    /// Target rows.
    pub target_rows: i64,
    /// Legacy checksum.
    pub legacy_checksum: String,
    /// Target checksum.
    pub target_checksum: String,
}

impl Bucket {
    /// Both sides agree.
    pub fn matches(&self) -> bool {
        self.legacy_rows == self.target_rows && self.legacy_checksum == self.target_checksum
    }
}

/// The comparison of one table.
#[derive(Debug, Clone, Serialize)]
pub struct TableCheck {
    /// Legacy table.
    pub table: &'static str,
    /// Legacy rows expected in the target.
    pub legacy_rows: i64,
    /// Target rows from legacy imports.
    pub target_rows: i64,
    /// Every bucket, days then channels.
    pub buckets: Vec<Bucket>,
    /// How many buckets disagree.
    pub mismatched_buckets: usize,
}

impl TableCheck {
    /// Counts and every bucket agree.
    pub fn ok(&self) -> bool {
        self.legacy_rows == self.target_rows && self.mismatched_buckets == 0
    }
}

/// Random rows compared field by field.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SampleCheck {
    /// Legacy rows compared.
    pub compared: usize,
    /// Of which were skipped rows (checked absent and recorded).
    pub skipped_rows: usize,
    /// Every difference found.
    pub mismatches: Vec<String>,
}

/// The whole validation.
#[derive(Debug, Clone, Serialize)]
pub struct Validation {
    /// Everything agrees.
    pub ok: bool,
    /// Signals.
    pub signals: TableCheck,
    /// Archived messages, when the legacy archive exists.
    pub messages: Option<TableCheck>,
    /// The signal sample.
    pub signal_sample: SampleCheck,
    /// The message sample.
    pub message_sample: Option<SampleCheck>,
}

type Sums = BTreeMap<(&'static str, String), (i64, String)>;

const GROUPED: &str = "SELECT day::text AS day, channel_id::text AS channel, \
    GROUPING(day, channel_id) AS g, count(*) AS n, \
    sum(('x' || substr(md5(line), 1, 16))::bit(64)::bigint)::text AS h \
    FROM r GROUP BY GROUPING SETS ((day), (channel_id))";

async fn sums(
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
        out.insert(key, (r.try_get("n").ctx(what)?, r.try_get("h").ctx(what)?));
    }
    Ok(out)
}

fn compare(table: &'static str, legacy: Sums, target: Sums) -> TableCheck {
    let mut keys: Vec<_> = legacy.keys().chain(target.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    let none = (0, "0".to_owned());
    let buckets: Vec<Bucket> = keys
        .into_iter()
        .map(|k| {
            let l = legacy.get(&k).unwrap_or(&none);
            let t = target.get(&k).unwrap_or(&none);
            Bucket {
                dimension: k.0,
                bucket: k.1,
                legacy_rows: l.0,
                target_rows: t.0,
                legacy_checksum: l.1.clone(),
                target_checksum: t.1.clone(),
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

/// Legacy-side signal sums: rows not skipped by `import_id`, mapped in SQL.
fn legacy_signals_sql(shape: &LegacyShape, sh: &SignalsShape) -> String {
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
    let id = sh.id.text("s");
    format!(
        "WITH cm(channel, channel_id) AS (SELECT * FROM unnest($1::text[], $2::bigint[])), \
         km(signal_type, kind) AS (SELECT * FROM unnest($3::text[], $4::text[])), \
         sk(k) AS (SELECT DISTINCT * FROM unnest($5::text[])), \
         r AS (SELECT {day} AS day, cm.channel_id, concat_ws('|', {id}, {micros}, cm.channel_id::text, \
                 upper(btrim({asset})), coalesce(km.kind, '-'), {bmin}, {bmax}, \
                 concat_ws(',', {t1}, {t2}), {tf}, {stop}, coalesce({raw}, ''), coalesce({src}, '\\N')) AS line \
               FROM {table} s JOIN cm ON cm.channel = {channel} {kind_join} \
               WHERE {idcol} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM sk WHERE sk.k = {id})) \
         {GROUPED}",
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
        idcol = sh.id.at("s"),
    )
}

const TARGET_SIGNALS: &str = "WITH r AS (SELECT (s.message_date AT TIME ZONE 'UTC')::date AS day, \
    s.channel_id, concat_ws('|', s.legacy_id::text, \
      (extract(epoch FROM s.message_date) * 1000000)::bigint::text, s.channel_id::text, s.asset, \
      coalesce(s.kind, '-'), coalesce(trim_scale(s.entry_min)::text, '\\N'), \
      coalesce(trim_scale(s.entry_max)::text, '\\N'), \
      coalesce((SELECT string_agg(trim_scale(t)::text, ',' ORDER BY o) \
                FROM unnest(s.targets) WITH ORDINALITY AS u(t, o)), ''), \
      coalesce(trim_scale(s.target_final)::text, '\\N'), coalesce(trim_scale(s.stop)::text, '\\N'), \
      s.raw_message, coalesce(s.source, '\\N')) AS line \
    FROM signals.signals s WHERE s.import_id = ANY($1) AND s.legacy_id IS NOT NULL) ";

fn legacy_messages_sql(shape: &LegacyShape, mh: &MessagesShape) -> String {
    let ts_micros = mh.ts.micros("m");
    let received = mh.received_at.as_ref().map_or_else(
        || ts_micros.clone(),
        |r| format!("coalesce({}, {ts_micros})", r.micros("m")),
    );
    format!(
        "WITH r AS (SELECT DISTINCT ON ({c}, {m}) {day} AS day, {ci}::bigint AS channel_id, \
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

const TARGET_MESSAGES: &str = "WITH r AS (SELECT (m.message_date AT TIME ZONE 'UTC')::date AS day, \
    m.channel_id, concat_ws('|', m.channel_id::text, m.message_id::text, \
      (extract(epoch FROM m.message_date) * 1000000)::bigint::text, m.text, \
      coalesce((m.metadata -> 'legacy_photos')::text, '\\N'), \
      (extract(epoch FROM m.received_at) * 1000000)::bigint::text) AS line \
    FROM forwarded_messages.messages m WHERE m.import_id = ANY($1)) ";

/// What validation needs to know about the run.
#[derive(Debug)]
pub struct Context<'a> {
    /// The legacy schema.
    pub shape: &'a LegacyShape,
    /// Resolved channels.
    pub channels: &'a HashMap<String, ChannelResolution>,
    /// Distinct legacy signal types.
    pub signal_types: &'a [String],
    /// This run.
    pub import_id: Uuid,
    /// Every live import (the target scope).
    pub imports: &'a [Uuid],
    /// This run's time bounds.
    pub bounds: TimeBounds,
    /// Rows to compare field by field, per table.
    pub sample: usize,
}

/// Compares both sides; `ok` only when every count, checksum and sampled field agrees.
pub async fn validate(
    src: &mut PgConnection,
    tgt: &mut PgConnection,
    ctx: &Context<'_>,
) -> Result<Validation, LegacyError> {
    let Some(sh) = &ctx.shape.signals else {
        return Err(LegacyError::NoGo("no legacy signals table".into()));
    };
    let (mut legacy_channels, mut ids) = (Vec::new(), Vec::new());
    for c in ctx.channels.values() {
        legacy_channels.push(c.legacy.clone());
        ids.push(c.channel_id);
    }
    let (mut types, mut kinds) = (Vec::new(), Vec::new());
    for t in ctx.signal_types {
        if let Some(k) = kind_of(t) {
            types.push(t.clone());
            kinds.push(k.as_str().to_owned());
        }
    }
    let skipped = super::target::skipped_keys(tgt, &[ctx.import_id], SIGNALS_TABLE).await?;
    let legacy = sums(
        src,
        sea_orm::sqlx::query(AssertSqlSafe(legacy_signals_sql(ctx.shape, sh)))
            .bind(legacy_channels)
            .bind(ids)
            .bind(types)
            .bind(kinds)
            .bind(skipped),
        "legacy signal checksums",
    )
    .await?;
    let target = sums(
        tgt,
        sea_orm::sqlx::query(AssertSqlSafe(format!("{TARGET_SIGNALS}{GROUPED}")))
            .bind(ctx.imports.to_vec()),
        "target signal checksums",
    )
    .await?;
    let signals = compare(SIGNALS_TABLE, legacy, target);
    let signal_sample = sample_signals(src, tgt, ctx, sh).await?;

    let (messages, message_sample) = match &ctx.shape.messages {
        Some(mh) => {
            let legacy = sums(
                src,
                sea_orm::sqlx::query(AssertSqlSafe(legacy_messages_sql(ctx.shape, mh)))
                    .bind(ctx.bounds.from)
                    .bind(ctx.bounds.until),
                "legacy message checksums",
            )
            .await?;
            let target = sums(
                tgt,
                sea_orm::sqlx::query(AssertSqlSafe(format!("{TARGET_MESSAGES}{GROUPED}")))
                    .bind(ctx.imports.to_vec()),
                "target message checksums",
            )
            .await?;
            (
                Some(compare(MESSAGES_TABLE, legacy, target)),
                Some(sample_messages(src, tgt, ctx, mh).await?),
            )
        }
        None => (None, None),
    };
    let ok = signals.ok()
        && signal_sample.mismatches.is_empty()
        && messages.as_ref().is_none_or(TableCheck::ok)
        && message_sample
            .as_ref()
            .is_none_or(|s| s.mismatches.is_empty());
    Ok(Validation {
        ok,
        signals,
        messages,
        signal_sample,
        message_sample,
    })
}

fn dec(raw: Option<&str>) -> Option<Decimal> {
    raw.and_then(|r| Decimal::from_str(r.trim()).ok())
}

async fn sample_signals(
    src: &mut PgConnection,
    tgt: &mut PgConnection,
    ctx: &Context<'_>,
    sh: &SignalsShape,
) -> Result<SampleCheck, LegacyError> {
    let rows = sea_orm::sqlx::query(AssertSqlSafe(source::signals_sample_query(ctx.shape, sh)))
        .bind(ctx.sample as i64)
        .fetch_all(&mut *src)
        .await
        .ctx("sampling legacy signals")?;
    let mut check = SampleCheck::default();
    for row in &rows {
        let legacy = source::decode_signal(row)?;
        check.compared += 1;
        let mapped = map_signal(&legacy, ctx.channels, &ctx.bounds);
        let Ok(legacy_id) = Uuid::parse_str(legacy.id.trim()) else {
            check.skipped_rows += 1;
            continue;
        };
        let found = sea_orm::sqlx::query(
            "SELECT channel_id, message_date, asset, kind, direction, entry_min::text AS entry_min, \
               entry_max::text AS entry_max, targets::text[] AS targets, \
               target_final::text AS target_final, stop::text AS stop, raw_message, source, \
               parser_version, import_id \
             FROM signals.signals WHERE legacy_id = $1 AND import_id = ANY($2)",
        )
        .bind(legacy_id)
        .bind(ctx.imports.to_vec())
        .fetch_all(&mut *tgt)
        .await
        .ctx("reading sampled signals")?;
        let id = &legacy.id;
        if mapped.is_err() {
            check.skipped_rows += 1;
            let recorded = sea_orm::sqlx::query(
                "SELECT count(*) FROM legacy_import.skipped_rows \
                 WHERE import_id = $1 AND legacy_table = $2 AND legacy_key = $3",
            )
            .bind(ctx.import_id)
            .bind(SIGNALS_TABLE)
            .bind(id)
            .fetch_one(&mut *tgt)
            .await
            .ctx("reading skipped rows")?
            .try_get::<i64, _>(0)
            .ctx("reading skipped rows")?;
            if !found.is_empty() || recorded == 0 {
                check.mismatches.push(format!(
                    "signal {id}: skipped row is in the target ({}) or not recorded ({recorded})",
                    found.len()
                ));
            }
            continue;
        }
        let [t] = found.as_slice() else {
            check.mismatches.push(format!(
                "signal {id}: {} target rows instead of 1",
                found.len()
            ));
            continue;
        };
        let mut diff = |field: &str, ok: bool, got: String, want: String| {
            if !ok {
                check
                    .mismatches
                    .push(format!("signal {id}: {field} is {got}, legacy says {want}"));
            }
        };
        let get_s = |c: &str| t.try_get::<Option<String>, _>(c).ok().flatten();
        let channel: i64 = t.try_get("channel_id").ctx("sample")?;
        let want_channel = legacy
            .channel
            .as_deref()
            .and_then(|c| ctx.channels.get(c))
            .map(|c| c.channel_id);
        diff(
            "channel_id",
            Some(channel) == want_channel,
            channel.to_string(),
            format!("{want_channel:?}"),
        );
        let date: DateTime<Utc> = t.try_get("message_date").ctx("sample")?;
        diff(
            "message_date",
            Some(date) == legacy.ts,
            date.to_rfc3339(),
            format!("{:?}", legacy.ts),
        );
        let asset = get_s("asset").unwrap_or_default();
        let want_asset = legacy.asset.as_deref().unwrap_or("").trim().to_uppercase();
        diff("asset", asset == want_asset, asset, want_asset);
        let kind = get_s("kind");
        let want_kind = legacy
            .signal_type
            .as_deref()
            .and_then(kind_of)
            .map(|k| k.as_str().to_owned());
        diff(
            "kind",
            kind == want_kind,
            format!("{kind:?}"),
            format!("{want_kind:?}"),
        );
        for (i, field) in [
            (0, "entry_min"),
            (1, "entry_max"),
            (4, "target_final"),
            (5, "stop"),
        ] {
            let got = dec(get_s(field).as_deref());
            let want = dec(legacy.prices[i].as_deref());
            diff(field, got == want, format!("{got:?}"), format!("{want:?}"));
        }
        let targets: Vec<Decimal> = t
            .try_get::<Vec<String>, _>("targets")
            .ctx("sample")?
            .iter()
            .filter_map(|s| dec(Some(s)))
            .collect();
        let want_targets: Vec<Decimal> = [2, 3]
            .iter()
            .filter_map(|i| dec(legacy.prices[*i].as_deref()))
            .collect();
        diff(
            "targets",
            targets == want_targets,
            format!("{targets:?}"),
            format!("{want_targets:?}"),
        );
        let raw = get_s("raw_message").unwrap_or_default();
        let want_raw = legacy.raw_message.clone().unwrap_or_default();
        diff("raw_message", raw == want_raw, raw, want_raw);
        let src_col = get_s("source");
        diff(
            "source",
            src_col == legacy.source,
            format!("{src_col:?}"),
            format!("{:?}", legacy.source),
        );
        let pv = get_s("parser_version").unwrap_or_default();
        diff(
            "parser_version",
            pv == PARSER_VERSION,
            pv,
            PARSER_VERSION.into(),
        );
        let dir = get_s("direction").unwrap_or_default();
        diff("direction", dir == "long", dir, "long".into());
    }
    Ok(check)
}

async fn sample_messages(
    src: &mut PgConnection,
    tgt: &mut PgConnection,
    ctx: &Context<'_>,
    mh: &MessagesShape,
) -> Result<SampleCheck, LegacyError> {
    let q = source::messages_sample_query(ctx.shape, mh);
    let rows = sea_orm::sqlx::query(AssertSqlSafe(q))
        .bind(ctx.sample as i64)
        .fetch_all(&mut *src)
        .await
        .ctx("sampling legacy messages")?;
    let mut check = SampleCheck::default();
    for row in &rows {
        let legacy = source::decode_message(row)?;
        check.compared += 1;
        let key = legacy.key.join("/");
        let mapped = match map_message(&legacy, &ctx.bounds) {
            Ok(m) => m,
            Err(_) => {
                check.skipped_rows += 1;
                let recorded = sea_orm::sqlx::query(
                    "SELECT count(*) FROM legacy_import.skipped_rows \
                     WHERE import_id = $1 AND legacy_table = $2 AND legacy_key = $3",
                )
                .bind(ctx.import_id)
                .bind(MESSAGES_TABLE)
                .bind(&key)
                .fetch_one(&mut *tgt)
                .await
                .ctx("reading skipped rows")?
                .try_get::<i64, _>(0)
                .ctx("reading skipped rows")?;
                if recorded == 0 {
                    check
                        .mismatches
                        .push(format!("message {key}: skipped but not recorded"));
                }
                continue;
            }
        };
        let found = sea_orm::sqlx::query(
            "SELECT text, media_type, (metadata -> 'legacy_photos')::text AS photos, received_at, \
               outcome, parser_version FROM forwarded_messages.messages \
             WHERE channel_id = $1 AND message_id = $2 AND message_date = $3 AND edit_date IS NULL \
               AND import_id = ANY($4)",
        )
        .bind(mapped.channel_id)
        .bind(mapped.message_id)
        .bind(mapped.message_date)
        .bind(ctx.imports.to_vec())
        .fetch_all(&mut *tgt)
        .await
        .ctx("reading sampled messages")?;
        let [t] = found.as_slice() else {
            check.mismatches.push(format!(
                "message {key}: {} target rows instead of 1",
                found.len()
            ));
            continue;
        };
        let text: String = t.try_get("text").ctx("sample")?;
        if text != legacy.text.clone().unwrap_or_default() {
            check
                .mismatches
                .push(format!("message {key}: text differs from the legacy text"));
        }
        let photos: Option<String> = t.try_get("photos").ctx("sample")?;
        let want_photos = legacy
            .photos
            .as_deref()
            .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok());
        let got_photos = photos
            .as_deref()
            .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok());
        if got_photos != want_photos {
            check.mismatches.push(format!(
                "message {key}: photos {photos:?}, legacy says {:?}",
                legacy.photos
            ));
        }
        let received: DateTime<Utc> = t.try_get("received_at").ctx("sample")?;
        if received != legacy.received_at.unwrap_or(mapped.message_date) {
            check
                .mismatches
                .push(format!("message {key}: received_at {received} differs"));
        }
        let outcome: String = t.try_get("outcome").ctx("sample")?;
        let pv: String = t.try_get("parser_version").ctx("sample")?;
        if outcome != mapping::MESSAGE_OUTCOME || pv != PARSER_VERSION {
            check
                .mismatches
                .push(format!("message {key}: outcome {outcome} / parser {pv}"));
        }
    }
    Ok(check)
}
