//! The ports: what the domain needs from the outside world, as small documented traits.
//!
//! Adapters (`adapters-postgres`, `adapters-redis`, [`crate::memory`]) implement them; the use
//! cases in [`crate::services`] depend on nothing else. Errors are domain errors: no driver type
//! ever crosses a port.

use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_core::Stream;
use serde::{Deserialize, Serialize};

mod changes;
mod feed;
mod reception;

pub use changes::*;
pub use feed::*;
pub use reception::SignalReceptions;

use crate::model::{
    ChannelId, Message, MessageId, Signal, SignalId, SignalKind, SignalRevision, SignalStatus,
    StatusChange, Ticker, TradeCall,
};

/// Errors of the persistence ports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A write collided with existing data (a unique key, a concurrent change).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The addressed record does not exist.
    #[error("not found")]
    NotFound,
    /// The database (or PgBouncer) cannot be reached or timed out: retry later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else; the detail is for logs, not for clients.
    #[error("store failure: {0}")]
    Internal(String),
}

/// Errors of the cache and event ports. Both are best-effort: callers degrade, never fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    /// Redis cannot be reached or timed out.
    #[error("cache unavailable: {0}")]
    Unavailable(String),
}

/// A message delivery to archive, with what the parser made of it.
#[derive(Debug, Clone, Copy)]
pub struct ArchiveEntry<'a> {
    /// The delivery.
    pub message: &'a Message,
    /// `signal`, `update`, `ignored` or `rejected`.
    pub outcome: &'a str,
    /// Why it was ignored or rejected.
    pub reason: Option<&'a str>,
    /// The parser that decided.
    pub parser_version: &'a str,
}

/// A signal to store: a new message's call, or a new revision of an edited one.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSignal {
    /// Source chat.
    pub channel_id: ChannelId,
    /// Source message.
    pub message_id: MessageId,
    /// Telegram time of the message (partition column).
    pub message_date: DateTime<Utc>,
    /// Telegram time of the edit that produced this revision.
    pub edit_date: Option<DateTime<Utc>>,
    /// 1 for a new signal, the next number for an edit.
    pub revision: i32,
    /// What the message says.
    pub call: TradeCall,
    /// The text.
    pub raw_message: String,
    /// The parser that read it.
    pub parser_version: String,
    /// Who delivered it.
    pub source: Option<String>,
    /// When it is stored.
    pub recorded_at: DateTime<Utc>,
}

/// Counters of one ingest batch, kept in `metrics.processing_stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchStats {
    /// Messages received.
    pub received: u32,
    /// New signals.
    pub signals: u32,
    /// Updates applied or archived.
    pub updates: u32,
    /// Ignored messages.
    pub ignored: u32,
    /// Rejected messages.
    pub rejected: u32,
    /// Re-deliveries stored as nothing.
    pub duplicates: u32,
    /// Edits that produced a revision.
    pub edits: u32,
    /// Time spent, in microseconds.
    pub duration_us: u64,
}

/// The write side of persistence: an atomic unit of work per ingest batch.
#[async_trait]
pub trait SignalStore: Send + Sync {
    /// Opens a transaction. Nothing it writes is visible until [`StoreTransaction::commit`];
    /// dropping it without commit rolls everything back.
    ///
    /// MUST return `Unavailable` when the database cannot be reached.
    async fn begin(&self) -> Result<Box<dyn StoreTransaction>, StoreError>;
}

