//! What `/logs` answers: one entry per archived delivery.

use chrono::SecondsFormat;
use domain::ports::{ArchivedMessage, MessageClass};
use serde::Serialize;
use utoipa::ToSchema;

use super::params::Level;

/// A log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LevelName {
    /// Ignored messages.
    Debug,
    /// Signals and updates.
    Info,
    /// Rejected messages.
    Warn,
    /// Failures.
    Error,
}

impl From<Level> for LevelName {
    fn from(l: Level) -> Self {
        match l {
            Level::Debug => LevelName::Debug,
            Level::Info => LevelName::Info,
            Level::Warn => LevelName::Warn,
            Level::Error => LevelName::Error,
        }
    }
}

/// One entry of the ingestion log.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "timestamp": "2025-10-20T13:00:01.120Z", "level": "warn",
    "message": "Message rejected: no asset: the message has prices but no B3 ticker",
    "context": {"channel_id": -1001649127710_i64, "message_id": 4522, "outcome": "rejected",
                "reason": "no asset: the message has prices but no B3 ticker", "parser_version": "1.0.0",
                "message_date": "2025-10-20T13:00:00.000Z", "text": "Compra: 1,00 Stop: 0,90"}
}))]
pub struct LogItem {
    /// When the delivery was archived (ISO 8601).
    pub timestamp: String,
    /// `debug` (ignored), `info` (signal, update), `warn` (rejected).
    pub level: LevelName,
    /// A sentence for the log viewer.
    pub message: String,
    /// The delivery it is about.
    #[schema(value_type = Object)]
    pub context: serde_json::Value,
}

/// The ingestion log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogListBody {
    /// The entries.
    pub data: Vec<LogItem>,
}

/// The level of an archived delivery in the ingestion log.
pub fn level_of(outcome: MessageClass) -> Level {
    match outcome {
        MessageClass::Signal | MessageClass::Update => Level::Info,
        MessageClass::Ignored => Level::Debug,
        MessageClass::Rejected => Level::Warn,
    }
}

impl LogItem {
    /// The log entry of an archived delivery.
    pub fn from_archived(a: &ArchivedMessage) -> Self {
        let m = &a.message;
        let level = level_of(a.outcome);
        let where_ = format!("channel {} message {}", m.channel_id, m.message_id);
        let message = match (a.outcome, &a.reason) {
            (MessageClass::Signal, _) => format!("Signal received from {where_}"),
            (MessageClass::Update, _) => format!("Signal update received from {where_}"),
            (MessageClass::Ignored, Some(r)) => format!("Message ignored ({where_}): {r}"),
            (MessageClass::Ignored, None) => format!("Message ignored ({where_})"),
            (MessageClass::Rejected, Some(r)) => format!("Message rejected ({where_}): {r}"),
            (MessageClass::Rejected, None) => format!("Message rejected ({where_})"),
        };
        let text: String = m.text.chars().take(280).collect();
        Self {
            timestamp: a.received_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            level: level.into(),
            message,
            context: serde_json::json!({
                "channel_id": m.channel_id.0,
                "message_id": m.message_id.0,
                "outcome": a.outcome.as_str(),
                "reason": a.reason,
                "parser_version": a.parser_version,
                "message_date": m.date.to_rfc3339_opts(SecondsFormat::Millis, true),
                "edit_date": m.edit_date.map(|d| d.to_rfc3339_opts(SecondsFormat::Millis, true)),
                "text": text,
            }),
        }
    }
}
