//! Aggregates over the signals, for the dashboard's statistics.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::model::{ChannelId, Ticker};

/// Filters of the signal statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsQuery {
    /// Buckets at or after.
    pub from: Option<DateTime<Utc>>,
    /// Buckets before or at.
    pub to: Option<DateTime<Utc>>,
    /// Only this chat.
    pub channel: Option<ChannelId>,
    /// Only this asset.
    pub asset: Option<Ticker>,
    /// At most this many assets in `by_asset` (the most frequent).
    pub top_assets: u32,
}

/// Signals of one hour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HourlyCount {
    /// Start of the hour, UTC.
    pub bucket: DateTime<Utc>,
    /// Signals whose message time falls in it.
    pub signal_count: u64,
}

/// Measures of a group of signals (an asset, a channel). Averages are weighted by the hourly
/// counts; `None` when no signal of the group has the prices they need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupStats {
    /// Signals.
    pub signal_count: u64,
    /// Average entry range width (`entry_max - entry_min`).
    pub avg_range: Option<f64>,
    /// Average distance to the final target, in percent of the entry.
    pub avg_upside_pct: Option<f64>,
    /// Average distance to the stop, in percent of the entry.
    pub avg_downside_pct: Option<f64>,
    /// Message time of the latest signal.
    pub last_signal_at: Option<DateTime<Utc>>,
}

/// Statistics of one asset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetStats {
    /// The asset.
    pub asset: Ticker,
    /// Its measures.
    pub stats: GroupStats,
}

/// Statistics of one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelStats {
    /// The chat.
    pub channel_id: ChannelId,
    /// Its label, when set.
    pub label: Option<String>,
    /// Its measures.
    pub stats: GroupStats,
}

/// Signal counts per hour, asset and channel, from the hourly aggregate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalStats {
    /// Signals in the window.
    pub total: u64,
    /// Per hour, oldest first (hours without signals are absent).
    pub by_hour: Vec<HourlyCount>,
    /// Per asset, most frequent first.
    pub by_asset: Vec<AssetStats>,
    /// Per channel, most frequent first.
    pub by_channel: Vec<ChannelStats>,
}

/// Aggregates over the signals.
#[async_trait]
pub trait SignalStatistics: Send + Sync {
    /// Counts and measures per hour, asset and channel for `query`. MUST include signals
    /// committed after the aggregate's last refresh.
    async fn signal_stats(&self, query: &StatsQuery) -> Result<SignalStats, StoreError>;

    /// Signals not deleted, per status name, one entry for every name of
    /// [`SignalStatus::NAMES`](crate::model::SignalStatus::NAMES) (0 when none), in that order.
    async fn count_by_status(&self) -> Result<Vec<(&'static str, u64)>, StoreError>;
}
