//! The message archive as operators read it, and its re-classification after a parser fix.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::model::{ChannelId, Message};

/// What the parser made of an archived delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageClass {
    /// A new trade call.
    Signal,
    /// News about an earlier signal.
    Update,
    /// Not a trade call.
    Ignored,
    /// Looks like a call but cannot be trusted.
    Rejected,
}

impl MessageClass {
    /// Every outcome.
    pub const ALL: [MessageClass; 4] = [
        MessageClass::Signal,
        MessageClass::Update,
        MessageClass::Ignored,
        MessageClass::Rejected,
    ];

    /// The stored name (`signal`, `update`, `ignored`, `rejected`).
    pub fn as_str(self) -> &'static str {
        match self {
            MessageClass::Signal => "signal",
            MessageClass::Update => "update",
            MessageClass::Ignored => "ignored",
            MessageClass::Rejected => "rejected",
        }
    }

    /// The outcome of a stored name; `None` for anything else.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == name)
    }

    /// The outcome of a parse.
    pub fn of(outcome: &crate::model::ParseOutcome) -> Self {
        use crate::model::ParseOutcome;
        match outcome {
            ParseOutcome::Signal(_) => MessageClass::Signal,
            ParseOutcome::Update(_) => MessageClass::Update,
            ParseOutcome::Ignored(_) => MessageClass::Ignored,
            ParseOutcome::Rejected(_) => MessageClass::Rejected,
        }
    }
}

/// Position after the last row of an archive page: `(message_date, id)` of that row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageCursor {
    /// Message time of the last row returned.
    pub message_date: DateTime<Utc>,
    /// Archive id of the last row returned.
    pub id: i64,
}

/// Filters of the archive listing; every one is applied by the store before the limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageQuery {
    /// Page size (1..=1000).
    pub limit: u32,
    /// Continue after this row (newest first).
    pub cursor: Option<MessageCursor>,
    /// Only these outcomes; empty = all.
    pub outcomes: Vec<MessageClass>,
    /// Only this chat.
    pub channel: Option<ChannelId>,
    /// Message time at or after.
    pub from: Option<DateTime<Utc>>,
    /// Message time before or at.
    pub to: Option<DateTime<Utc>>,
}

/// One archived delivery with its parse outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchivedMessage {
    /// Archive row id (unique with the message time).
    pub id: i64,
    /// The delivery as received.
    pub message: Message,
    /// What the parser made of it.
    pub outcome: MessageClass,
    /// Why it was ignored or rejected.
    pub reason: Option<String>,
    /// The parser that decided.
    pub parser_version: String,
    /// When it was archived.
    pub received_at: DateTime<Utc>,
    /// When Telegram reported it deleted.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// One page of the archive, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessagePage {
    /// The rows.
    pub rows: Vec<ArchivedMessage>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<MessageCursor>,
}

/// Which archived deliveries a re-parse reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReparseSelection {
    /// Message time at or after.
    pub from: Option<DateTime<Utc>>,
    /// Message time before or at.
    pub to: Option<DateTime<Utc>>,
    /// Only these outcomes; empty = all.
    pub outcomes: Vec<MessageClass>,
    /// Only this chat.
    pub channel: Option<ChannelId>,
}

/// A new verdict of the current parser on an archived delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reclassification {
    /// Archive row id.
    pub id: i64,
    /// Its message time (the partition column).
    pub message_date: DateTime<Utc>,
    /// The new outcome.
    pub outcome: MessageClass,
    /// The new reason.
    pub reason: Option<String>,
    /// The parser that decided.
    pub parser_version: String,
}

/// The archive as operators read it, and its re-classification after a parser fix.
#[async_trait]
pub trait MessageArchive: Send + Sync {
    /// Deliveries matching `query`, newest first by message time then id.
    async fn list_messages(&self, query: &MessageQuery) -> Result<MessagePage, StoreError>;

    /// Up to `limit` deliveries matching `selection`, OLDEST first by message time then id,
    /// strictly after `after` — the order a re-parse must apply them in.
    async fn messages_to_reparse(
        &self,
        selection: &ReparseSelection,
        after: Option<MessageCursor>,
        limit: u32,
    ) -> Result<Vec<ArchivedMessage>, StoreError>;

    /// Records new outcomes of archived deliveries; returns how many rows changed. Unknown ids
    /// are skipped, never an error.
    async fn reclassify(&self, changes: &[Reclassification]) -> Result<u64, StoreError>;
}
