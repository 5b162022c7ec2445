//! One legacy archived message to one row of `forwarded_messages.messages`.

use std::borrow::Cow;

use adapters_postgres::{MessageColumns, MessageInsert, MessageMetadata};
use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use uuid::Uuid;

use super::{PARSER_VERSION, Skip, TimeBounds, parse_integer};

/// One row of `forwarded_messages` as read.
#[derive(Debug, Clone, Default)]
pub struct LegacyMessage {
    /// `btrim(channel_id::text)`.
    pub channel_id: String,
    /// `btrim(message_id::text)`.
    pub message_id: String,
    /// `original_timestamp`, converted to a time.
    pub message_date: Option<DateTime<Utc>>,
    /// `message_text::text`.
    pub text: Option<String>,
    /// `to_jsonb(photos)::text`.
    pub photos: Option<String>,
    /// `received_at`.
    pub received_at: Option<DateTime<Utc>>,
    /// The key as the legacy table orders it (native text of the three key columns): the
    /// checkpoint and the skip key.
    pub key: [String; 3],
}

/// A message ready for `forwarded_messages.messages`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedMessage {
    /// Telegram channel id.
    pub channel_id: i64,
    /// Telegram message id.
    pub message_id: i64,
    /// `original_timestamp`.
    pub message_date: DateTime<Utc>,
    /// `message_text`, empty when NULL.
    pub text: String,
    /// `photo` when the legacy row lists photos.
    pub media_type: Option<&'static str>,
    /// `{"legacy_photos": …}` when the legacy row had photos (even an empty list), else `{}`.
    pub metadata: String,
    /// `received_at`, else the message time.
    pub received_at: DateTime<Utc>,
}

impl MappedMessage {
    /// Its row of `forwarded_messages.messages`, written by `import_id`: the metadata goes as
    /// the legacy JSON text, so its numbers keep every digit (no float on the way).
    pub fn insert(&self, import_id: Uuid) -> Result<MessageInsert<'_>, serde_json::Error> {
        Ok(MessageInsert {
            message: MessageColumns {
                channel_id: self.channel_id,
                message_id: self.message_id,
                message_date: self.message_date,
                edit_date: None,
            },
            text: Cow::Borrowed(&self.text),
            media_type: self.media_type.map(Cow::Borrowed),
            source: Some(Cow::Borrowed(MESSAGE_SOURCE)),
            metadata: MessageMetadata::Json(serde_json::from_str::<&RawValue>(&self.metadata)?),
            outcome: MESSAGE_OUTCOME,
            reason: Some(Cow::Borrowed(MESSAGE_REASON)),
            parser_version: PARSER_VERSION,
            received_at: Some(self.received_at),
            import_id: Some(import_id),
        })
    }
}

/// What the archive row says of an imported message.
pub const MESSAGE_OUTCOME: &str = "ignored";
/// Its reason.
pub const MESSAGE_REASON: &str =
    "legacy-import: archived from the legacy forwarded_messages, not re-parsed";
/// Its `source`.
pub const MESSAGE_SOURCE: &str = "legacy";

/// Maps one legacy forwarded message, or says why it cannot be imported.
pub fn map_message(row: &LegacyMessage, bounds: &TimeBounds) -> Result<MappedMessage, Skip> {
    let channel_id = parse_integer(row.channel_id.trim()).ok_or_else(|| {
        Skip::new(
            "channel_id_not_integer",
            format!("channel_id '{}' is not an integer", row.channel_id),
        )
    })?;
    let message_id = parse_integer(row.message_id.trim()).ok_or_else(|| {
        Skip::new(
            "message_id_not_integer",
            format!("message_id '{}' is not an integer", row.message_id),
        )
    })?;
    let ts = row
        .message_date
        .ok_or_else(|| Skip::new("ts_missing", "original_timestamp is NULL"))?;
    let message_date = bounds.check(ts)?;
    let media_type = row
        .photos
        .as_deref()
        .filter(|p| !matches!(*p, "null" | "[]" | "{}" | "\"\""))
        .map(|_| "photo");
    let metadata = match &row.photos {
        Some(p) => format!("{{\"legacy_photos\": {p}}}"),
        None => "{}".to_owned(),
    };
    Ok(MappedMessage {
        channel_id,
        message_id,
        message_date,
        text: row.text.clone().unwrap_or_default(),
        media_type,
        metadata,
        received_at: row.received_at.unwrap_or(message_date),
    })
}
