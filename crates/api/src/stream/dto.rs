//! One event of `/signals/stream`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::common::dto::{StatusName, iso};
use crate::signals::dto::SignalItem;

/// One event of `/signals/stream` (the `data:` of an SSE `signal` event).
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamEventBody<'a> {
    /// `created`, `revised`, `status_changed`, `deleted`, or `changed` (replayed after a
    /// reconnection, when the kind of change is not known).
    #[schema(value_type = String, example = "created")]
    pub kind: &'static str,
    /// The signal.
    pub signal_id: i64,
    /// Its chat.
    pub channel_id: i64,
    /// Its asset.
    #[schema(value_type = String)]
    pub asset: &'a str,
    /// Its status after the change.
    pub status: StatusName,
    /// When the change was committed.
    #[serde(serialize_with = "iso")]
    pub at: DateTime<Utc>,
    /// The signal as `/signals` shows it; `null` when deleted or unreadable.
    pub signal: Option<SignalItem<'a>>,
}
