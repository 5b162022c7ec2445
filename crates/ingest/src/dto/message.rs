//! One gateway message on the wire and its conversion into a domain [`Message`], field by
//! field, with the error that names the offending field.

use chrono::{DateTime, Utc};
use domain::{ChannelId, Message, MessageId};
use serde::Deserialize;
use serde_json::{Map, Value};
use service_kit::problem::Problem;
use utoipa::ToSchema;

use super::scalars::{TelegramId, Timestamp};
use crate::limits::MessageLimits;

/// One message as the Telegram gateway pushes it. Unknown fields are accepted and archived in
/// the message's metadata.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "channelId": "-1001649127710",
    "messageId": 4512,
    "text": "Ativo: BOVAW32\nCompra: 1,04 a 1,06\nAlvo 1: 1,15\nStop: 0,70",
    "telegramDate": "2025-10-20T13:05:00Z",
    "source": "user_client",
    "mediaType": null
}))]
pub struct GatewayMessage {
    /// The chat id, as a number or a numeric string (`-1001649127710`).
    #[schema(value_type = String, example = "-1001649127710")]
    pub channel_id: TelegramId,
    /// The message id inside the chat, as a number or a numeric string.
    #[schema(value_type = i64, example = 4512)]
    pub message_id: TelegramId,
    /// The message text.
    #[serde(default)]
    pub text: Option<String>,
    /// The media caption, used when there is no text.
    #[serde(default)]
    pub caption: Option<String>,
    /// Telegram time of the message: ISO 8601, or epoch seconds or milliseconds.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "2025-10-20T13:05:00Z")]
    pub telegram_date: Option<Timestamp>,
    /// Legacy name of `telegramDate`, used when that is absent.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = 1760965500)]
    pub timestamp: Option<Timestamp>,
    /// Telegram time of the edit, when this delivery is an edited message.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "2025-10-20T13:07:00Z")]
    pub edit_date: Option<Timestamp>,
    /// `photo`, `video`, … when the message carries media.
    #[serde(default)]
    pub media_type: Option<String>,
    /// `bot`, `user_client`, … (recorded as `telegram` when absent or blank).
    #[serde(default)]
    pub source: Option<String>,
    /// The gateway's message type (kept in metadata).
    #[serde(default)]
    pub message_type: Option<String>,
    /// Photo descriptors (kept in metadata).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub photos: Option<Value>,
    /// Forum thread id (kept in metadata).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub thread_id: Option<Value>,
    /// Anything else the gateway knows, kept as is.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    /// Fields this service does not know: archived in the metadata, never rejected.
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

/// A field that cannot become part of a domain message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field, as sent (`telegramDate`).
    pub field: String,
    /// What is wrong.
    pub detail: String,
    /// The value is over a size limit (413 rather than 400).
    pub too_large: bool,
}

impl FieldError {
    pub(crate) fn new(field: &str, detail: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            detail: detail.into(),
            too_large: false,
        }
    }

    /// The same error inside a collection (`messages[3].telegramDate`).
    pub fn within(self, prefix: &str) -> Self {
        Self {
            field: format!("{prefix}.{}", self.field),
            ..self
        }
    }
}

impl From<FieldError> for Problem {
    fn from(e: FieldError) -> Self {
        if e.too_large {
            Problem::new(
                actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                "message-too-large",
                "Message too large",
            )
            .with_detail(e.detail)
            .with_field(e.field)
        } else {
            Problem::validation(e.field, e.detail)
        }
    }
}

/// Earliest message time accepted: anything before is a unit mix-up, not a Telegram message.
const EARLIEST: i64 = 946_684_800; // 2000-01-01T00:00:00Z

impl GatewayMessage {
    /// The domain message: text (else caption, else empty), the Telegram date (else the legacy
    /// `timestamp`), and every field the domain does not model folded into `metadata`.
    pub fn try_into_domain(self) -> Result<Message, FieldError> {
        let channel_id = ChannelId(self.channel_id.0);
        if channel_id.0 == 0 {
            return Err(FieldError::new("channelId", "must not be 0"));
        }
        let message_id = MessageId(self.message_id.0);
        if message_id.0 <= 0 {
            return Err(FieldError::new("messageId", "must be a positive integer"));
        }
        let (date, date_field, other_date) = match (self.telegram_date, self.timestamp) {
            (Some(d), other) => (d, "telegramDate", other.map(|t| ("timestamp", t))),
            (None, Some(t)) => (t, "timestamp", None),
            (None, None) => {
                return Err(FieldError::new(
                    "telegramDate",
                    "required: the Telegram message time (telegramDate or timestamp)",
                ));
            }
        };
        check_range(date_field, date.0)?;
        if let Some(edit) = self.edit_date {
            check_range("editDate", edit.0)?;
        }

        let limits = MessageLimits::current();
        for (field, value, max) in [
            ("text", self.text.as_deref(), limits.max_text_chars),
            ("caption", self.caption.as_deref(), limits.max_caption_chars),
        ] {
            MessageLimits::check(field, value, max).map_err(|detail| FieldError {
                too_large: true,
                ..FieldError::new(field, detail)
            })?;
        }

        let text_given = self.text.as_deref().is_some_and(|t| !t.trim().is_empty());
        let (text, unused_caption) = if text_given {
            (self.text.unwrap_or_default(), self.caption)
        } else {
            (self.caption.unwrap_or_default(), None)
        };
        let has_photos = self.photos.as_ref().is_some_and(|p| match p {
            Value::Array(a) => !a.is_empty(),
            Value::Null => false,
            _ => true,
        });
        let media_type = self
            .media_type
            .filter(|m| !m.trim().is_empty())
            .or_else(|| has_photos.then(|| "photo".to_owned()));

        let mut metadata = match self.metadata {
            Some(Value::Object(map)) => map,
            Some(Value::Null) | None => Map::new(),
            Some(other) => Map::from_iter([("metadata".to_owned(), other)]),
        };
        let mut keep = |key: &str, value: Option<Value>| {
            if let Some(value) = value.filter(|v| !v.is_null()) {
                metadata.entry(key.to_owned()).or_insert(value);
            }
        };
        keep("photos", self.photos);
        keep("messageType", self.message_type.map(Value::String));
        keep("threadId", self.thread_id);
        keep("caption", unused_caption.map(Value::String));
        keep(
            "timestamp",
            other_date.map(|(_, t)| Value::String(t.0.to_rfc3339())),
        );
        for (key, value) in self.extra {
            metadata.entry(key).or_insert(value);
        }

        let metadata = Value::Object(metadata);
        Ok(Message {
            channel_id,
            message_id,
            text,
            date: date.0,
            edit_date: self.edit_date.map(|d| d.0),
            media_type,
            source: Some(
                self.source
                    .filter(|s| !s.trim().is_empty())
                    .unwrap_or_else(|| domain::DEFAULT_SOURCE.to_owned()),
            ),
            metadata,
        }
        .without_nul())
    }
}

fn check_range(field: &str, date: DateTime<Utc>) -> Result<(), FieldError> {
    let latest = Utc::now() + chrono::Duration::days(2);
    if date.timestamp() < EARLIEST || date > latest {
        return Err(FieldError::new(
            field,
            format!(
                "{} is not a plausible Telegram message time",
                date.to_rfc3339()
            ),
        ));
    }
    Ok(())
}
