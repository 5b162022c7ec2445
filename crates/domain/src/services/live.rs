//! What live subscribers receive: the change feed followed from a position, and the replay rules
//! of a reconnecting client (replay only from a valid, recent position, and only a bounded number
//! of changes; otherwise the client is told to reload).

use std::sync::Arc;

use chrono::TimeDelta;

use crate::ports::{ChangePosition, Clock, SignalChange, SignalChanges, StoreError};

/// How much a reconnecting client may replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayRules {
    /// Most changes replayed; with more, the client reloads instead.
    pub max_changes: u32,
    /// Oldest change replayed: a position older than this is not recent enough.
    pub max_age: TimeDelta,
}

/// Why a client must reload instead of replaying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetReason {
    /// The position was not issued by this feed (or the store was replaced).
    UnknownPosition,
    /// More changes than [`ReplayRules::max_changes`] since the position.
    TooManyChanges,
    /// The position is older than [`ReplayRules::max_age`].
    TooOld,
    /// The store cannot be read now.
    Unavailable,
}

impl ResetReason {
    /// A sentence for the client.
    pub fn message(self) -> &'static str {
        match self {
            Self::UnknownPosition => "Last-Event-ID is not a position of this feed",
            Self::TooManyChanges => "too many changes since Last-Event-ID",
            Self::TooOld => "Last-Event-ID is too old",
            Self::Unavailable => "changes since Last-Event-ID are unavailable",
        }
    }
}

/// The changes a reconnecting client missed, or why it must reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// Every change after the client's position, in order.
    Changes(Vec<SignalChange>),
    /// Reload instead.
    Reset(ResetReason),
}

/// Follows the change feed for live subscribers.
#[derive(Clone)]
pub struct LiveFeed {
    changes: Arc<dyn SignalChanges>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for LiveFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveFeed").finish_non_exhaustive()
    }
}

impl LiveFeed {
    /// A feed over the store's change log.
    pub fn new(changes: Arc<dyn SignalChanges>, clock: Arc<dyn Clock>) -> Self {
        Self { changes, clock }
    }

    /// Where a follower starting now begins.
    pub async fn head(&self) -> Result<ChangePosition, StoreError> {
        self.changes.head().await
    }

    /// The next (final) changes after `after`, at most `limit`.
    pub async fn next(
        &self,
        after: ChangePosition,
        limit: u32,
    ) -> Result<Vec<SignalChange>, StoreError> {
        self.changes.changes_after(after, limit).await
    }

    /// What a client that last saw `from` receives on reconnection under `rules`: one bounded
    /// read, never more than `rules.max_changes` changes.
    pub async fn replay(&self, from: ChangePosition, rules: ReplayRules) -> Replay {
        match self.try_replay(from, rules).await {
            Ok(replay) => replay,
            Err(_) => Replay::Reset(ResetReason::Unavailable),
        }
    }

    async fn try_replay(
        &self,
        from: ChangePosition,
        rules: ReplayRules,
    ) -> Result<Replay, StoreError> {
        if from > self.changes.head().await? {
            return Ok(Replay::Reset(ResetReason::UnknownPosition));
        }
        let changes = self
            .changes
            .changes_after(from, rules.max_changes.saturating_add(1))
            .await?;
        if changes.len() > rules.max_changes as usize {
            return Ok(Replay::Reset(ResetReason::TooManyChanges));
        }
        let oldest_allowed = self.clock.now() - rules.max_age;
        if changes
            .first()
            .is_some_and(|c| c.row.signal.updated_at < oldest_allowed)
        {
            return Ok(Replay::Reset(ResetReason::TooOld));
        }
        Ok(Replay::Changes(changes))
    }
}
