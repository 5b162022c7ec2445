//! The read side of persistence: the signal list and one signal's history.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::model::{Signal, SignalId, SignalKind, SignalRevision, StatusChange, Ticker};

/// Position after the last row of a page, newest first: `(message_date, id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalCursor {
    /// Message time of the last row returned.
    pub message_date: DateTime<Utc>,
    /// Id of the last row returned.
    pub id: SignalId,
}

/// Filters of the signal list; every one is applied by the store before the limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalQuery {
    /// Page size (1..=1000).
    pub limit: u32,
    /// Continue after this row.
    pub cursor: Option<SignalCursor>,
    /// Channel id, or channel label (case-insensitive).
    pub channel: Option<String>,
    /// Exact asset.
    pub asset: Option<Ticker>,
    /// Effective kind (the channel default applies to calls that do not say).
    pub kind: Option<SignalKind>,
    /// Status name (`open`, `target_hit` …).
    pub status: Option<String>,
    /// Substring of the asset or of the message text, case-insensitive.
    pub search: Option<String>,
    /// Message time at or after.
    pub from: Option<DateTime<Utc>>,
    /// Message time before or at.
    pub to: Option<DateTime<Utc>>,
}

/// A signal as the read side shows it: with its channel's label and its effective kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalRow {
    /// The signal.
    pub signal: Signal,
    /// The channel's label, when one is set.
    pub channel_label: Option<String>,
    /// `call.kind`, else the channel's default kind, else swing trade.
    pub kind: SignalKind,
}

/// A signal with its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalDetail {
    /// The signal now.
    pub row: SignalRow,
    /// Earlier revisions, oldest first.
    pub revisions: Vec<SignalRevision>,
    /// Status changes, oldest first.
    pub status_history: Vec<StatusChange>,
}

/// One page of signals, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalPage {
    /// The rows.
    pub rows: Vec<SignalRow>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<SignalCursor>,
}

/// The read side of persistence.
#[async_trait]
pub trait SignalQueries: Send + Sync {
    /// Signals matching `query`, newest first by message time then id.
    async fn list_signals(&self, query: &SignalQuery) -> Result<SignalPage, StoreError>;

    /// One signal with its revisions and status history. MUST return `NotFound` for an unknown
    /// or soft-deleted id.
    async fn signal_detail(&self, id: SignalId) -> Result<SignalDetail, StoreError>;

    /// Soft-deletes a signal (kept, hidden from lists). MUST return `NotFound` for an unknown or
    /// already deleted id.
    async fn soft_delete(&self, id: SignalId, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// A real round trip to the database, for readiness.
    async fn ping(&self) -> Result<(), StoreError>;
}
