//! The one insert of new rows into `signals.signals`, for the ingest's transaction and for the
//! legacy importer's batches: the rows travel as one binary array per column ([`SignalArrays`])
//! expanded by `unnest`, so a batch is one statement whatever its size, and neither side writes
//! or parses text for it (JSON took 14–19 ms of PostgreSQL's time per 1,000 rows, plus the
//! encoding's on our side).

use std::borrow::Cow;
use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use rust_decimal::Decimal;
use sea_orm::sqlx::postgres::{PgArguments, Postgres};
use sea_orm::sqlx::query::Query;
use uuid::Uuid;

use crate::call::{CALL_COLUMNS, CallColumns};

#[cfg(test)]
mod tests;

/// PostgreSQL keeps microseconds: every time is truncated to them before it is sent, so the
/// values returned compare equal to the ones sent.
pub(crate) fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// The four columns naming the Telegram message a row stems from: `channel_id`, `message_id`,
/// `message_date`, `edit_date` (signals and archived messages alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageColumns {
    /// `channel_id`.
    pub channel_id: i64,
    /// `message_id`.
    pub message_id: i64,
    /// `message_date`.
    pub message_date: DateTime<Utc>,
    /// `edit_date`.
    pub edit_date: Option<DateTime<Utc>>,
}

/// One new row of `signals.signals` (revision 1, status `open`); its text must hold no NUL
/// character (`domain::model::without_nul`).
#[derive(Debug, Clone)]
pub struct SignalInsert<'a> {
    /// The message the signal stems from.
    pub message: MessageColumns,
    /// The call's ten columns.
    pub call: CallColumns,
    /// `raw_message`.
    pub raw_message: Cow<'a, str>,
    /// `parser_version`.
    pub parser_version: &'a str,
    /// `source`.
    pub source: Option<Cow<'a, str>>,
    /// `created_at`.
    pub created_at: DateTime<Utc>,
    /// `updated_at`.
    pub updated_at: DateTime<Utc>,
    /// `import_id`: the legacy import that wrote the row, `None` for the ingest.
    pub import_id: Option<Uuid>,
    /// `legacy_id`: the row's id in the legacy database, `None` for the ingest.
    pub legacy_id: Option<Uuid>,
}

/// What an insert does with a row whose legacy id (and date) is stored already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnLegacyConflict {
    /// The ingest: every row is new, and the statement returns `id, channel_id, message_id` of
    /// each (a duplicate is a unique violation, the ingest's conflict).
    ReturnIds,
    /// The legacy importer: a row imported before is skipped; the statement returns nothing and
    /// its count of rows is the number inserted.
    Skip,
}

/// The columns of [`SignalInsert`] rows, one array each, bound as `$1`..`$21` by
/// [`SignalArrays::bind`]: times to the microsecond, `targets` as a `numeric[]` literal per row
/// (the rows' lists differ in length, which one two-dimensional array cannot hold) and
/// `warnings` as JSON text (`NULL` for none).
#[derive(Debug, Default)]
pub struct SignalArrays<'r> {
    channel_id: Vec<i64>,
    message_id: Vec<i64>,
    message_date: Vec<DateTime<Utc>>,
    edit_date: Vec<Option<DateTime<Utc>>>,
    asset: Vec<&'r str>,
    kind: Vec<Option<&'r str>>,
    direction: Vec<&'r str>,
    entry_min: Vec<Option<Decimal>>,
    entry_max: Vec<Option<Decimal>>,
    targets: Vec<String>,
    target_final: Vec<Option<Decimal>>,
    stop: Vec<Option<Decimal>>,
    valid_until: Vec<Option<NaiveDate>>,
    warnings: Vec<Option<String>>,
    raw_message: Vec<&'r str>,
    parser_version: Vec<&'r str>,
    source: Vec<Option<&'r str>>,
    created_at: Vec<DateTime<Utc>>,
    updated_at: Vec<DateTime<Utc>>,
    import_id: Vec<Option<Uuid>>,
    legacy_id: Vec<Option<Uuid>>,
}

