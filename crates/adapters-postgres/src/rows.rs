//! Rows as PostgreSQL returns them, and their conversion into domain values (the call's columns
//! through [`CallColumns`]). Every value is re-validated by the domain's constructors: a row that
//! breaks an invariant is an `Internal` error naming the row, never a silently wrong signal.

use std::fmt::Display;

use chrono::{DateTime, Utc};
use domain::model::{
    ChannelId, MessageId, Signal, SignalId, SignalRevision, SignalStatus, StatusChange,
};
use domain::ports::{SignalRow, StoreError};
use sea_orm::sqlx::{self, Row};
use sea_orm::{FromQueryResult, QueryResult};

use crate::call::{CallColumns, parse_kind};
use crate::error::corrupt;

#[cfg(test)]
mod tests;

/// The columns of `signals.signals` read into [`SignalRecord`], qualified by alias `s`.
pub(crate) const SIGNAL_COLUMNS: &str = "s.id, s.channel_id, s.message_id, s.message_date, \
    s.edit_date, s.revision, s.asset, s.kind, s.direction, s.entry_min, s.entry_max, s.targets, \
    s.target_final, s.stop, s.valid_until, s.status, s.target_index, s.raw_message, \
    s.parser_version, s.warnings, s.source, s.created_at, s.updated_at, s.deleted_at";

/// Extra columns of the read side: the channel label and the effective kind.
pub(crate) const ROW_EXTRA_COLUMNS: &str = "c.label AS channel_label, \
    COALESCE(s.kind, c.default_kind, 'swing_trade') AS effective_kind";

/// [`ROW_EXTRA_COLUMNS`] without the join of `c`: read for each row of `s` that is returned.
pub(crate) const ROW_EXTRA_COLUMNS_PER_ROW: &str = "\
    (SELECT c.label FROM signals.channels c WHERE c.channel_id = s.channel_id) AS channel_label,
    COALESCE(s.kind, (SELECT c.default_kind FROM signals.channels c \
    WHERE c.channel_id = s.channel_id), 'swing_trade') AS effective_kind";

/// The names of [`SIGNAL_COLUMNS`] in their order, then of [`ROW_EXTRA_COLUMNS`].
const SIGNAL_NAMES: [&str; 26] = [
    "id",
    "channel_id",
    "message_id",
    "message_date",
    "edit_date",
    "revision",
    "asset",
    "kind",
    "direction",
    "entry_min",
    "entry_max",
    "targets",
    "target_final",
    "stop",
    "valid_until",
    "status",
    "target_index",
    "raw_message",
    "parser_version",
    "warnings",
    "source",
    "created_at",
    "updated_at",
    "deleted_at",
    "channel_label",
    "effective_kind",
];
/// How many of [`SIGNAL_NAMES`] are the table's own columns.
const TABLE_COLUMNS: usize = 24;

/// Where the columns of a signal sit in a result's rows: resolved by name once per result (every
/// row of a result has the same columns), then each value is read by position. Read by name,
/// sea-orm formats and looks up the name of every value (reading rows was over a quarter of the
/// api's CPU on an uncached page).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SignalLayout {
    at: [usize; 26],
}

impl SignalLayout {
    /// The layout of `results`' rows (`None` when there are none): the table's columns, and the
    /// read side's extras when `extras` ([`ROW_EXTRA_COLUMNS`]).
    pub(crate) fn of(results: &[QueryResult], extras: bool) -> Result<Option<Self>, StoreError> {
        results.first().map(|r| Self::at(r, extras)).transpose()
    }

    /// The layout of `result`'s row.
    fn at(result: &QueryResult, extras: bool) -> Result<Self, StoreError> {
        let names = result.column_names();
        let wanted = if extras { 26 } else { TABLE_COLUMNS };
        let mut at = [usize::MAX; 26];
        for (slot, name) in at.iter_mut().zip(SIGNAL_NAMES).take(wanted) {
            *slot = names.iter().position(|n| n == name).ok_or_else(|| {
                StoreError::Internal(format!("reading a signal row: no column {name}"))
            })?;
        }
        Ok(Self { at })
    }

    /// Column `column` of `r`, decoded straight from PostgreSQL's binary value: the layout was
    /// checked against the result's columns once, and the decoders still refuse malformed bytes
    /// and unexpected NULLs; sqlx's per-value type check (a type clone and comparison for each
    /// of a page's 1,300 values) is skipped.
    fn get<T>(&self, r: &QueryResult, column: usize) -> Result<T, StoreError>
    where
        T: for<'v> sqlx::Decode<'v, sqlx::Postgres>,
    {
        let failed = |e: &dyn Display| {
            StoreError::Internal(format!(
                "reading a signal row: {}: {e}",
                SIGNAL_NAMES[column]
            ))
        };
        let row = r
            .try_as_pg_row()
            .ok_or_else(|| failed(&"not a PostgreSQL row"))?;
        row.try_get_unchecked(self.at[column])
            .map_err(|e| failed(&e))
    }

