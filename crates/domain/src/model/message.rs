//! Telegram messages as the gateway delivers them.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A Telegram chat id (channels are negative, e.g. -1001649127710).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChannelId(pub i64);

/// A Telegram message id, unique only inside its chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(pub i64);

impl fmt::Display for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Who delivered a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageSource(pub String);

/// The source recorded when the gateway names none: every message comes from Telegram.
pub const DEFAULT_SOURCE: &str = "telegram";

/// A message delivered by the gateway. Its identity is `(channel_id, message_id)`; each edit
/// (a distinct `edit_date`) is a distinct delivery of the same message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The chat.
    pub channel_id: ChannelId,
    /// The message inside the chat.
    pub message_id: MessageId,
    /// Text or caption; empty for a photo without caption.
    pub text: String,
    /// Telegram time of the message, UTC.
    pub date: DateTime<Utc>,
    /// Telegram time of the edit, when this delivery is an edit.
    pub edit_date: Option<DateTime<Utc>>,
    /// `photo`, `video` … when the message carries media.
    pub media_type: Option<String>,
    /// `bot` or `user_client`, as the gateway says.
    pub source: Option<String>,
    /// Everything else the gateway sent, kept as is.
    pub metadata: serde_json::Value,
}

impl Message {
    /// The message this one replies to, from the gateway's `metadata.replyTo.messageId` (a
    /// number or a string of digits): the most precise link between an update and its call.
    pub fn reply_to(&self) -> Option<MessageId> {
        let id = self.metadata.pointer("/replyTo/messageId")?;
        id.as_i64()
            .or_else(|| id.as_str().and_then(|s| s.trim().parse().ok()))
            .filter(|id| *id > 0)
            .map(MessageId)
    }

    /// The chat's title as the gateway's bot payload names it
    /// (`metadata.telegramDetails.chatTitle`), trimmed; `None` when absent or blank.
    pub fn chat_title(&self) -> Option<&str> {
        self.metadata
            .get("telegramDetails")?
            .get("chatTitle")?
            .as_str()
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }
}
