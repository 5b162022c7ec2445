//! The wire format of the ingest API: the legacy gateway's payload, as lenient as the gateway
//! needs (ids as numbers or strings, dates as ISO 8601 or epoch seconds/milliseconds, unknown
//! fields kept), converted into domain [`Message`]s by `try_into_domain`, and the receipts sent
//! back.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use domain::services::{IngestOutcome, IngestReceipt};
use domain::{ChannelId, Message, MessageId};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use service_kit::problem::Problem;
use utoipa::ToSchema;

use crate::limits::MessageLimits;

/// Most messages one batch may carry.
pub const MAX_BATCH: usize = 1_000;
/// Most message ids one deletion notice may carry.
pub const MAX_DELETIONS: usize = 10_000;

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
    fn new(field: &str, detail: impl Into<String>) -> Self {
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

        let mut metadata = Value::Object(metadata);
        without_nul_in_json(&mut metadata);
        Ok(Message {
            channel_id,
            message_id,
            text: without_nul(text),
            date: date.0,
            edit_date: self.edit_date.map(|d| d.0),
            media_type: media_type.map(without_nul),
            source: Some(
                self.source
                    .filter(|s| !s.trim().is_empty())
                    .map_or_else(|| domain::DEFAULT_SOURCE.to_owned(), without_nul),
            ),
            metadata,
        })
    }
}

/// PostgreSQL text and JSONB cannot hold U+0000: it becomes U+FFFD, so such a message is
/// archived (recognisably) instead of failing the transaction.
fn without_nul(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}")
    } else {
        text
    }
}

fn without_nul_in_json(value: &mut Value) {
    match value {
        Value::String(s) if s.contains('\0') => *s = s.replace('\0', "\u{FFFD}"),
        Value::Array(items) => items.iter_mut().for_each(without_nul_in_json),
        Value::Object(map) => {
            let keys_with_nul: Vec<String> =
                map.keys().filter(|k| k.contains('\0')).cloned().collect();
            for key in keys_with_nul {
                if let Some(v) = map.remove(&key) {
                    map.insert(key.replace('\0', "\u{FFFD}"), v);
                }
            }
            map.values_mut().for_each(without_nul_in_json);
        }
        _ => {}
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

/// A Telegram id sent as a JSON number or a numeric string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct TelegramId(pub i64);

impl<'de> Deserialize<'de> for TelegramId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = TelegramId;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer id (a number or a numeric string)")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<TelegramId, E> {
                Ok(TelegramId(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<TelegramId, E> {
                i64::try_from(v)
                    .map(TelegramId)
                    .map_err(|_| E::custom(format!("{v} is out of range")))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<TelegramId, E> {
                if v.fract() == 0.0 && v.abs() < 9.0e15 {
                    Ok(TelegramId(v as i64))
                } else {
                    Err(E::invalid_value(de::Unexpected::Float(v), &self))
                }
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<TelegramId, E> {
                v.trim()
                    .parse::<i64>()
                    .map(TelegramId)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        d.deserialize_any(V)
    }
}

/// A point in time sent as ISO 8601 / RFC 3339 text, a date, or epoch seconds or
/// milliseconds (numbers or numeric strings; values above 10^11 are milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// Reads the accepted text forms.
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim();
        if let Ok(n) = t.parse::<i64>() {
            return Self::from_epoch(n);
        }
        if let Ok(d) = DateTime::parse_from_rfc3339(t) {
            return Some(Self(d.with_timezone(&Utc)));
        }
        for format in ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z"] {
            if let Ok(d) = DateTime::parse_from_str(t, format) {
                return Some(Self(d.with_timezone(&Utc)));
            }
        }
        for format in [
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%dT%H:%M",
        ] {
            if let Ok(d) = NaiveDateTime::parse_from_str(t, format) {
                return Some(Self(Utc.from_utc_datetime(&d)));
            }
        }
        NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| Self(Utc.from_utc_datetime(&d)))
    }

    /// Epoch seconds, or milliseconds when the magnitude says so.
    pub fn from_epoch(n: i64) -> Option<Self> {
        let dt = if n.unsigned_abs() >= 100_000_000_000 {
            DateTime::from_timestamp_millis(n)
        } else {
            DateTime::from_timestamp(n, 0)
        };
        dt.map(Self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Timestamp;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an ISO 8601 date-time or epoch seconds/milliseconds")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
                Timestamp::from_epoch(v).ok_or_else(|| E::custom(format!("{v} is out of range")))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
                i64::try_from(v)
                    .ok()
                    .and_then(Timestamp::from_epoch)
                    .ok_or_else(|| E::custom(format!("{v} is out of range")))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Timestamp, E> {
                if !v.is_finite() || v.abs() > 9.0e15 {
                    return Err(E::invalid_value(de::Unexpected::Float(v), &self));
                }
                let (whole, frac) = (v.trunc() as i64, v.fract());
                if whole.unsigned_abs() >= 100_000_000_000 {
                    return Timestamp::from_epoch(whole)
                        .ok_or_else(|| E::invalid_value(de::Unexpected::Float(v), &self));
                }
                DateTime::from_timestamp(
                    whole,
                    (frac * 1e9).round().clamp(0.0, 999_999_999.0) as u32,
                )
                .map(Timestamp)
                .ok_or_else(|| E::invalid_value(de::Unexpected::Float(v), &self))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
                Timestamp::parse(v).ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        d.deserialize_any(V)
    }
}

/// `POST /ingest/batch`: a JSON array of messages, or `{"messages": [...]}`. Items are checked
/// one by one: an invalid item gets its own error result, the valid ones are stored.
#[derive(Debug, Clone, PartialEq, ToSchema)]
#[schema(example = json!({"messages": [{"channelId": -1001649127710_i64, "messageId": 1, "text": "Bom dia", "timestamp": 1760965500}]}))]
pub struct BatchRequest {
    /// The messages, at most 1,000. Each is validated on its own.
    #[schema(value_type = Vec<GatewayMessage>)]
    pub messages: Vec<Value>,
}

impl<'de> Deserialize<'de> for BatchRequest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BatchRequest;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of messages or an object with a `messages` array")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<BatchRequest, A::Error> {
                let mut messages = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_BATCH));
                while let Some(item) = seq.next_element::<Value>()? {
                    messages.push(item);
                }
                Ok(BatchRequest { messages })
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BatchRequest, A::Error> {
                let mut messages = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "messages" {
                        messages = Some(map.next_value::<Vec<Value>>()?);
                    } else {
                        map.next_value::<de::IgnoredAny>()?;
                    }
                }
                messages
                    .map(|messages| BatchRequest { messages })
                    .ok_or_else(|| de::Error::missing_field("messages"))
            }
        }
        d.deserialize_any(V)
    }
}