    /// The table's columns of row `r`.
    pub(crate) fn record(&self, r: &QueryResult) -> Result<SignalRecord, StoreError> {
        Ok(SignalRecord {
            id: self.get(r, 0)?,
            channel_id: self.get(r, 1)?,
            message_id: self.get(r, 2)?,
            message_date: self.get(r, 3)?,
            edit_date: self.get(r, 4)?,
            revision: self.get(r, 5)?,
            call: CallColumns {
                asset: self.get(r, 6)?,
                kind: self.get(r, 7)?,
                direction: self.get(r, 8)?,
                entry_min: self.get(r, 9)?,
                entry_max: self.get(r, 10)?,
                targets: self.get(r, 11)?,
                target_final: self.get(r, 12)?,
                stop: self.get(r, 13)?,
                valid_until: self.get(r, 14)?,
                warnings: self.get(r, 19)?,
            },
            status: self.get(r, 15)?,
            target_index: self.get(r, 16)?,
            raw_message: self.get(r, 17)?,
            parser_version: self.get(r, 18)?,
            source: self.get(r, 20)?,
            created_at: self.get(r, 21)?,
            updated_at: self.get(r, 22)?,
            deleted_at: self.get(r, 23)?,
        })
    }

    /// Row `r` with the read side's extras (a layout made with `extras`).
    pub(crate) fn row(&self, r: &QueryResult) -> Result<SignalRow, StoreError> {
        let signal = self.record(r)?.into_signal()?;
        let channel_label: Option<String> = self.get(r, 24)?;
        let kind: String = self.get(r, 25)?;
        let kind = parse_kind(&SignalNamed(signal.id.0), &kind)?;
        Ok(SignalRow {
            signal,
            channel_label,
            kind,
        })
    }
}

/// "signal {id}" in an error message, written only when there is one (not once per row read).
struct SignalNamed(i64);

impl Display for SignalNamed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "signal {}", self.0)
    }
}

/// One row of `signals.signals`.
#[derive(Debug)]
pub(crate) struct SignalRecord {
    id: i64,
    channel_id: i64,
    message_id: i64,
    message_date: DateTime<Utc>,
    edit_date: Option<DateTime<Utc>>,
    revision: i32,
    call: CallColumns,
    status: String,
    target_index: Option<i16>,
    raw_message: String,
    parser_version: String,
    source: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
}

/// One row of `signals.signal_revisions`.
#[derive(Debug, FromQueryResult)]
pub(crate) struct RevisionRecord {
    signal_id: i64,
    revision: i32,
    #[sea_orm(nested)]
    call: CallColumns,
    raw_message: String,
    recorded_at: DateTime<Utc>,
}

/// One row of `signals.status_events`.
#[derive(Debug, FromQueryResult)]
pub(crate) struct StatusEventRecord {
    signal_id: i64,
    status: String,
    target_index: Option<i16>,
    at: DateTime<Utc>,
    channel_id: Option<i64>,
    message_id: Option<i64>,
    reason: String,
}

fn parse_status(
    row: &dyn Display,
    name: &str,
    index: Option<i16>,
) -> Result<SignalStatus, StoreError> {
    let index = index
        .map(u8::try_from)
        .transpose()
        .map_err(|_| corrupt(format!("{row}: target_index {index:?}")))?;
    SignalStatus::from_parts(name, index).ok_or_else(|| corrupt(format!("{row}: status '{name}'")))
}

impl SignalRecord {
    /// The domain signal.
    pub(crate) fn into_signal(self) -> Result<Signal, StoreError> {
        let row = SignalNamed(self.id);
        let call = self.call.into_call(&row)?;
        Ok(Signal {
            id: SignalId(self.id),
            channel_id: ChannelId(self.channel_id),
            message_id: MessageId(self.message_id),
            revision: self.revision,
            message_date: self.message_date,
            edit_date: self.edit_date,
            call,
            status: parse_status(&row, &self.status, self.target_index)?,
            raw_message: self.raw_message,
            parser_version: self.parser_version,
            source: self.source,
            created_at: self.created_at,
            updated_at: self.updated_at,
            deleted: self.deleted_at.is_some(),
        })
    }
}

/// A signal with the read side's extra columns ([`ROW_EXTRA_COLUMNS`]).
pub(crate) fn signal_row(result: &QueryResult) -> Result<SignalRow, StoreError> {
    SignalLayout::at(result, true)?.row(result)
}

/// Every row of `results` as a signal with the read side's extra columns.
pub(crate) fn signal_rows(results: &[QueryResult]) -> Result<Vec<SignalRow>, StoreError> {
    let Some(layout) = SignalLayout::of(results, true)? else {
        return Ok(Vec::new());
    };
    results.iter().map(|r| layout.row(r)).collect()
}

impl RevisionRecord {
    /// The domain revision.
    pub(crate) fn into_revision(self) -> Result<SignalRevision, StoreError> {
        let row = format!("revision {} of signal {}", self.revision, self.signal_id);
        let call = self.call.into_call(&row)?;
        Ok(SignalRevision {
            revision: self.revision,
            call,
            raw_message: self.raw_message,
            recorded_at: self.recorded_at,
        })
    }
}

impl StatusEventRecord {
    /// The domain status change.
    pub(crate) fn into_change(self) -> Result<StatusChange, StoreError> {
        let row = format!("status event of signal {}", self.signal_id);
        Ok(StatusChange {
            status: parse_status(&row, &self.status, self.target_index)?,
            at: self.at,
            message: self
                .channel_id
                .zip(self.message_id)
                .map(|(c, m)| (ChannelId(c), MessageId(m))),
            reason: self.reason,
        })
    }
}
