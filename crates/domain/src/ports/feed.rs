//! The gateway's pull side as the domain needs it: list the messages a channel has not had
//! acknowledged by us, acknowledge them, ask the gateway to fetch history. The existing gateway's
//! REST API is one adapter (`ingest::gateway`); tests use the fake gateway of `test-support`.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::model::{ChannelId, Message};

/// Which rows of the gateway's store a listing asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedStatus {
    /// Not yet acknowledged by anyone: the gateway's `received` and `queued` rows.
    Pending,
    /// Already acknowledged (`published`) but not under this channel's consumer name: rows
    /// acknowledged by the acknowledgement of another channel's message with the same id, or by
    /// another consumer. The reconciliation reads them.
    PublishedElsewhere,
}

/// One row of the gateway's store, converted for the domain by the adapter.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedItem {
    /// The id the gateway acknowledges by: the Telegram `messageId` as the gateway wrote it.
    pub ack_id: String,
    /// When the gateway received it (the pull lag is measured from it).
    pub received_at: Option<DateTime<Utc>>,
    /// Who acknowledged it last, as the gateway says (`metadata.processed_by`).
    pub processed_by: Option<String>,
    /// The message, or why it cannot become one (it is acknowledged anyway, never stored).
    pub message: Result<Message, String>,
}

/// What the gateway said to a sync request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncReport {
    /// Messages the gateway says it fetched from Telegram, when it says so.
    pub fetched: Option<u64>,
    /// The gateway's own message.
    pub message: Option<String>,
}

/// Errors of [`GatewayFeed`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    /// The gateway asked us to slow down (HTTP 429); `retry_after` is its wait when it said one.
    #[error("rate limited by the gateway")]
    RateLimited {
        /// How long the gateway asked us to wait.
        retry_after: Option<Duration>,
    },
    /// The gateway cannot be reached, timed out or failed (5xx): retry later.
    #[error("gateway unavailable: {0}")]
    Unavailable(String),
    /// The gateway refused the request or answered something unreadable (4xx, bad body): a
    /// configuration or protocol problem, retrying the same request will not help.
    #[error("gateway refused the request: {0}")]
    Refused(String),
}

impl FeedError {
    /// The machine name of the kind, for metrics and the ledger.
    pub fn kind(&self) -> &'static str {
        match self {
            FeedError::RateLimited { .. } => "rate_limited",
            FeedError::Unavailable(_) => "unavailable",
            FeedError::Refused(_) => "refused",
        }
    }
}

/// The gateway's pull API.
///
/// Consumer names are the adapter's business, but they MUST be per channel: `list` leaves out the
/// rows acknowledged under the name of `channel`, and `acknowledge` acknowledges under that name.
/// The gateway's acknowledgement has no channel filter (a message id acknowledges that id in every
/// channel); a per-channel name is what lets [`FeedStatus::PublishedElsewhere`] find the rows of
/// one channel that the acknowledgement of another swallowed.
#[async_trait]
pub trait GatewayFeed: Send + Sync {
    /// At most `limit` rows of `channel` in `status`, oldest first (by reception). MUST return
    /// `RateLimited` on 429, `Unavailable` on network errors, timeouts and 5xx.
    async fn list(
        &self,
        channel: ChannelId,
        status: FeedStatus,
        limit: usize,
    ) -> Result<Vec<FeedItem>, FeedError>;

    /// Acknowledges `ack_ids` of `channel` (the gateway marks them `published`); returns how many
    /// rows the gateway updated (possibly more than asked: duplicates, other channels).
    async fn acknowledge(&self, channel: ChannelId, ack_ids: &[String]) -> Result<u64, FeedError>;

    /// Asks the gateway to fetch up to `limit` recent messages from Telegram into its store (they
    /// then appear as pending). May take minutes.
    async fn request_sync(&self, limit: usize) -> Result<SyncReport, FeedError>;
}