impl BatchRequest {
    /// Each item as a domain message, or the error of that item (naming `messages[i].field`)
    /// with its message id when one could be read.
    pub fn into_items(self) -> Result<Vec<Result<Message, ItemError>>, Problem> {
        if self.messages.len() > MAX_BATCH {
            return Err(Problem::validation(
                "messages",
                format!(
                    "a batch holds at most {MAX_BATCH} messages, got {}",
                    self.messages.len()
                ),
            ));
        }
        Ok(self
            .messages
            .into_iter()
            .enumerate()
            .map(|(i, value)| {
                let prefix = format!("messages[{i}]");
                let message_id = value.get("messageId").and_then(|v| {
                    v.as_i64()
                        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                });
                serde_path_to_error::deserialize::<_, GatewayMessage>(value)
                    .map_err(|e| {
                        let path = e.path().to_string();
                        let field = if path == "." { String::new() } else { path };
                        FieldError {
                            field: if field.is_empty() {
                                prefix.clone()
                            } else {
                                format!("{prefix}.{field}")
                            },
                            detail: e.into_inner().to_string(),
                            too_large: false,
                        }
                    })
                    .and_then(|m| m.try_into_domain().map_err(|e| e.within(&prefix)))
                    .map_err(|error| ItemError {
                        index: i,
                        message_id,
                        error,
                    })
            })
            .collect())
    }
}

/// Why one batch item was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemError {
    /// Position in the batch.
    pub index: usize,
    /// Its `messageId`, when readable.
    pub message_id: Option<i64>,
    /// The field at fault.
    pub error: FieldError,
}

/// `POST /ingest/deletions`: messages deleted in Telegram.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"channelId": "-1001649127710", "messageIds": [4512, 4513]}))]
pub struct DeletionRequest {
    /// The chat.
    #[schema(value_type = String, example = "-1001649127710")]
    pub channel_id: TelegramId,
    /// The deleted messages (1 to 10,000).
    #[schema(value_type = Vec<i64>)]
    pub message_ids: Vec<TelegramId>,
}