impl<'r> SignalArrays<'r> {
    /// The columns of `rows`.
    pub fn of(rows: &'r [SignalInsert<'_>]) -> Self {
        let mut a = Self::default();
        for r in rows {
            let (m, c) = (&r.message, &r.call);
            a.channel_id.push(m.channel_id);
            a.message_id.push(m.message_id);
            a.message_date.push(micros(m.message_date));
            a.edit_date.push(m.edit_date.map(micros));
            a.asset.push(&c.asset);
            a.kind.push(c.kind.as_deref());
            a.direction.push(&c.direction);
            a.entry_min.push(c.entry_min);
            a.entry_max.push(c.entry_max);
            a.targets.push(numeric_array_literal(&c.targets));
            a.target_final.push(c.target_final);
            a.stop.push(c.stop);
            a.valid_until.push(c.valid_until);
            a.warnings.push(match &c.warnings {
                serde_json::Value::Array(w) if w.is_empty() => None,
                w => Some(w.to_string()),
            });
            a.raw_message.push(&r.raw_message);
            a.parser_version.push(r.parser_version);
            a.source.push(r.source.as_deref());
            a.created_at.push(micros(r.created_at));
            a.updated_at.push(micros(r.updated_at));
            a.import_id.push(r.import_id);
            a.legacy_id.push(r.legacy_id);
        }
        a
    }

    /// `query` (the statement of [`insert_signals_sql`]) with the arrays bound in order.
    pub fn bind<'q>(
        self,
        query: Query<'q, Postgres, PgArguments>,
    ) -> Query<'q, Postgres, PgArguments>
    where
        'r: 'q,
    {
        query
            .bind(self.channel_id)
            .bind(self.message_id)
            .bind(self.message_date)
            .bind(self.edit_date)
            .bind(self.asset)
            .bind(self.kind)
            .bind(self.direction)
            .bind(self.entry_min)
            .bind(self.entry_max)
            .bind(self.targets)
            .bind(self.target_final)
            .bind(self.stop)
            .bind(self.valid_until)
            .bind(self.warnings)
            .bind(self.raw_message)
            .bind(self.parser_version)
            .bind(self.source)
            .bind(self.created_at)
            .bind(self.updated_at)
            .bind(self.import_id)
            .bind(self.legacy_id)
    }
}

/// `{1.15,1.2}`: exact decimals as PostgreSQL reads a `numeric[]`.
pub(crate) fn numeric_array_literal(values: &[Decimal]) -> String {
    let mut out = String::with_capacity(2 + values.len() * 8);
    out.push('{');
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&v.to_string());
    }
    out.push('}');
    out
}

/// The insert of a batch of [`SignalInsert`] rows bound by [`SignalArrays::bind`].
pub fn insert_signals_sql(on_conflict: OnLegacyConflict) -> &'static str {
    static RETURN_IDS: LazyLock<String> =
        LazyLock::new(|| insert_sql("RETURNING s.id, s.channel_id, s.message_id"));
    static SKIP: LazyLock<String> = LazyLock::new(|| {
        insert_sql("ON CONFLICT (legacy_id, message_date) WHERE legacy_id IS NOT NULL DO NOTHING")
    });
    match on_conflict {
        OnLegacyConflict::ReturnIds => &RETURN_IDS,
        OnLegacyConflict::Skip => &SKIP,
    }
}

fn insert_sql(tail: &str) -> String {
    format!(
        "INSERT INTO signals.signals AS s
  (channel_id, message_id, message_date, edit_date, revision, {CALL_COLUMNS}, status,
   raw_message, parser_version, source, created_at, updated_at, import_id, legacy_id)
SELECT x.channel_id, x.message_id, x.message_date, x.edit_date, 1, x.asset, x.kind, x.direction,
       x.entry_min, x.entry_max, x.targets, x.target_final, x.stop, x.valid_until, x.warnings,
       'open', x.raw_message, x.parser_version, x.source, x.created_at, x.updated_at,
       x.import_id, x.legacy_id
FROM {SIGNAL_ROWS}
{tail}"
    )
}

/// The rows of the [`SignalArrays`] bound as `$1`..`$21`, as a `FROM` item named `x` whose
/// columns are those of `signals.signals` (targets as `numeric[]`, warnings as `jsonb`).
pub(crate) const SIGNAL_ROWS: &str = "(
  SELECT channel_id, message_id, message_date, edit_date, asset, kind, direction, entry_min,
         entry_max, targets::numeric[] AS targets, target_final, stop, valid_until,
         COALESCE(warnings::jsonb, '[]') AS warnings, raw_message, parser_version, source,
         created_at, updated_at, import_id, legacy_id
  FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::timestamptz[], $5::text[],
              $6::text[], $7::text[], $8::numeric[], $9::numeric[], $10::text[], $11::numeric[],
              $12::numeric[], $13::date[], $14::text[], $15::text[], $16::text[], $17::text[],
              $18::timestamptz[], $19::timestamptz[], $20::uuid[], $21::uuid[]) AS r(
    channel_id, message_id, message_date, edit_date, asset, kind, direction, entry_min,
    entry_max, targets, target_final, stop, valid_until, warnings, raw_message, parser_version,
    source, created_at, updated_at, import_id, legacy_id)
) AS x";
