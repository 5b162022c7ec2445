//! What `/signals/stats` answers: counts per hour, asset and channel.

use chrono::{DateTime, Utc};
use domain::ports::{GroupStats, SignalStats};
use serde::Serialize;
use utoipa::ToSchema;

use crate::common::dto::{iso, iso_opt};

/// Signals of one hour.
#[derive(Debug, Serialize, ToSchema)]
pub struct HourItem {
    /// Start of the hour (UTC).
    #[serde(serialize_with = "iso")]
    pub bucket: DateTime<Utc>,
    /// Signals.
    pub count: u64,
}

/// Measures of a group of signals (an asset, a channel).
#[derive(Debug, Serialize, ToSchema)]
pub struct MeasuresItem {
    /// Signals.
    pub count: u64,
    /// Average entry range width.
    pub avg_range: Option<f64>,
    /// Average distance to the final target, % of the entry.
    pub avg_upside_pct: Option<f64>,
    /// Average distance to the stop, % of the entry.
    pub avg_downside_pct: Option<f64>,
    /// Latest signal (ISO 8601).
    #[serde(serialize_with = "iso_opt")]
    pub last_signal_at: Option<DateTime<Utc>>,
}

impl From<GroupStats> for MeasuresItem {
    fn from(g: GroupStats) -> Self {
        Self {
            count: g.signal_count,
            avg_range: finite(g.avg_range),
            avg_upside_pct: finite(g.avg_upside_pct),
            avg_downside_pct: finite(g.avg_downside_pct),
            last_signal_at: g.last_signal_at,
        }
    }
}

/// Measures of an asset.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssetItem {
    /// B3 ticker.
    pub asset: String,
    /// Its measures.
    #[serde(flatten)]
    pub measures: MeasuresItem,
}

/// Measures of a channel.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelStatItem {
    /// Telegram chat id.
    pub channel_id: i64,
    /// Its label, else its id as text.
    pub channel: String,
    /// Its measures.
    #[serde(flatten)]
    pub measures: MeasuresItem,
}

/// Signal statistics from the hourly aggregate.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "from": "2025-10-13T13:00:00.000Z", "to": null, "total": 42,
    "by_hour": [{"bucket": "2025-10-20T13:00:00.000Z", "count": 3}],
    "by_asset": [{"asset": "BOVAW32", "count": 5, "avg_range": 0.02, "avg_upside_pct": 230.1, "avg_downside_pct": 32.7, "last_signal_at": "2025-10-20T13:00:00.000Z"}],
    "by_channel": [{"channel_id": -1001649127710_i64, "channel": "TP Capital", "count": 42, "avg_range": 0.05, "avg_upside_pct": 80.2, "avg_downside_pct": 25.0, "last_signal_at": "2025-10-20T13:00:00.000Z"}]
}))]
pub struct StatsBody {
    /// Start of the window.
    #[serde(serialize_with = "iso_opt")]
    pub from: Option<DateTime<Utc>>,
    /// End of the window (`null` = now).
    #[serde(serialize_with = "iso_opt")]
    pub to: Option<DateTime<Utc>>,
    /// Signals in the window.
    pub total: u64,
    /// Per hour, oldest first (hours without signals are absent).
    pub by_hour: Vec<HourItem>,
    /// Per asset, most frequent first.
    pub by_asset: Vec<AssetItem>,
    /// Per channel, most frequent first.
    pub by_channel: Vec<ChannelStatItem>,
}

impl StatsBody {
    /// The body of `s` for the window `from..=to`.
    pub fn new(s: SignalStats, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Self {
        Self {
            from,
            to,
            total: s.total,
            by_hour: s
                .by_hour
                .into_iter()
                .map(|h| HourItem {
                    bucket: h.bucket,
                    count: h.signal_count,
                })
                .collect(),
            by_asset: s
                .by_asset
                .into_iter()
                .map(|a| AssetItem {
                    asset: a.asset.to_string(),
                    measures: a.stats.into(),
                })
                .collect(),
            by_channel: s
                .by_channel
                .into_iter()
                .map(|c| ChannelStatItem {
                    channel_id: c.channel_id.0,
                    channel: c
                        .label
                        .filter(|l| !l.is_empty())
                        .unwrap_or_else(|| c.channel_id.0.to_string()),
                    measures: c.stats.into(),
                })
                .collect(),
        }
    }
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|v| v.is_finite())
}