/// One open transaction of [`SignalStore`]. Every method MUST return `Unavailable` when the
/// connection is lost; the whole transaction is then void.
#[async_trait]
pub trait StoreTransaction: Send {
    /// Archives deliveries. For each entry, in order, returns `true` when it was newly stored and
    /// `false` when a delivery with the same `(channel_id, message_id, edit_date)` already exists
    /// (committed by anyone, or earlier in this same call). MUST NOT fail on duplicates, and
    /// concurrent transactions archiving the same delivery MUST end with exactly one stored.
    async fn archive(&mut self, entries: &[ArchiveEntry<'_>]) -> Result<Vec<bool>, StoreError>;

    /// The signals stored for these messages (any revision, deleted included), locked until
    /// commit so concurrent edits serialise.
    async fn signals_for_messages(
        &mut self,
        keys: &[(ChannelId, MessageId)],
    ) -> Result<Vec<Signal>, StoreError>;

    /// Inserts new signals (revision 1, status open) and returns their ids in input order.
    /// MUST return `Conflict` if a signal for the same message already exists.
    async fn insert_signals(&mut self, signals: &[NewSignal]) -> Result<Vec<SignalId>, StoreError>;

    /// Replaces the call of signal `id` by a new revision, keeping the previous one in its
    /// history. MUST return `NotFound` for an unknown id.
    async fn revise_signal(&mut self, id: SignalId, revision: &NewSignal)
    -> Result<(), StoreError>;

    /// The most recent open signal (by message time) of `asset` in `channel_id`, not deleted.
    async fn latest_open_signal(
        &mut self,
        channel_id: ChannelId,
        asset: &Ticker,
    ) -> Result<Option<Signal>, StoreError>;

    /// Sets the status of signal `id` and appends the change to its history.
    /// MUST return `NotFound` for an unknown id.
    async fn change_status(
        &mut self,
        id: SignalId,
        change: &StatusChange,
    ) -> Result<(), StoreError>;

    /// Flags archived deliveries of these messages as deleted in Telegram (never removes them);
    /// returns how many rows were flagged.
    async fn mark_deleted(
        &mut self,
        channel_id: ChannelId,
        message_ids: &[MessageId],
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// Names channels after the Telegram titles the gateway sent (`(channel, title)`, at most
    /// one per channel): creates the channel's settings when it has none, and replaces a label
    /// only when it was learned this way too — a label an operator (or an import) set is kept.
    async fn learn_channel_titles(
        &mut self,
        titles: &[(ChannelId, String)],
    ) -> Result<(), StoreError>;

    /// Records the counters of this batch.
    async fn record_stats(
        &mut self,
        stats: &BatchStats,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Makes everything durable. Only after it returns `Ok` may the caller acknowledge.
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

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

/// The answer of a cache lookup: the value, if any, and the cache generation it was looked up
/// in. Writing back under that generation means a value loaded before an invalidation can never
/// be served after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheLookup {
    /// The cached bytes.
    pub value: Option<Vec<u8>>,
    /// The generation current at lookup time.
    pub generation: u64,
}

/// Cache-aside storage of serialised query results, invalidated as a whole on every ingest.
#[async_trait]
pub trait SignalCache: Send + Sync {
    /// The value stored under `key` in the current generation (read from the replica).
    async fn get(&self, key: &str) -> Result<CacheLookup, CacheError>;

    /// Stores `value` under `key` in `generation`, expiring after `ttl` (on the master).
    async fn put(
        &self,
        key: &str,
        generation: u64,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), CacheError>;

    /// Makes every cached value stale at once (a version bump on the master).
    async fn invalidate_all(&self) -> Result<(), CacheError>;

    /// A real round trip, for health.
    async fn ping(&self) -> Result<(), CacheError>;
}

/// What happened to a signal, as published to live subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalEventKind {
    /// A new signal.
    Created,
    /// An edit produced a new revision.
    Revised,
    /// Its status changed (update message, deletion, operator).
    StatusChanged,
    /// An operator soft-deleted it: it no longer appears in lists.
    Deleted,
}

/// A change of a signal, published after commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalEvent {
    /// What happened.
    pub kind: SignalEventKind,
    /// Which signal.
    pub signal_id: SignalId,
    /// Its channel.
    pub channel_id: ChannelId,
    /// Its asset.
    pub asset: Ticker,
    /// Its status after the change.
    pub status: SignalStatus,
    /// When the change was committed.
    pub at: DateTime<Utc>,
    /// W3C `traceparent` of the request that caused it, so subscribers continue the trace.
    pub traceparent: Option<String>,
}

/// A stream of events; ends when the subscription is lost for good.
pub type EventStream = Pin<Box<dyn Stream<Item = SignalEvent> + Send>>;

/// Publish/subscribe of signal changes.
#[async_trait]
pub trait SignalEvents: Send + Sync {
    /// Publishes one event. Best-effort: MUST return `Unavailable` rather than block when the
    /// broker is down.
    async fn publish(&self, event: &SignalEvent) -> Result<(), CacheError>;

    /// Publishes `events` in order and returns how many could not be published. Adapters
    /// override it to send them in one round trip; the default publishes one by one.
    async fn publish_all(&self, events: &[SignalEvent]) -> usize {
        let mut failed = 0;
        for event in events {
            if self.publish(event).await.is_err() {
                failed += 1;
            }
        }
        failed
    }

    /// Subscribes to every event published from now on. The stream survives broker restarts
    /// (events published while disconnected are lost; readers reconcile from the store).
    async fn subscribe(&self) -> Result<EventStream, CacheError>;
}

/// The time source.
pub trait Clock: Send + Sync {
    /// Now, UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

// ---------------------------------------------------------------------------------------------
// The read side of the operators' and the dashboard's views beyond the signal list: the message
// archive, channels, statistics and the change feed.
// ---------------------------------------------------------------------------------------------

/// What the parser made of an archived delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageOutcome {
    /// A new trade call.
    Signal,
    /// News about an earlier signal.
    Update,
    /// Not a trade call.
    Ignored,
    /// Looks like a call but cannot be trusted.
    Rejected,
}

impl MessageOutcome {
    /// Every outcome.
    pub const ALL: [MessageOutcome; 4] = [
        MessageOutcome::Signal,
        MessageOutcome::Update,
        MessageOutcome::Ignored,
        MessageOutcome::Rejected,
    ];

    /// The stored name (`signal`, `update`, `ignored`, `rejected`).
    pub fn as_str(self) -> &'static str {
        match self {
            MessageOutcome::Signal => "signal",
            MessageOutcome::Update => "update",
            MessageOutcome::Ignored => "ignored",
            MessageOutcome::Rejected => "rejected",
        }
    }

    /// The outcome of a stored name; `None` for anything else.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == name)
    }

