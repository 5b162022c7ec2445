//! [`SignalChanges`] over the in-memory store.

use async_trait::async_trait;

use super::{MemoryStore, row_of};
use crate::model::Signal;
use crate::ports::{ChangePosition, SignalChange, SignalChanges, StoreError};

/// The in-memory feed position of a signal: its change time in µs, then its id (every write is
/// committed at once, in order, so the whole feed is final).
fn position_of(s: &Signal) -> ChangePosition {
    ChangePosition {
        tx: u64::try_from(s.updated_at.timestamp_micros()).unwrap_or(0),
        id: s.id,
    }
}

#[async_trait]
impl SignalChanges for MemoryStore {
    async fn head(&self) -> Result<ChangePosition, StoreError> {
        self.check()?;
        let state = self.lock();
        Ok(state
            .signals
            .values()
            .map(position_of)
            .max()
            .unwrap_or(ChangePosition::START))
    }

    async fn changes_after(
        &self,
        after: ChangePosition,
        limit: u32,
    ) -> Result<Vec<SignalChange>, StoreError> {
        self.check()?;
        let state = self.lock();
        let mut rows: Vec<&Signal> = state
            .signals
            .values()
            .filter(|s| position_of(s) > after)
            .collect();
        rows.sort_by_key(|s| position_of(s));
        rows.truncate(limit as usize);
        Ok(rows
            .into_iter()
            .map(|s| SignalChange {
                position: position_of(s),
                row: row_of(&state, s),
            })
            .collect())
    }
}
