//! What the parser makes of a message.

use serde::{Deserialize, Serialize};

use super::{Ticker, TradeCall};

/// The event an update message reports about an earlier signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateEvent {
    /// "Alvo 1 atingido".
    TargetHit,
    /// "Stop acionado".
    StopHit,
    /// "Operação cancelada".
    Cancelled,
    /// "Encerrada".
    Closed,
}

impl UpdateEvent {
    /// The machine name.
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateEvent::TargetHit => "target_hit",
            UpdateEvent::StopHit => "stop_hit",
            UpdateEvent::Cancelled => "cancelled",
            UpdateEvent::Closed => "closed",
        }
    }
}

/// News about an earlier signal of the same asset in the same channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalUpdate {
    /// The asset, when the message names it.
    pub asset: Option<Ticker>,
    /// What happened.
    pub event: UpdateEvent,
    /// For `TargetHit`: which target (1-based), when said.
    pub target_index: Option<u8>,
}

/// Why a message that looks like a call cannot be trusted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", content = "detail", rename_all = "snake_case")]
pub enum RejectReason {
    /// It has prices but no recognisable asset.
    #[error("no asset: the message has prices but no B3 ticker")]
    NoAsset,
    /// An asset label names something that is not a ticker.
    #[error("'{0}' is not a B3 ticker")]
    InvalidAsset(String),
    /// A price could not be read.
    #[error("unreadable {field} price '{raw}': {why}")]
    UnreadablePrice {
        /// entry, target, stop.
        field: String,
        /// The text as written.
        raw: String,
        /// What is wrong with it.
        why: String,
    },
    /// Prices inconsistent with the direction, or too few of them.
    #[error("{0}")]
    Inconsistent(String),
    /// Dated before the ingest horizon: archived, never applied (an old week would become a
    /// chunk of its own and slow every plan).
    #[error("dated more than {days} days ago (the ingest horizon): archived, not applied")]
    TooOld {
        /// The horizon, in days.
        days: u32,
    },
}

/// Why a message was not taken as a call or an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IgnoreReason {
    /// No text at all (a photo without caption, an empty message).
    Empty,
    /// Text without a trade call or an update (greetings, results, commentary).
    NotATradeCall,
}

impl IgnoreReason {
    /// A sentence for operators.
    pub fn describe(self) -> &'static str {
        match self {
            IgnoreReason::Empty => "empty message (no text or caption)",
            IgnoreReason::NotATradeCall => "no trade call or signal update found",
        }
    }
}

/// The result of parsing one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ParseOutcome {
    /// A new trade call.
    Signal(TradeCall),
    /// News about an earlier signal.
    Update(SignalUpdate),
    /// Not a trade call.
    Ignored(IgnoreReason),
    /// Looks like a call but cannot be trusted.
    Rejected(RejectReason),
}

impl ParseOutcome {
    /// `signal`, `update`, `ignored` or `rejected`.
    pub fn name(&self) -> &'static str {
        match self {
            ParseOutcome::Signal(_) => "signal",
            ParseOutcome::Update(_) => "update",
            ParseOutcome::Ignored(_) => "ignored",
            ParseOutcome::Rejected(_) => "rejected",
        }
    }

    /// The reason for an ignored or rejected message, for operators.
    pub fn reason(&self) -> Option<String> {
        match self {
            ParseOutcome::Ignored(r) => Some(r.describe().to_owned()),
            ParseOutcome::Rejected(r) => Some(r.to_string()),
            ParseOutcome::Signal(_) | ParseOutcome::Update(_) => None,
        }
    }
}