impl DeletionRequest {
    /// The domain ids.
    pub fn try_into_domain(self) -> Result<(ChannelId, Vec<MessageId>), FieldError> {
        if self.message_ids.is_empty() {
            return Err(FieldError::new(
                "messageIds",
                "at least one message id is required",
            ));
        }
        if self.message_ids.len() > MAX_DELETIONS {
            return Err(FieldError::new(
                "messageIds",
                format!("at most {MAX_DELETIONS} ids per notice"),
            ));
        }
        Ok((
            ChannelId(self.channel_id.0),
            self.message_ids
                .into_iter()
                .map(|m| MessageId(m.0))
                .collect(),
        ))
    }
}

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A new signal was stored.
    Signal,
    /// An update of an earlier signal.
    Update,
    /// Archived, not a trade call.
    Ignored,
    /// Archived, a call that cannot be trusted (see `reason`).
    Rejected,
    /// Already received: nothing stored.
    Duplicate,
    /// An edit that made a new revision of its signal.
    Edited,
}

impl From<IngestOutcome> for Outcome {
    fn from(o: IngestOutcome) -> Self {
        match o {
            IngestOutcome::Signal => Outcome::Signal,
            IngestOutcome::Update => Outcome::Update,
            IngestOutcome::Ignored => Outcome::Ignored,
            IngestOutcome::Rejected => Outcome::Rejected,
            IngestOutcome::Duplicate => Outcome::Duplicate,
            IngestOutcome::Edited => Outcome::Edited,
        }
    }
}

/// The answer to `POST /ingest`, sent only after the database commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"success": true, "channelId": -1001649127710_i64, "messageId": 4512, "stored": true, "outcome": "signal", "signalId": 981, "reason": null}))]
pub struct IngestResponse {
    /// Always true: failures are problems with a 4xx/5xx status.
    pub success: bool,
    /// The chat.
    pub channel_id: i64,
    /// The message.
    pub message_id: i64,
    /// Whether anything new was stored (false for a duplicate).
    pub stored: bool,
    /// What became of it.
    pub outcome: Outcome,
    /// The signal created, revised or updated.
    pub signal_id: Option<i64>,
    /// Why it was ignored or rejected, or why an update changed nothing.
    pub reason: Option<String>,
}

impl From<IngestReceipt> for IngestResponse {
    fn from(r: IngestReceipt) -> Self {
        Self {
            success: true,
            channel_id: r.channel_id.0,
            message_id: r.message_id.0,
            stored: r.stored,
            outcome: r.outcome.into(),
            signal_id: r.signal_id.map(|s| s.0),
            reason: r.reason,
        }
    }
}

/// One item of a batch answer: a receipt, or the problem of an invalid item.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum BatchItemResult {
    /// The item was stored (or recognised as a duplicate).
    Accepted(IngestResponse),
    /// The item was invalid and nothing was stored for it.
    Invalid(InvalidItem),
}

/// An invalid batch item.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvalidItem {
    /// Always false.
    pub success: bool,
    /// Position in the batch.
    pub index: usize,
    /// The message id, when it could be read.
    pub message_id: Option<i64>,
    /// Why it was refused: status 400 (the field named), or 413 for a text or caption over
    /// the size limit. Either way the item is final: sending it again changes nothing.
    pub error: Problem,
}

impl From<ItemError> for InvalidItem {
    fn from(e: ItemError) -> Self {
        Self {
            success: false,
            index: e.index,
            message_id: e.message_id,
            error: e.error.into(),
        }
    }
}

/// The answer to `POST /ingest/batch`, sent after the one commit of the valid items.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    /// True when every item was accepted; false when some were invalid.
    pub success: bool,
    /// Items received.
    pub received: usize,
    /// Items newly stored.
    pub stored: usize,
    /// Items refused as invalid.
    pub invalid: usize,
    /// One result per item, in input order.
    pub results: Vec<BatchItemResult>,
}

/// The answer to `POST /ingest/deletions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeletionResponse {
    /// Always true: failures are problems.
    pub success: bool,
    /// The chat.
    pub channel_id: i64,
    /// Archived deliveries flagged as deleted.
    pub archived_flagged: u64,
    /// Signals that became `cancelled`.
    pub cancelled_signal_ids: Vec<i64>,
}

#[cfg(test)]
#[path = "dto_tests.rs"]
mod tests;
