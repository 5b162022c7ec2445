//! The legacy wire shapes, field for field as the dashboard's `TelegramChannelsManager` and the
//! legacy service's `/healthz` had them.

use chrono::{DateTime, Utc};
use domain::ports::ChannelSummary;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::common::dto::iso_opt;

/// `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"status": "healthy", "service": "tp-capital", "uptime": 3600}))]
pub struct LegacyHealthBody {
    /// Always `healthy` (the process answers).
    pub status: &'static str,
    /// Always `tp-capital`.
    pub service: &'static str,
    /// Seconds since the api started.
    pub uptime: u64,
}

/// A channel as the legacy `telegram_channels` table had it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "-1001649127710", "label": "TP Capital", "channel_id": "-1001649127710",
    "channel_type": "source", "description": "", "status": "active", "signal_count": 1520,
    "last_signal": "2025-10-20T13:00:00.000Z", "created_at": "2025-10-20T13:00:00.000Z",
    "updated_at": "2025-10-20T13:05:00.000Z"
}))]
pub struct LegacyChannelItem {
    /// The chat id, as a string (the legacy id column).
    pub id: String,
    /// Display name: the label, else the chat id.
    pub label: String,
    /// The chat id, as a string.
    pub channel_id: String,
    /// Always `source` (we only read channels).
    pub channel_type: &'static str,
    /// Always empty.
    pub description: &'static str,
    /// Always `active`.
    pub status: &'static str,
    /// Signals stored (not deleted).
    pub signal_count: u64,
    /// Message time of the latest signal.
    #[serde(serialize_with = "iso_opt")]
    pub last_signal: Option<DateTime<Utc>>,
    /// The earliest activity known (latest signal or message; the legacy creation time is gone).
    #[serde(serialize_with = "iso_opt")]
    pub created_at: Option<DateTime<Utc>>,
    /// The latest activity (message or signal).
    #[serde(serialize_with = "iso_opt")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<ChannelSummary> for LegacyChannelItem {
    fn from(c: ChannelSummary) -> Self {
        let id = c.channel_id.0.to_string();
        let latest = c.last_message_at.max(c.last_signal_at);
        let earliest = match (c.last_signal_at, c.last_message_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Self {
            label: c.label.unwrap_or_else(|| id.clone()),
            channel_id: id.clone(),
            id,
            channel_type: "source",
            description: "",
            status: "active",
            signal_count: c.signal_count,
            last_signal: c.last_signal_at,
            created_at: earliest,
            updated_at: latest,
        }
    }
}

/// `GET /telegram-channels`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LegacyChannelListBody {
    /// Every channel.
    pub data: Vec<LegacyChannelItem>,
}

/// The body of `DELETE /signals`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"ingestedAt": "2025-10-20T13:00:01.120345Z"}))]
pub struct LegacyDeleteBody {
    /// The signal's `ingested_at`, exactly as the list gave it.
    #[schema(format = DateTime)]
    pub ingested_at: String,
}

/// The answer of `DELETE /signals`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"status": "ok", "id": 1234}))]
pub struct LegacyDeleteAnswer {
    /// Always `ok`.
    pub status: &'static str,
    /// The deleted signal.
    pub id: i64,
}
