//! The change feed: every committed change of a signal, in one total order that later reads
//! never insert into, so live subscribers can follow it exactly once and in order, and resume
//! from the last position they saw after any disconnection (of the client, or of the broker).

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{SignalRow, StoreError};
use crate::model::SignalId;

/// Position in the change feed: the transaction that last changed a signal, then the signal.
/// Positions are totally ordered; a signal changed again moves to a later position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ChangePosition {
    /// The writing transaction (PostgreSQL: its 64-bit transaction id).
    pub tx: u64,
    /// The signal.
    pub id: SignalId,
}

impl ChangePosition {
    /// The position before every change.
    pub const START: Self = Self {
        tx: 0,
        id: SignalId(i64::MIN),
    };

    /// Parses the text form `{tx}-{id}`; `None` for anything else.
    pub fn parse(raw: &str) -> Option<Self> {
        let (tx, id) = raw.trim().split_once('-')?;
        if tx.starts_with('+') || id.starts_with('+') {
            return None;
        }
        Some(Self {
            tx: tx.parse().ok()?,
            id: SignalId(id.parse().ok()?),
        })
    }
}

/// `{tx}-{id}` (the SSE event id).
impl fmt::Display for ChangePosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.tx, self.id.0)
    }
}

/// One change: where it is in the feed and the signal as it is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalChange {
    /// Its position.
    pub position: ChangePosition,
    /// The signal after the change (deleted ones included).
    pub row: SignalRow,
}

/// Signals in the order they last changed (the change feed).
#[async_trait]
pub trait SignalChanges: Send + Sync {
    /// The position of the feed's end now: every change a later
    /// [`changes_after`](Self::changes_after) returns is after it.
    async fn head(&self) -> Result<ChangePosition, StoreError>;

    /// Up to `limit` changes after `after`, in feed order. MUST return only a prefix that is
    /// final: no change committed later may take a position before the last one returned
    /// (PostgreSQL: only transactions older than every running one).
    async fn changes_after(
        &self,
        after: ChangePosition,
        limit: u32,
    ) -> Result<Vec<SignalChange>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_and_order() {
        let p = ChangePosition {
            tx: 812,
            id: SignalId(42),
        };
        assert_eq!(p.to_string(), "812-42");
        assert_eq!(ChangePosition::parse("812-42"), Some(p));
        assert!(ChangePosition::START < p);
        assert!(
            p < ChangePosition {
                tx: 813,
                id: SignalId(1)
            }
        );
        for bad in ["", "812", "x-1", "1-x", "+1-2", "-1-2", "1--2x"] {
            assert_eq!(ChangePosition::parse(bad), None, "{bad}");
        }
    }
}
