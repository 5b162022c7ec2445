//! In-memory adapters of every port, for unit tests of the services and the HTTP handlers.
//! They honour the same contracts as the real adapters, with one simplification: a transaction
//! works on a snapshot and its commit fails with `Conflict` if another commit happened meanwhile.

mod archive;
mod cache;
mod changes;
mod channels;
mod clock;
mod events;
mod queries;
mod reception;
mod stats;
mod transaction;

pub use cache::MemoryCache;
pub use clock::FixedClock;
pub use events::MemoryEvents;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use crate::model::{
    ChannelId, Message, MessageId, Signal, SignalId, SignalKind, SignalRevision, StatusChange,
};
use crate::ports::{BatchStats, SignalRow, StoreError};

/// One archived delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchivedDelivery {
    /// Archive row id.
    pub id: i64,
    /// Chat.
    pub channel_id: ChannelId,
    /// Message.
    pub message_id: MessageId,
    /// Edit time of this delivery.
    pub edit_date: Option<DateTime<Utc>>,
    /// Parser outcome.
    pub outcome: String,
    /// Parser reason.
    pub reason: Option<String>,
    /// Deleted in Telegram.
    pub deleted_at: Option<DateTime<Utc>>,
    /// The delivery as received.
    pub message: Message,
    /// Parser that decided.
    pub parser_version: String,
    /// When it was archived.
    pub received_at: DateTime<Utc>,
}

/// Everything the in-memory store holds.
#[derive(Debug, Clone, Default)]
pub struct MemoryState {
    /// The message archive.
    pub archive: Vec<ArchivedDelivery>,
    /// Signals by id.
    pub signals: HashMap<SignalId, Signal>,
    /// Earlier revisions by signal.
    pub revisions: HashMap<SignalId, Vec<SignalRevision>>,
    /// Status history by signal.
    pub history: HashMap<SignalId, Vec<StatusChange>>,
    /// Channel default kinds.
    pub channel_kinds: HashMap<ChannelId, SignalKind>,
    /// Channel labels.
    pub channel_labels: HashMap<ChannelId, String>,
    /// Channels whose label was learned from the gateway (not set by an operator).
    pub learned_labels: std::collections::HashSet<ChannelId>,
    /// Recorded batch stats.
    pub stats: Vec<BatchStats>,
    next_id: i64,
    next_archive_id: i64,
    version: u64,
}

/// An in-memory [`SignalStore`](crate::ports::SignalStore) and [`SignalQueries`](crate::ports::SignalQueries).
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<MemoryState>>,
    down: Arc<AtomicBool>,
    conflicts: Arc<AtomicU32>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the current state, for assertions.
    pub fn snapshot(&self) -> MemoryState {
        self.lock().clone()
    }

    /// Simulates the database going away (`true`) or coming back.
    pub fn set_unavailable(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Makes the next `n` commits fail with `Conflict`, as when a concurrent delivery of the
    /// same message commits first.
    pub fn conflict_next_commits(&self, n: u32) {
        self.conflicts.store(n, Ordering::SeqCst);
    }

    /// Whether this commit is one [`MemoryStore::conflict_next_commits`] asked to fail.
    fn take_conflict(&self) -> bool {
        self.conflicts
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    fn lock(&self) -> MutexGuard<'_, MemoryState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable("memory store switched off".into()))
        } else {
            Ok(())
        }
    }
}

/// A signal as the read side shows it: with its channel's label and its effective kind.
fn row_of(state: &MemoryState, s: &Signal) -> SignalRow {
    SignalRow {
        signal: s.clone(),
        channel_label: state.channel_labels.get(&s.channel_id).cloned(),
        kind: s
            .call
            .kind
            .or(state.channel_kinds.get(&s.channel_id).copied())
            .unwrap_or(SignalKind::SwingTrade),
    }
}

fn in_window(t: DateTime<Utc>, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> bool {
    from.is_none_or(|f| t >= f) && to.is_none_or(|e| t <= e)
}
