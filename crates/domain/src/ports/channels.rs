//! Channels: their settings and what they produced.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::model::{ChannelId, SignalKind};

/// Archived deliveries of a channel, by outcome (within the archive's retention).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeCounts {
    /// Calls.
    pub signal: u64,
    /// Updates.
    pub update: u64,
    /// Ignored messages.
    pub ignored: u64,
    /// Rejected messages.
    pub rejected: u64,
}

/// A channel as the dashboard lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelSummary {
    /// The chat.
    pub channel_id: ChannelId,
    /// Its display name, when set.
    pub label: Option<String>,
    /// The kind applied to its calls that do not say one.
    pub default_kind: Option<SignalKind>,
    /// Signals stored (not deleted).
    pub signal_count: u64,
    /// Message time of its latest signal.
    pub last_signal_at: Option<DateTime<Utc>>,
    /// Archived deliveries by outcome.
    pub messages: OutcomeCounts,
    /// Message time of its latest archived delivery.
    pub last_message_at: Option<DateTime<Utc>>,
}

/// A change of a channel's settings: `None` keeps a field, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelUpdate {
    /// New display name.
    pub label: Option<Option<String>>,
    /// New default kind.
    pub default_kind: Option<Option<SignalKind>>,
}

/// Channels: their settings and what they produced.
#[async_trait]
pub trait ChannelDirectory: Send + Sync {
    /// Every channel that has settings, signals or archived deliveries, by channel id.
    async fn list_channels(&self) -> Result<Vec<ChannelSummary>, StoreError>;

    /// Applies `update` to the channel's settings, creating them when the channel has none;
    /// returns the channel's summary afterwards.
    async fn update_channel(
        &self,
        channel_id: ChannelId,
        update: &ChannelUpdate,
        at: DateTime<Utc>,
    ) -> Result<ChannelSummary, StoreError>;
}
