//! What the write statements send: the rows of the batch inserts (NUL-free; bound as arrays by
//! `crate::signal_insert` and `crate::message_insert`) and the other statements' SQL.

use chrono::{DateTime, Utc};
use domain::model::{ChannelId, MessageId, SignalStatus, json_without_nul, without_nul};
use domain::ports::{ArchiveEntry, NewSignal};

use crate::call::CallColumns;
use crate::message_insert::{MessageInsert, MessageMetadata};
use crate::signal_insert::{MessageColumns, SIGNAL_ROWS, SignalInsert};

fn message_columns(
    channel_id: ChannelId,
    message_id: MessageId,
    message_date: DateTime<Utc>,
    edit_date: Option<DateTime<Utc>>,
) -> MessageColumns {
    MessageColumns {
        channel_id: channel_id.0,
        message_id: message_id.0,
        message_date,
        edit_date,
    }
}

/// The ingest's archive row of a delivery: received now (the transaction's time), no import.
pub(super) fn message_insert<'a>(e: &ArchiveEntry<'a>) -> MessageInsert<'a> {
    let m = e.message;
    MessageInsert {
        message: message_columns(m.channel_id, m.message_id, m.date, m.edit_date),
        text: without_nul(&m.text),
        media_type: m.media_type.as_deref().map(without_nul),
        source: m.source.as_deref().map(without_nul),
        metadata: MessageMetadata::Value(json_without_nul(&m.metadata)),
        outcome: e.outcome,
        reason: e.reason.map(without_nul),
        parser_version: e.parser_version,
        received_at: None,
        import_id: None,
    }
}

/// The ingest's row of a new signal (or of its new revision): created and updated when received.
pub(super) fn signal_insert(s: &NewSignal) -> SignalInsert<'_> {
    SignalInsert {
        message: message_columns(s.channel_id, s.message_id, s.message_date, s.edit_date),
        call: CallColumns::from_call(&s.call),
        raw_message: without_nul(&s.raw_message),
        parser_version: &s.parser_version,
        source: s.source.as_deref().map(without_nul),
        created_at: s.recorded_at,
        updated_at: s.recorded_at,
        import_id: None,
        legacy_id: None,
    }
}

/// Keeps the current revision in the history, then replaces it with the one row of the
/// [`crate::signal_insert::SignalArrays`] bound as `$1`..`$21`; `$22` the signal's id, `$23` the
/// new revision. One statement, the row locked.
pub(super) fn revise_sql() -> String {
    format!(
        "WITH cur AS (
  SELECT * FROM signals.signals WHERE id = $22 FOR UPDATE
), saved AS (
  INSERT INTO signals.signal_revisions
    (signal_id, revision, edit_date, asset, kind, direction, entry_min, entry_max, targets,
     target_final, stop, valid_until, warnings, raw_message, parser_version, recorded_at)
  SELECT id, revision, edit_date, asset, kind, direction, entry_min, entry_max, targets,
         target_final, stop, valid_until, warnings, raw_message, parser_version,
         COALESCE(revised_at, created_at)
  FROM cur
  ON CONFLICT (signal_id, revision) DO NOTHING
)
UPDATE signals.signals AS s
SET revision = $23, edit_date = x.edit_date, asset = x.asset, kind = x.kind,
    direction = x.direction, entry_min = x.entry_min, entry_max = x.entry_max,
    targets = x.targets, target_final = x.target_final, stop = x.stop,
    valid_until = x.valid_until, warnings = x.warnings, raw_message = x.raw_message,
    parser_version = x.parser_version, updated_at = x.updated_at, revised_at = x.updated_at
FROM cur, {SIGNAL_ROWS}
WHERE s.id = cur.id AND s.message_date = cur.message_date
RETURNING s.id"
    )
}

pub(super) const CHANGE_STATUS_SQL: &str = "\
WITH changed AS (
  UPDATE signals.signals SET status = $2, target_index = $3, updated_at = $4
  WHERE id = $1
  RETURNING id
)
INSERT INTO signals.status_events (signal_id, status, target_index, at, channel_id, message_id, reason)
SELECT id, $2, $3, $4, $5, $6, $7 FROM changed
RETURNING signal_id";

/// A learned title replaces no label an operator set, and writes nothing when unchanged.
pub(super) const LEARN_TITLES_SQL: &str = "\
INSERT INTO signals.channels AS ch (channel_id, label, label_learned)
SELECT x.channel_id, x.label, true
FROM unnest($1::bigint[], $2::text[]) AS x(channel_id, label)
ON CONFLICT (channel_id) DO UPDATE SET label = EXCLUDED.label, label_learned = true,
  updated_at = pg_catalog.now()
WHERE (ch.label IS NULL OR ch.label_learned) AND ch.label IS DISTINCT FROM EXCLUDED.label";

pub(super) fn status_parts(status: SignalStatus) -> (String, Option<i16>) {
    (
        status.as_str().to_owned(),
        status.target_index().map(i16::from),
    )
}
