//! The wire shape of `/sync-messages`: the legacy service's (`success`, `message`,
//! `data.messagesSynced`), which the dashboard reads, with a few more counts.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The answer of a sync.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "success": true,
    "message": "3 new message(s) stored from 2 channel(s); the gateway fetched 5 from Telegram",
    "data": {"messagesSynced": 3, "gatewayFetched": 5, "duplicates": 2, "invalid": 0, "channels": 2}
}))]
pub struct SyncMessagesBody {
    /// Always `true` (failures are problems with `success: false`).
    pub success: bool,
    /// What happened, for a person (the dashboard shows it).
    pub message: String,
    /// The counts.
    pub data: SyncMessagesData,
}

/// The counts of one sync.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncMessagesData {
    /// Messages newly stored by this sync (the dashboard reloads its list when positive).
    pub messages_synced: u64,
    /// Messages the gateway says it fetched from Telegram, when it says so.
    #[serde(default)]
    pub gateway_fetched: Option<u64>,
    /// Messages pulled that were already stored.
    #[serde(default)]
    pub duplicates: u64,
    /// Unreadable gateway rows (acknowledged, not stored).
    #[serde(default)]
    pub invalid: u64,
    /// Channels drained.
    #[serde(default)]
    pub channels: usize,
}