    /// The outcome of a parse.
    pub fn of(outcome: &crate::model::ParseOutcome) -> Self {
        use crate::model::ParseOutcome;
        match outcome {
            ParseOutcome::Signal(_) => MessageOutcome::Signal,
            ParseOutcome::Update(_) => MessageOutcome::Update,
            ParseOutcome::Ignored(_) => MessageOutcome::Ignored,
            ParseOutcome::Rejected(_) => MessageOutcome::Rejected,
        }
    }
}

/// Position after the last row of an archive page: `(message_date, id)` of that row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageCursor {
    /// Message time of the last row returned.
    pub message_date: DateTime<Utc>,
    /// Archive id of the last row returned.
    pub id: i64,
}

/// Filters of the archive listing; every one is applied by the store before the limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageQuery {
    /// Page size (1..=1000).
    pub limit: u32,
    /// Continue after this row (newest first).
    pub cursor: Option<MessageCursor>,
    /// Only these outcomes; empty = all.
    pub outcomes: Vec<MessageOutcome>,
    /// Only this chat.
    pub channel: Option<ChannelId>,
    /// Message time at or after.
    pub from: Option<DateTime<Utc>>,
    /// Message time before or at.
    pub to: Option<DateTime<Utc>>,
}

/// One archived delivery with its parse outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchivedMessage {
    /// Archive row id (unique with the message time).
    pub id: i64,
    /// The delivery as received.
    pub message: Message,
    /// What the parser made of it.
    pub outcome: MessageOutcome,
    /// Why it was ignored or rejected.
    pub reason: Option<String>,
    /// The parser that decided.
    pub parser_version: String,
    /// When it was archived.
    pub received_at: DateTime<Utc>,
    /// When Telegram reported it deleted.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// One page of the archive, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessagePage {
    /// The rows.
    pub rows: Vec<ArchivedMessage>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<MessageCursor>,
}

/// Which archived deliveries a re-parse reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReparseSelection {
    /// Message time at or after.
    pub from: Option<DateTime<Utc>>,
    /// Message time before or at.
    pub to: Option<DateTime<Utc>>,
    /// Only these outcomes; empty = all.
    pub outcomes: Vec<MessageOutcome>,
    /// Only this chat.
    pub channel: Option<ChannelId>,
}

/// A new verdict of the current parser on an archived delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reclassification {
    /// Archive row id.
    pub id: i64,
    /// Its message time (the partition column).
    pub message_date: DateTime<Utc>,
    /// The new outcome.
    pub outcome: MessageOutcome,
    /// The new reason.
    pub reason: Option<String>,
    /// The parser that decided.
    pub parser_version: String,
}

/// The archive as operators read it, and its re-classification after a parser fix.
#[async_trait]
pub trait MessageArchive: Send + Sync {
    /// Deliveries matching `query`, newest first by message time then id.
    async fn list_messages(&self, query: &MessageQuery) -> Result<MessagePage, StoreError>;

    /// Up to `limit` deliveries matching `selection`, OLDEST first by message time then id,
    /// strictly after `after` — the order a re-parse must apply them in.
    async fn messages_to_reparse(
        &self,
        selection: &ReparseSelection,
        after: Option<MessageCursor>,
        limit: u32,
    ) -> Result<Vec<ArchivedMessage>, StoreError>;

    /// Records new outcomes of archived deliveries; returns how many rows changed. Unknown ids
    /// are skipped, never an error.
    async fn reclassify(&self, changes: &[Reclassification]) -> Result<u64, StoreError>;
}

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
