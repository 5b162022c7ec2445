//! What the ingest API answers: one result per message, per batch, per deletion notice.

use domain::services::{Disposition, IngestReceipt};
use serde::Serialize;
use service_kit::problem::Problem;
use utoipa::ToSchema;

use super::ItemError;

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = Outcome)]
pub enum DispositionDto {
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

impl From<Disposition> for DispositionDto {
    fn from(o: Disposition) -> Self {
        match o {
            Disposition::Signal => DispositionDto::Signal,
            Disposition::Update => DispositionDto::Update,
            Disposition::Ignored => DispositionDto::Ignored,
            Disposition::Rejected => DispositionDto::Rejected,
            Disposition::Duplicate => DispositionDto::Duplicate,
            Disposition::Edited => DispositionDto::Edited,
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
    pub outcome: DispositionDto,
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
