//! The one insert of new rows into `signals.signals`, for the ingest's transaction and for the
//! legacy importer's batches: the rows travel as one JSON parameter expanded by
//! `json_to_recordset` (NULLs, exact decimals as strings, times to the microsecond), so a batch
//! is one statement whatever its size. The parameter is read as `json`, not `jsonb`: parsed
//! once instead of first built into a binary document, which halves its cost per batch.

use std::borrow::Cow;
use std::sync::LazyLock;

use chrono::{DateTime, SubsecRound, Utc};
use domain::ports::StoreError;
use serde::{Serialize, Serializer};
use uuid::Uuid;

use crate::call::{CALL_COLUMNS, CALL_RECORD, CallColumns};

/// PostgreSQL keeps microseconds: every time is truncated to them before it is sent, so the
/// values returned compare equal to the ones sent.
pub(crate) fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// A time as the JSON batches carry it (microseconds, UTC).
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    micros(t).format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

pub(crate) fn as_ts<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&ts(*t))
}

pub(crate) fn as_opt_ts<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_some(&ts(*t)),
        None => s.serialize_none(),
    }
}

/// A batch of rows as one JSON parameter.
pub(crate) fn json_batch<T: Serialize + ?Sized>(
    what: &str,
    rows: &T,
) -> Result<String, StoreError> {
    serde_json::to_string(rows)
        .map_err(|e| StoreError::Internal(format!("{what}: encoding the batch: {e}")))
}

/// The four columns naming the Telegram message a row stems from: `channel_id`, `message_id`,
/// `message_date`, `edit_date` (signals and archived messages alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MessageColumns {
    /// `channel_id`.
    pub channel_id: i64,
    /// `message_id`.
    pub message_id: i64,
    /// `message_date`.
    #[serde(serialize_with = "as_ts")]
    pub message_date: DateTime<Utc>,
    /// `edit_date`.
    #[serde(serialize_with = "as_opt_ts")]
    pub edit_date: Option<DateTime<Utc>>,
}

/// One new row of `signals.signals` (revision 1, status `open`); its text must hold no NUL
/// character (`domain::model::without_nul`).
#[derive(Debug, Clone, Serialize)]
pub struct SignalInsert<'a> {
    /// The message the signal stems from.
    #[serde(flatten)]
    pub message: MessageColumns,
    /// The call's ten columns.
    #[serde(flatten)]
    pub call: CallColumns,
    /// `raw_message`.
    pub raw_message: Cow<'a, str>,
    /// `parser_version`.
    pub parser_version: &'a str,
    /// `source`.
    pub source: Option<Cow<'a, str>>,
    /// `created_at`.
    #[serde(serialize_with = "as_ts")]
    pub created_at: DateTime<Utc>,
    /// `updated_at`.
    #[serde(serialize_with = "as_ts")]
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

/// The insert of a JSON batch of [`SignalInsert`] rows, bound as `$1` (text).
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
       x.entry_min, x.entry_max, COALESCE(x.targets, '{{}}'), x.target_final, x.stop,
       x.valid_until, COALESCE(x.warnings, '[]'), 'open', x.raw_message, x.parser_version,
       x.source, x.created_at, x.updated_at, x.import_id, x.legacy_id
FROM json_to_recordset($1::text::json) AS x(
  channel_id bigint, message_id bigint, message_date timestamptz, edit_date timestamptz,
  {CALL_RECORD}, raw_message text, parser_version text, source text, created_at timestamptz,
  updated_at timestamptz, import_id uuid, legacy_id uuid)
{tail}"
    )
}
