//! Rows as PostgreSQL returns them, and their conversion into domain values (the call's columns
//! through [`CallColumns`]). Every value is re-validated by the domain's constructors: a row that
//! breaks an invariant is an `Internal` error naming the row, never a silently wrong signal.

use chrono::{DateTime, Utc};
use domain::model::{
    ChannelId, MessageId, Signal, SignalId, SignalRevision, SignalStatus, StatusChange,
};
use domain::ports::{SignalRow, StoreError};
use sea_orm::{FromQueryResult, QueryResult};

use crate::call::{CallColumns, parse_kind};
use crate::error::corrupt;

/// The columns of `signals.signals` read into [`SignalRecord`], qualified by alias `s`.
pub(crate) const SIGNAL_COLUMNS: &str = "s.id, s.channel_id, s.message_id, s.message_date, \
    s.edit_date, s.revision, s.asset, s.kind, s.direction, s.entry_min, s.entry_max, s.targets, \
    s.target_final, s.stop, s.valid_until, s.status, s.target_index, s.raw_message, \
    s.parser_version, s.warnings, s.source, s.created_at, s.updated_at, s.deleted_at";

/// Extra columns of the read side: the channel label and the effective kind.
pub(crate) const ROW_EXTRA_COLUMNS: &str = "c.label AS channel_label, \
    COALESCE(s.kind, c.default_kind, 'swing_trade') AS effective_kind";

/// One row of `signals.signals`.
#[derive(Debug, FromQueryResult)]
pub(crate) struct SignalRecord {
    id: i64,
    channel_id: i64,
    message_id: i64,
    message_date: DateTime<Utc>,
    edit_date: Option<DateTime<Utc>>,
    revision: i32,
    #[sea_orm(nested)]
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

fn parse_status(row: &str, name: &str, index: Option<i16>) -> Result<SignalStatus, StoreError> {
    let index = index
        .map(u8::try_from)
        .transpose()
        .map_err(|_| corrupt(format!("{row}: target_index {index:?}")))?;
    SignalStatus::from_parts(name, index).ok_or_else(|| corrupt(format!("{row}: status '{name}'")))
}

impl SignalRecord {
    /// The domain signal.
    pub(crate) fn into_signal(self) -> Result<Signal, StoreError> {
        let row = format!("signal {}", self.id);
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
    let read = |e: sea_orm::DbErr| StoreError::Internal(format!("reading a signal row: {e}"));
    let signal = SignalRecord::from_query_result(result, "")
        .map_err(read)?
        .into_signal()?;
    let channel_label: Option<String> = result.try_get("", "channel_label").map_err(read)?;
    let kind: String = result.try_get("", "effective_kind").map_err(read)?;
    let kind = parse_kind(&format!("signal {}", signal.id), &kind)?;
    Ok(SignalRow {
        signal,
        channel_label,
        kind,
    })
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
